"""What hooks may answer: the values ``pre_tool_use`` and friends return.

A hook returns ``None`` to have no opinion. When several plugins answer, the
runtime combines them the way Claude Code combines command hooks: the most
restrictive decision wins (deny > ask > allow), input rewrites apply in hook
order, added context is concatenated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs

from claw_runtime.models import ToolResultBlock

__all__ = [
    "PermissionDecision",
    "PostToolUseOutcome",
    "PreToolUseDecision",
    "PromptDecision",
    "SessionStartOutcome",
    "StopDecision",
    "ToolCall",
]

PermissionDecision: TypeAlias = Literal["allow", "deny", "ask"]


@attrs.frozen(kw_only=True)
class ToolCall:
    """A tool call the model asked for, as hooks see it."""

    tool_use_id: str
    name: str
    input: dict[str, Any]
    read_only: bool = False
    reads: tuple[Path, ...] = ()
    """Paths the call will read: absolute, ``~`` expanded, against the session's cwd,
    symlinks resolved (what the tool will really open). Filled by the executor from
    the tool's declared ``reads`` inputs."""
    writes: tuple[Path, ...] = ()
    """Paths the call will create or change, resolved the same way."""
    urls: tuple[str, ...] = ()
    """Network addresses the call will contact."""


@attrs.frozen(kw_only=True)
class PreToolUseDecision:
    """A ``pre_tool_use`` answer.

    Attributes:
        decision: ``allow`` skips the permission prompt, ``deny`` blocks the call
            (``reason`` is shown to the model), ``ask`` forces a prompt; ``None``
            leaves the decision to others.
        reason: why, for the model (on deny) or the user (on ask).
        updated_input: replaces the tool's input before it runs.
    """

    decision: PermissionDecision | None = None
    reason: str = ""
    updated_input: dict[str, Any] | None = None
    end_run: str | None = None
    """End the whole run after this call, with this reason (Claude Code's ``continue: false``)."""


@attrs.frozen(kw_only=True)
class PostToolUseOutcome:
    """A ``post_tool_use`` answer: add context for the model, or replace the result."""

    additional_context: str = ""
    replace_result: ToolResultBlock | None = None
    end_run: str | None = None
    """End the whole run after this call, with this reason (Claude Code's ``continue: false``)."""


@attrs.frozen(kw_only=True)
class PromptDecision:
    """A ``user_prompt_submit`` answer: block the prompt, or add context to it."""

    block: bool = False
    reason: str = ""
    additional_context: str = ""


@attrs.frozen(kw_only=True)
class SessionStartOutcome:
    """A ``session_start`` answer: context for the model, or an end to the run."""

    additional_context: str = ""
    end_run: str | None = None


@attrs.frozen(kw_only=True)
class StopDecision:
    """A ``stop`` answer: send the model back to work (``block``), or end the run."""

    block: bool = False
    reason: str = ""
    """Why the model must go on; sent to it as a user message."""
    end_run: str | None = None
