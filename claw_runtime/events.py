"""Typed events: what happened in the runtime, for renderers, loggers and plugins.

Each event is a frozen attrs class with a ``type`` tag (a ClassVar, so it costs
nothing per instance); ``claw_runtime.serde`` turns events into the tagged JSON
objects ``--output-format stream-json`` prints, one per line. Events are facts
about the past: subscribers read them, nobody answers them (hooks are for that).
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from claw_runtime.models import Message, StopReason, TaskState, ToolResultBlock, Usage

__all__ = [
    "EVENT_TYPES",
    "Compacted",
    "CompactionFailed",
    "CompactionStarted",
    "Event",
    "EventsDropped",
    "McpServerStatus",
    "ModelRetry",
    "PluginFailed",
    "SessionEnded",
    "SessionStarted",
    "SubagentFinished",
    "SubagentStarted",
    "TaskStateChanged",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnFinished",
    "TurnStarted",
]


@attrs.frozen(kw_only=True)
class Event:
    """Base class of every event; ``type`` names it on the wire.

    ``session_id`` and ``task_id`` say where an event comes from, so a renderer
    watching a runtime with several sessions (or sub-agents) can tell them
    apart: a session stamps them on everything it publishes (the task is the
    scheduler task that was running: the agent's run, or one tool call).
    Events from a sub-agent also carry its ``agent_id`` and the ``parent_agent``
    that started it (None: the session's main agent); both are left out of the
    JSON when None.
    """

    type: ClassVar[str] = "event"
    session_id: str | None = None
    task_id: int | None = None
    agent_id: str | None = None
    parent_agent: str | None = None


@attrs.frozen(kw_only=True)
class TaskStateChanged(Event):
    """A scheduled task moved from one state to another."""

    type: ClassVar[str] = "task_state"
    name: str
    parent_id: int | None
    old: TaskState
    new: TaskState
    error: str | None = None


@attrs.frozen(kw_only=True)
class EventsDropped(Event):
    """A slow subscriber missed ``count`` events; delivered to that subscriber only."""

    type: ClassVar[str] = "events_dropped"
    count: int


@attrs.frozen(kw_only=True)
class PluginFailed(Event):
    """A plugin raised or failed to load and has been disabled."""

    type: ClassVar[str] = "plugin_failed"
    plugin: str
    hook: str | None
    reason: str


@attrs.frozen(kw_only=True)
class McpServerStatus:
    """One MCP server of a session and how its start went (Claude Code's ``{name, status}``)."""

    name: str
    status: str
    """``connected``, ``failed``, or ``pending`` (its start was interrupted)."""


@attrs.frozen(kw_only=True)
class SessionStarted(Event):
    """A session opened: published once its MCP servers, if any, have started (or failed),
    so ``tools`` includes theirs, as Claude Code's ``system/init`` message does."""

    type: ClassVar[str] = "session_started"
    cwd: str
    model: str
    provider: str
    tools: tuple[str, ...]
    mcp_servers: tuple[McpServerStatus, ...] = ()


@attrs.frozen(kw_only=True)
class SessionEnded(Event):
    type: ClassVar[str] = "session_ended"
    stop_reason: str
    num_turns: int
    usage: Usage
    total_cost_usd: float
    is_error: bool
    result: str


@attrs.frozen(kw_only=True)
class TurnStarted(Event):
    """A request to the model is about to be sent (``turn`` counts from 1)."""

    type: ClassVar[str] = "turn_started"
    turn: int


@attrs.frozen(kw_only=True)
class TextDelta(Event):
    """A piece of the model's visible answer, as it streams."""

    type: ClassVar[str] = "text_delta"
    turn: int
    text: str


@attrs.frozen(kw_only=True)
class ThinkingDelta(Event):
    """A piece of the model's extended thinking, as it streams."""

    type: ClassVar[str] = "thinking_delta"
    turn: int
    text: str


@attrs.frozen(kw_only=True)
class ModelRetry(Event):
    """An attempt failed and will be retried; anything streamed from it is void."""

    type: ClassVar[str] = "model_retry"
    turn: int
    attempt: int
    reason: str
    delay_s: float


@attrs.frozen(kw_only=True)
class TurnFinished(Event):
    """The model finished one response; ``message`` is the complete assistant message."""

    type: ClassVar[str] = "turn_finished"
    turn: int
    message: Message
    stop_reason: StopReason | None
    usage: Usage
    cost_usd: float


@attrs.frozen(kw_only=True)
class ToolCallStarted(Event):
    type: ClassVar[str] = "tool_call_started"
    tool_use_id: str
    name: str
    input: dict[str, Any]


@attrs.frozen(kw_only=True)
class ToolCallFinished(Event):
    type: ClassVar[str] = "tool_call_finished"
    tool_use_id: str
    name: str
    result: ToolResultBlock
    duration_ms: float


@attrs.frozen(kw_only=True)
class SubagentStarted(Event):
    """A sub-agent (the ``Task`` tool) started; ``agent_id`` is set to its id."""

    type: ClassVar[str] = "subagent_started"
    agent_type: str
    description: str
    background: bool = False
    cwd: str = ""


@attrs.frozen(kw_only=True)
class SubagentFinished(Event):
    """A sub-agent ended (``status``: ``completed``, ``failed``, ``timed_out``, ``cancelled``)."""

    type: ClassVar[str] = "subagent_finished"
    agent_type: str
    status: str
    result: str
    num_turns: int = 0
    usage: Usage = Usage()
    branch: str | None = None
    """The worktree branch holding its changes (``isolation: worktree``), if any."""


@attrs.frozen(kw_only=True)
class CompactionStarted(Event):
    """The conversation is being compacted (``trigger``: ``auto`` or ``manual``);
    ``tokens`` is its estimated size, ``window`` the model's context window."""

    type: ClassVar[str] = "compaction_started"
    trigger: str
    tokens: int
    window: int


@attrs.frozen(kw_only=True)
class Compacted(Event):
    """The older turns were replaced by a summary; the recent ones were kept verbatim."""

    type: ClassVar[str] = "compacted"
    trigger: str
    tokens_before: int
    tokens_after: int
    summarised_messages: int
    kept_messages: int


@attrs.frozen(kw_only=True)
class CompactionFailed(Event):
    """A compaction failed; the conversation is unchanged."""

    type: ClassVar[str] = "compaction_failed"
    trigger: str
    reason: str


EVENT_TYPES: tuple[type[Event], ...] = (
    TaskStateChanged,
    EventsDropped,
    PluginFailed,
    SessionStarted,
    SessionEnded,
    TurnStarted,
    TextDelta,
    ThinkingDelta,
    ModelRetry,
    TurnFinished,
    ToolCallStarted,
    ToolCallFinished,
    SubagentStarted,
    SubagentFinished,
    CompactionStarted,
    Compacted,
    CompactionFailed,
)
"""The built-in event classes; serde tags them by their ``type``."""
