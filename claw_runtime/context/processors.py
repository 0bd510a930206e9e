"""Context processors: what ``register_context_processors`` registers.

Before every request to the model the loop builds a :class:`PromptContext`
(system prompt sections and the message list) and hands it to each processor in
``order``; a processor adds sections (CLAUDE.md, the environment, git status)
or rewrites the messages (compaction). The result is what the model sees.
Blocking file reads a processor needs once per session go in its ``prepare``,
run for all processors at once (:func:`prepare_session`): in a worker thread,
or on the event loop once such work has proved quick (``context/_inline.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import attrs

from claw_runtime.models import Message
from claw_runtime.tooling import SessionState

__all__ = ["ContextProcessor", "PromptContext", "prepare_session"]


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
    prepare: Callable[[SessionState], object] | None = None
    """Blocking work (reading files) the processor needs once per session, or None.

    Before a session's first prompt, the ``prepare`` functions of all its
    processors run one after another, each keeping what it found in
    ``session.extras`` for its ``process`` to use: in one worker thread for a
    run's first session, then on the event loop while that proves quick (each
    file check in a thread must win the GIL back from the busy loop, which
    many concurrent sessions notice; docs/performance.md). Keep it to local
    files: what may wait on the network belongs in ``process``, which must
    still work without it: it runs alone when the processor joins later, and
    again when ``prepare`` raised (which disables the plugin like any failure
    of its processor)."""


def prepare_session(
    processors: Sequence[ContextProcessor], session: SessionState
) -> list[tuple[ContextProcessor, Exception]]:
    """Run each processor's ``prepare`` for ``session`` (blocking, see ``prepare``);
    the processors whose ``prepare`` raised, with the error, for the caller to report."""
    failed: list[tuple[ContextProcessor, Exception]] = []
    for processor in processors:
        if processor.prepare is not None:
            try:
                processor.prepare(session)
            except Exception as exc:
                failed.append((processor, exc))
    return failed
