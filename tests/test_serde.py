"""Wire shapes: everything the converter writes, it reads back unchanged."""

from __future__ import annotations

from typing import ClassVar

import attrs
import orjson
from hypothesis import given
from hypothesis import strategies as st

from claw_runtime import serde
from claw_runtime.events import (
    EVENT_TYPES,
    Event,
    TaskStateChanged,
    ToolCallFinished,
    TurnFinished,
)
from claw_runtime.models import (
    ImageBlock,
    Message,
    TaskState,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

text = st.text(max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)

text_blocks = st.builds(TextBlock, text=text)
image_blocks = st.builds(
    ImageBlock, media_type=st.sampled_from(["image/png", "image/jpeg"]), data=text
)
thinking_blocks = st.builds(ThinkingBlock, thinking=text, signature=text)
tool_use_blocks = st.builds(
    ToolUseBlock, id=text, name=text, input=st.dictionaries(text, json_values, max_size=4)
)
tool_result_blocks = st.builds(
    ToolResultBlock,
    tool_use_id=text,
    content=st.tuples(*[text_blocks | image_blocks] * 2),
    is_error=st.booleans(),
)
blocks = text_blocks | image_blocks | thinking_blocks | tool_use_blocks | tool_result_blocks
messages = st.builds(
    Message,
    role=st.sampled_from(["user", "assistant"]),
    content=st.lists(blocks, max_size=5).map(tuple),
)
counts = st.integers(0, 10**9)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    cache_read_input_tokens=counts,
    cache_creation_input_tokens=counts,
)


@given(messages)
def test_message_round_trip(message: Message) -> None:
    assert serde.structure(serde.unstructure(message), Message) == message


@given(messages)
def test_message_round_trip_through_json_bytes(message: Message) -> None:
    assert serde.structure(serde.loads(serde.dumps(message)), Message) == message


@given(usages)
def test_usage_round_trip_and_addition(usage: Usage) -> None:
    assert serde.structure(serde.unstructure(usage), Usage) == usage
    assert (usage + usage).total_tokens == 2 * usage.total_tokens


@given(
    st.builds(
        TurnFinished,
        turn=st.integers(1, 1000),
        message=messages,
        stop_reason=st.sampled_from([None, "end_turn", "tool_use", "max_tokens"]),
        usage=usages,
        cost_usd=st.floats(0, 100, allow_nan=False),
    )
)
def test_event_round_trip_keeps_tag(event: TurnFinished) -> None:
    data = serde.event_to_dict(event)
    assert data["type"] == "turn_finished"
    assert serde.event_from_dict(orjson.loads(orjson.dumps(data))) == event


def test_content_blocks_are_tagged_by_type_on_the_wire() -> None:
    message = Message(
        role="assistant",
        content=(
            ThinkingBlock(thinking="hm", signature="sig"),
            ToolUseBlock(id="t1", name="Read", input={"file_path": "/a"}),
        ),
    )
    wire = serde.unstructure(message)
    assert [b["type"] for b in wire["content"]] == ["thinking", "tool_use"]
    assert wire["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "Read",
        "input": {"file_path": "/a"},
    }


def test_every_event_type_has_a_unique_tag() -> None:
    tags = [cls.type for cls in EVENT_TYPES]
    assert len(tags) == len(set(tags))
    assert "event" not in tags


def test_task_states_serialise_as_their_names() -> None:
    event = TaskStateChanged(
        task_id=3, name="x", parent_id=1, old=TaskState.RUNNING, new=TaskState.TIMED_OUT
    )
    assert serde.event_to_dict(event)["new"] == "timed_out"


def test_tool_result_text_joins_text_blocks_only() -> None:
    result = ToolResultBlock(
        tool_use_id="t",
        content=(
            TextBlock(text="a"),
            ImageBlock(media_type="image/png", data="AA"),
            TextBlock(text="b"),
        ),
    )
    event = ToolCallFinished(tool_use_id="t", name="Read", result=result, duration_ms=1.0)
    assert serde.event_from_dict(serde.event_to_dict(event)) == event
    assert result.text == "ab"


@attrs.frozen(kw_only=True)
class DeployFinished(Event):
    """An event a plugin defines for itself."""

    type: ClassVar[str] = "acme.deploy_finished"
    target: str


def test_plugins_can_register_their_own_event_types() -> None:
    serde.register_event_type(DeployFinished)
    event = DeployFinished(target="staging")
    assert serde.event_to_dict(event) == {"type": "acme.deploy_finished", "target": "staging"}
    assert serde.event_from_dict(serde.loads(serde.dumps(event))) == event
