"""The one place that knows how runtime values look as JSON.

A single private converter (cattrs' orjson preconf: the Rust-backed orjson does
the byte work) turns messages, content blocks, usage and events into plain
JSON-ready dicts and back. Providers build their own wire formats from these
dicts; the session file and ``--output-format stream-json`` use them as is.

Content blocks are a union told apart by their ``type`` field; events carry
their tag as a class variable, so it is added on the way out and used to pick
the class on the way in.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
from cattrs.gen import make_dict_unstructure_fn, override
from cattrs.preconf.orjson import make_converter
from cattrs.strategies import configure_tagged_union

from claw_runtime.events import EVENT_TYPES, Event
from claw_runtime.models import (
    ContentBlock,
    ImageBlock,
    RawBlock,
    TaskState,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolResultContent,
    ToolUseBlock,
)

__all__ = [
    "dumps",
    "event_from_dict",
    "event_to_dict",
    "loads",
    "structure",
    "unstructure",
]

_converter = make_converter(omit_if_default=False)

_BLOCK_CLASSES: tuple[type, ...] = (
    TextBlock,
    ThinkingBlock,
    ImageBlock,
    ToolUseBlock,
    ToolResultBlock,
    RawBlock,
)

# A text block without citations is written without the key (as the API does),
# so sessions and stream-json output look as they did before citations existed.
_converter.register_unstructure_hook(
    TextBlock,
    make_dict_unstructure_fn(TextBlock, _converter, citations=override(omit_if_default=True)),
)


def _block_tag(cls: type) -> str:
    return str(attrs.fields_dict(cls)["type"].default)


configure_tagged_union(ContentBlock, _converter, tag_generator=_block_tag, tag_name="type")
configure_tagged_union(ToolResultContent, _converter, tag_generator=_block_tag, tag_name="type")
_converter.register_unstructure_hook(TaskState, lambda s: s.value)
_converter.register_structure_hook(TaskState, lambda v, _: TaskState(v))

_EVENTS_BY_TAG: dict[str, type[Event]] = {cls.type: cls for cls in EVENT_TYPES}


def register_event_type(cls: type[Event]) -> None:
    """Make a plugin's own event class serialisable (call at import time)."""
    _EVENTS_BY_TAG[cls.type] = cls


def unstructure(value: Any) -> Any:
    """A runtime value as JSON-ready Python data."""
    return _converter.unstructure(value)


def structure(data: Any, cls: type[Any]) -> Any:
    """JSON-ready data back into a runtime value of ``cls``."""
    return _converter.structure(data, cls)


def event_to_dict(event: Event) -> dict[str, Any]:
    """An event as the tagged JSON object stream-json prints: ``{"type": ..., ...}``.

    ``session_id`` and ``task_id`` appear when the event has them (events a
    session published); an event published outside any session has neither.
    ``agent_id`` and ``parent_agent`` appear on a sub-agent's events only.
    """
    body: dict[str, Any] = _converter.unstructure(event, unstructure_as=type(event))
    for where in ("session_id", "task_id", "agent_id", "parent_agent"):
        if body.get(where, "") is None:
            del body[where]
    return {"type": event.type, **body}


def event_from_dict(data: dict[str, Any]) -> Event:
    """The inverse of :func:`event_to_dict`."""
    fields = dict(data)
    cls = _EVENTS_BY_TAG[fields.pop("type")]
    event: Event = _converter.structure(fields, cls)
    return event


def dumps(value: Any) -> bytes:
    """Serialise a runtime value (or already plain data) to JSON bytes."""
    if isinstance(value, Event):
        return orjson.dumps(event_to_dict(value))
    return orjson.dumps(_converter.unstructure(value))


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
