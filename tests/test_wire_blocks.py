"""What the model sends comes back unchanged; streams that end well are not retried.

Recorded-stream-shaped fixtures (``tests/fixtures/streams``) are replayed by the
fake model server byte for byte, read by the real providers over loopback HTTP
and, for the echo, run through the real agent loop: the next request must carry
every block of the response exactly as the API sent it.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import trio

from claw_runtime import serde
from claw_runtime.config.settings import Settings
from claw_runtime.events import Event, TurnFinished
from claw_runtime.loop import MAX_CUT_OFF_CONTINUATIONS, Agent, AgentOptions, RunResult
from claw_runtime.models import (
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.providers import anthropic, openai
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    ProviderOverrides,
    RetryPolicy,
    StreamComplete,
    StreamEvent,
    StreamRetry,
    StreamTextDelta,
)
from claw_runtime.providers.sse import ServerSentEvent, iter_sse
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

STREAMS = Path(__file__).parent / "fixtures" / "streams"
POLICY = RetryPolicy(max_retries=2, initial_delay_s=1.0, jitter=0.0, idle_timeout_s=30.0)
REQUEST = ModelRequest(model="claude-sonnet-4-5", messages=(Message.user("hi"),))


def recorded(name: str) -> str:
    return (STREAMS / name).read_text(encoding="utf-8")


@asynccontextmanager
async def provider_for(
    protocol: str, turns: Sequence[Turn]
) -> AsyncIterator[tuple[Provider, FakeModelServer]]:
    async with open_fake_model_server(Script(list(turns))) as server, httpx.AsyncClient() as http:
        overrides = ProviderOverrides(retry=POLICY)
        if protocol == "anthropic":
            env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
            settings = anthropic.resolve_settings(overrides, env)
            yield anthropic.AnthropicProvider(settings, http, random.Random(1)), server
        else:
            env = {"OPENAI_BASE_URL": server.base_url + "/v1", "OPENAI_API_KEY": "k"}
            settings = openai.resolve_settings(overrides, env)
            yield openai.OpenAIProvider(settings, http, random.Random(1)), server


async def collect(provider: Provider, request: ModelRequest = REQUEST) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


def completion(events: list[StreamEvent]) -> StreamComplete:
    done = events[-1]
    assert isinstance(done, StreamComplete)
    return done


async def run_agent(
    tmp_path: Path, turns: Sequence[Turn], *, provider: str = "anthropic", prompt: str = "go"
) -> tuple[Agent, RunResult, FakeModelServer, list[Event]]:
    """One headless run of the real loop against the fake server."""
    events: list[Event] = []

    async def publish(event: Event) -> None:
        events.append(event)

    async with open_fake_model_server(Script(list(turns))) as server:
        env = {
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "OPENAI_BASE_URL": server.base_url + "/v1",
            "OPENAI_API_KEY": "test-key",
        }
        async with open_runtime(Settings(), environ=env, no_plugins=True) as runtime:
            name, settings = runtime.provider_settings(provider)
            agent = Agent(
                provider=runtime.make_provider(name, settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=runtime.new_session(tmp_path),
                options=AgentOptions(
                    model=settings.model,
                    permissions=PermissionPolicy.from_rules("default", project=tmp_path),
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
                publish=publish,
            )
            with trio.fail_after(60):
                result = await agent.run(prompt)
    return agent, result, server, events


# ------------------------------------------------------------ echo, byte for byte


@pytest.mark.parametrize("byte_chunk", [0, 1, 7])
async def test_recorded_server_tool_stream_is_echoed_exactly_through_the_loop(
    tmp_path: Path, byte_chunk: int
) -> None:
    expected = orjson.loads((STREAMS / "anthropic_server_tools.expected.json").read_bytes())
    turns = [
        Turn(raw_stream=recorded("anthropic_server_tools.sse"), byte_chunk=byte_chunk),
        Turn.say("It is partly cloudy."),
    ]
    agent, result, server, _ = await run_agent(tmp_path, turns)
    assert result.result == "It is partly cloudy." and not result.is_error
    # The recorded stream ends at message_stop with no newline: complete, not retried.
    assert len(server.requests) == 2
    second = server.requests[1].body
    assert second["messages"][0]["role"] == "user"
    assert second["messages"][1] == {"role": "assistant", "content": expected}
    # The client tool ran (an error: no such tool); the server tools did not.
    [tool_result] = second["messages"][2]["content"]
    assert tool_result["tool_use_id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert tool_result["is_error"] is True
    # Kept in the conversation as runtime values, and through the session's JSON.
    assistant = agent.messages[1]
    kinds = [b.kind if isinstance(b, RawBlock) else b.type for b in assistant.content]
    assert kinds == [block["type"] for block in expected]
    assert serde.structure(serde.loads(serde.dumps(assistant)), Message) == assistant


async def test_unknown_blocks_and_deltas_are_assembled_not_dropped() -> None:
    turn = Turn(raw_stream=recorded("anthropic_server_tools.sse"), byte_chunk=3)
    async with provider_for("anthropic", [turn]) as (provider, server):
        events = await collect(provider)
    assert len(server.requests) == 1 and not any(isinstance(e, StreamRetry) for e in events)
    done = completion(events)
    content = done.message.content
    assert isinstance(content[0], ThinkingBlock) and content[0].signature.startswith("EqQB")
    raw = [b for b in content if isinstance(b, RawBlock)]
    assert [b.kind for b in raw] == [
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "code_execution_tool_result",
        "web_fetch_tool_result",
        "holographic_note",
    ]
    assert raw[1].data["input"] == {"query": "weather NYC today"}
    assert raw[-1].data == {
        "type": "holographic_note",
        "label": "future block",
        "weights": [0.5, 0.25],
        "meta": {"v": 2},
    }
    cited = [b for b in content if isinstance(b, TextBlock) and b.citations]
    assert cited[0].citations is not None and cited[0].citations[0]["encrypted_index"]
    assert done.message.text == "Here is what I found: partly cloudy, 38°F ☁"
    assert [t.name for t in done.message.tool_uses] == ["get_sensor"]
    assert done.usage.input_tokens == 2679 and done.usage.output_tokens == 510
    text = "".join(e.text for e in events if isinstance(e, StreamTextDelta))
    assert text == done.message.text


def test_text_without_citations_keeps_its_old_wire_and_session_shape() -> None:
    plain = TextBlock(text="hi")
    assert serde.unstructure(plain) == {"type": "text", "text": "hi"}
    assert anthropic.message_to_wire(Message.user("hi"))["content"] == [
        {"type": "text", "text": "hi"}
    ]
    empty = TextBlock(text="x", citations=[])
    assert anthropic.message_to_wire(Message(role="assistant", content=(empty,)))["content"] == [
        {"type": "text", "text": "x", "citations": []}
    ]


async def test_anthropic_leaves_out_only_what_it_cannot_verify() -> None:
    history = (
        Message.user("q"),
        Message(
            role="assistant",
            content=(
                ThinkingBlock(thinking="openai reasoning, no signature"),
                RawBlock(data={"type": "reasoning_item", "id": "rs_1"}, provider="other"),
                TextBlock(text="a"),
            ),
        ),
        Message(role="assistant", content=(ThinkingBlock(thinking="cut off"),)),
        Message.user("more"),
    )
    async with provider_for("anthropic", [Turn.say("ok")]) as (provider, server):
        await collect(provider, ModelRequest(model="claude-sonnet-4-5", messages=history))
    messages = server.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [{"type": "text", "text": "a"}]


async def test_openai_skips_anthropic_only_blocks() -> None:
    raw = (
        RawBlock(data={"type": "redacted_thinking", "data": "xx"}),
        RawBlock(data={"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
    )
    history = (
        Message.user("q"),
        Message(
            role="assistant",
            content=(
                ThinkingBlock(thinking="t", signature="sig"),
                *raw,
                TextBlock(text="found", citations=[{"type": "web_search_result_location"}]),
                ToolUseBlock(id="toolu_1", name="Read", input={"file_path": "a"}),
            ),
        ),
        Message(role="user", content=(ToolResultBlock(tool_use_id="toolu_1"),)),
        Message(role="assistant", content=raw),  # nothing Chat Completions can carry
        Message.user("next"),
    )
    async with provider_for("openai", [Turn.say("ok")]) as (provider, server):
        await collect(provider, ModelRequest(model="gpt-4.1", messages=history))
    messages = server.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
    assert messages[1]["content"] == "found"
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["toolu_1"]


# ---------------------------------------------- a stream ending with no newline


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
async def test_end_marker_without_final_newline_is_complete_not_retried(
    protocol: str,
) -> None:
    turn = Turn.call(ToolCallSpec("Read", {"file_path": "a"}), text="reading").with_fault(
        no_final_newline=True
    )
    async with provider_for(protocol, [turn, Turn.say("never")]) as (provider, server):
        events = await collect(provider)
    assert len(server.requests) == 1
    assert not any(isinstance(e, StreamRetry) for e in events)
    done = completion(events)
    assert done.message.text == "reading" and done.message.tool_uses[0].input == {"file_path": "a"}


async def test_sse_parser_takes_a_last_line_without_its_newline() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b'event: message_stop\ndata: {"type":"message_stop"}'

    events = [e async for e in iter_sse(source(), idle_timeout=5)]
    assert events == [ServerSentEvent("message_stop", '{"type":"message_stop"}')]

    async def cut_utf8() -> AsyncIterator[bytes]:
        yield b"data: \xe2\x98"

    with pytest.raises(Exception, match="UTF-8"):
        [e async for e in iter_sse(cut_utf8(), idle_timeout=5)]


# -------------------------------------------------------- OpenAI, real shapes


async def test_openai_recorded_tool_call_stream() -> None:
    turn = Turn(raw_stream=recorded("openai_tool_calls.sse"), byte_chunk=5)
    async with provider_for("openai", [turn]) as (provider, server):
        events = await collect(provider, ModelRequest(model="gpt-4.1", messages=REQUEST.messages))
    assert len(server.requests) == 1  # "data: [DONE]" with no newline is the end
    done = completion(events)
    assert done.message.text == "Checking both files."
    assert [(t.id, t.input) for t in done.message.tool_uses] == [
        ("call_M2XWkJ4rOQ1uYq3gJb8s0fTa", {"file_path": "a.txt"}),
        ("call_Zp0TrV8hQn2bXc5LmK7wYs1D", {"file_path": "b.txt"}),
    ]
    assert done.stop_reason == "tool_use" and done.model == "gpt-4.1-2025-04-14"
    assert (done.usage.input_tokens, done.usage.cache_read_input_tokens) == (243, 1280)


@pytest.mark.parametrize(
    "turn",
    [
        Turn(raw_stream=recorded("openai_refusal.sse")),
        Turn(refusal="I'm sorry, I can't help with that.", chunk_size=4),
    ],
    ids=["recorded", "scripted"],
)
async def test_openai_refusal_becomes_the_answer(turn: Turn) -> None:
    async with provider_for("openai", [turn]) as (provider, _):
        events = await collect(provider, ModelRequest(model="gpt-4o", messages=REQUEST.messages))
    done = completion(events)
    assert done.stop_reason == "refusal"
    assert done.message.text == "I'm sorry, I can't help with that."
    assert "".join(e.text for e in events if isinstance(e, StreamTextDelta)) == done.message.text


async def test_openai_refusal_ends_the_run_with_its_text(tmp_path: Path) -> None:
    turns = [Turn(refusal="I can't help with that.")]
    _, result, _, _ = await run_agent(tmp_path, turns, provider="openai")
    assert result.stop_reason == "refusal" and result.result == "I can't help with that."


@pytest.mark.parametrize(
    "turn",
    [
        Turn(raw_stream=recorded("openai_vllm_stop_with_tools.sse")),
        Turn.call(ToolCallSpec("Glob", {"pattern": "**/*.py"}), finish_reason="stop"),
    ],
    ids=["recorded-vllm", "scripted"],
)
async def test_openai_stop_with_tool_calls_runs_the_calls(turn: Turn) -> None:
    async with provider_for("openai", [turn]) as (provider, _):
        done = completion(await collect(provider))
    assert done.stop_reason == "tool_use"
    assert [(t.name, t.input) for t in done.message.tool_uses] == [("Glob", {"pattern": "**/*.py"})]


@pytest.mark.parametrize(
    ("model", "field"),
    [
        ("o1", "max_completion_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("o4-mini-2025-04-16", "max_completion_tokens"),
        ("gpt-5", "max_completion_tokens"),
        ("gpt-5-mini", "max_completion_tokens"),
        ("openai/gpt-5.1", "max_completion_tokens"),
        ("gpt-4.1", "max_tokens"),
        ("gpt-4o-mini", "max_tokens"),
        ("llama3.1:8b", "max_tokens"),
    ],
)
async def test_openai_reasoning_models_get_max_completion_tokens(model: str, field: str) -> None:
    request = ModelRequest(model=model, messages=REQUEST.messages, max_tokens=1234)
    async with provider_for("openai", [Turn.say("ok")]) as (provider, server):
        await collect(provider, request)
    body = server.requests[0].body
    assert body[field] == 1234
    other = {"max_tokens", "max_completion_tokens"} - {field}
    assert not other & set(body)


# ---------------------------------------------------- max_tokens mid tool call


@pytest.mark.parametrize(
    ("protocol", "turn"),
    [
        ("anthropic", Turn(raw_stream=recorded("anthropic_max_tokens_tool_use.sse"))),
        (
            "anthropic",
            Turn.call(
                ToolCallSpec("Write", {"file_path": "big.py", "content": "x" * 40}),
                text="I'll write the whole module now.",
                stop_reason="max_tokens",
                chunk_size=7,
            ),
        ),
        (
            "openai",
            Turn.call(
                ToolCallSpec("Write", {"file_path": "big.py", "content": "x" * 40}),
                text="I'll write the whole module now.",
                stop_reason="max_tokens",
                chunk_size=7,
            ),
        ),
    ],
    ids=["anthropic-recorded", "anthropic", "openai"],
)
async def test_a_tool_call_cut_off_by_max_tokens_is_dropped_and_the_text_kept(
    protocol: str, turn: Turn
) -> None:
    async with provider_for(protocol, [turn]) as (provider, server):
        events = await collect(provider)
    assert len(server.requests) == 1
    done = completion(events)
    assert done.stop_reason == "max_tokens"
    assert done.truncated_tool_calls == ("Write",)
    assert done.message.tool_uses == ()
    assert done.message.text == "I'll write the whole module now."


async def test_the_loop_carries_on_after_a_cut_off_tool_call(tmp_path: Path) -> None:
    turns = [
        Turn(raw_stream=recorded("anthropic_max_tokens_tool_use.sse")),
        Turn.call(ToolCallSpec("Write", {"file_path": "big.py"}), stop_reason="max_tokens"),
        Turn.say("Done, in smaller pieces."),
    ]
    agent, result, server, events = await run_agent(tmp_path, turns)
    assert (result.stop_reason, result.is_error) == ("end_turn", False)
    assert result.result == "Done, in smaller pieces."
    assert not (tmp_path / "big.py").exists()  # the half-written call never ran
    second = server.requests[1].body["messages"]
    assert second[1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "I'll write the whole module now."}],
    }
    note = second[2]["content"][-1]
    assert second[2]["role"] == "user" and "cut off" in note["text"] and "Write" in note["text"]
    # A cut-off call with no text leaves an empty assistant message, which is not sent.
    third = server.requests[2].body["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "user", "user"]
    assert all(m["content"] for m in third)
    assert [e.stop_reason for e in events if isinstance(e, TurnFinished)] == [
        "max_tokens",
        "max_tokens",
        "end_turn",
    ]
    assert agent.messages[-1].text == "Done, in smaller pieces."


async def test_cut_off_continuations_are_bounded(tmp_path: Path) -> None:
    cut = Turn.call(
        ToolCallSpec("Write", {"file_path": "big.py", "content": "y" * 30}),
        text="again",
        stop_reason="max_tokens",
    )
    turns = [cut] * (MAX_CUT_OFF_CONTINUATIONS + 1) + [Turn.say("never")]
    _, result, server, _ = await run_agent(tmp_path, turns)
    assert len(server.requests) == MAX_CUT_OFF_CONTINUATIONS + 1
    assert (result.stop_reason, result.is_error) == ("max_tokens", True)
    assert "Write" in result.result and "not run" in result.result


async def test_max_tokens_with_only_text_ends_the_run(tmp_path: Path) -> None:
    turns = [Turn.say("a long answer that was cut", stop_reason="max_tokens"), Turn.say("never")]
    _, result, server, _ = await run_agent(tmp_path, turns)
    assert len(server.requests) == 1
    assert (result.stop_reason, result.is_error) == ("max_tokens", True)
