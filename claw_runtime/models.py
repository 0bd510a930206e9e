"""The values that flow through the runtime: messages, content blocks, usage, tool specs.

Everything here is a frozen, slotted attrs class: a message, once built, is never
mutated, so it can be shared between the loop, renderers, the session writer and
plugins without copies or locks. Wire shapes (what a provider or the session file
sees) are not decided here; ``claw_runtime.serde`` owns them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import attrs

__all__ = [
    "ContentBlock",
    "ImageBlock",
    "Message",
    "RawBlock",
    "Role",
    "StopReason",
    "TaskState",
    "TextBlock",
    "ThinkingBlock",
    "ToolResultBlock",
    "ToolResultContent",
    "ToolSpec",
    "ToolUseBlock",
    "Usage",
]

Role: TypeAlias = Literal["user", "assistant"]

StopReason: TypeAlias = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "pause_turn",
    "refusal",
]


def _freeze_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    # attrs cannot make a dict immutable; a private copy at least stops a caller
    # from changing a block after handing it over.
    return dict(value)


def _citations(value: Any) -> tuple[dict[str, Any], ...] | None:
    return None if value is None else tuple(dict(c) for c in value)


@attrs.frozen(kw_only=True)
class TextBlock:
    """Plain text from the user, the model or a tool.

    ``citations`` is what the model attached to its text (web search, documents),
    kept as the raw JSON objects the API sent so they go back unchanged; None
    means the block had no ``citations`` key at all.
    """

    text: str
    type: Literal["text"] = "text"
    citations: tuple[dict[str, Any], ...] | None = attrs.field(default=None, converter=_citations)


@attrs.frozen(kw_only=True)
class ThinkingBlock:
    """Extended-thinking output. The signature must be sent back unchanged."""

    thinking: str
    signature: str = ""
    type: Literal["thinking"] = "thinking"


@attrs.frozen(kw_only=True)
class ImageBlock:
    """An image, base64-encoded, as the Anthropic API carries it."""

    media_type: str
    data: str
    type: Literal["image"] = "image"


@attrs.frozen(kw_only=True)
class ToolUseBlock:
    """The model asks for a tool to run with ``input``."""

    id: str
    name: str
    input: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_mapping)
    type: Literal["tool_use"] = "tool_use"


ToolResultContent: TypeAlias = TextBlock | ImageBlock


@attrs.frozen(kw_only=True)
class ToolResultBlock:
    """What a tool returned for the ``tool_use`` with the same id.

    Every ``ToolUseBlock`` gets exactly one of these, on success, error,
    timeout or cancellation alike, so the next request to the model is valid.
    """

    tool_use_id: str
    content: tuple[ToolResultContent, ...] = ()
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        """The text parts of the result joined, for display and tests."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))


@attrs.frozen(kw_only=True)
class RawBlock:
    """A block the runtime does not interpret, kept exactly as the model API sent it.

    ``redacted_thinking``, ``server_tool_use``, ``web_search_tool_result``,
    ``web_fetch_tool_result``, ``code_execution_tool_result``, ``mcp_tool_use``
    and any block type added to the API later: the provider that produced it
    (``provider``) sends ``data`` back byte for byte in the next request, since
    the API rejects a conversation whose signed or server-side blocks went
    missing. Other providers leave it out.
    """

    data: dict[str, Any] = attrs.field(converter=_freeze_mapping)
    provider: str = "anthropic"
    type: Literal["raw"] = "raw"

    @property
    def kind(self) -> str:
        """The block's own ``type`` on the wire (``redacted_thinking``...)."""
        return str(self.data.get("type", ""))


ContentBlock: TypeAlias = (
    TextBlock | ThinkingBlock | ImageBlock | ToolUseBlock | ToolResultBlock | RawBlock
)


@attrs.frozen(kw_only=True)
class Message:
    """One conversation message: a role and its content blocks."""

    role: Role
    content: tuple[ContentBlock, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message; bytes that are not UTF-8 (a surrogate-escaped argv) become escapes."""
        from claw_runtime.text import clean_text

        return cls(role="user", content=(TextBlock(text=clean_text(text)),))

    @classmethod
    def assistant(cls, text: str) -> Message:
        return cls(role="assistant", content=(TextBlock(text=text),))

    @property
    def text(self) -> str:
        """The text blocks joined: what a person reads of this message."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> tuple[ToolUseBlock, ...]:
        return tuple(b for b in self.content if isinstance(b, ToolUseBlock))


@attrs.frozen(kw_only=True)
class Usage:
    """Token counts for one model call, or a sum of them (``+`` adds)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
        )

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_read_input_tokens
            + self.cache_creation_input_tokens
        )


@attrs.frozen(kw_only=True)
class ToolSpec:
    """What the model is told about a tool: name, description, JSON schema."""

    name: str
    description: str
    input_schema: dict[str, Any] = attrs.field(converter=_freeze_mapping)


class TaskState(enum.Enum):
    """Where a scheduled task is in its life. The last four are final."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        return self not in (TaskState.PENDING, TaskState.RUNNING)
