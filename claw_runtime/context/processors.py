"""Context processors: what ``register_context_processors`` registers.

Before every request to the model the loop builds a :class:`PromptContext`
(system prompt sections and the message list) and hands it to each processor in
``order``; a processor adds sections (CLAUDE.md, the environment, git status)
or rewrites the messages (compaction). The result is what the model sees.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from claw_runtime.models import Message
from claw_runtime.tooling import SessionState

__all__ = ["ContextProcessor", "PromptContext"]


@attrs.define(eq=False, kw_only=True)
class PromptContext:
    """The request being built: processors mutate it in turn."""

    session: SessionState
    model: str
    turn: int
    system_sections: list[str] = attrs.field(factory=list)
    messages: list[Message] = attrs.field(factory=list)

    @property
    def system_prompt(self) -> str:
        return "\n\n".join(s for s in self.system_sections if s)


@attrs.frozen(kw_only=True)
class ContextProcessor:
    """A named step of prompt building. Lower ``order`` runs first."""

    name: str
    process: Callable[[PromptContext], Awaitable[None]]
    order: int = 100
    plugin: str | None = None
