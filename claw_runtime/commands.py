"""Slash commands: what ``register_commands`` registers.

A command is what a user types as ``/name args`` in the terminal (or passes to
``claw -p "/name args"``). It runs with the session and returns text to show,
or a prompt to send to the model in the user's place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from claw_runtime.tooling import SessionState

__all__ = ["Command", "CommandResult"]


@attrs.frozen(kw_only=True)
class CommandResult:
    """What a command produced: ``output`` to show, and/or a ``prompt`` for the model."""

    output: str = ""
    prompt: str | None = None


@attrs.frozen(kw_only=True)
class Command:
    """A slash command. ``run(args, session)`` receives the text after the name."""

    name: str
    description: str
    run: Callable[[str, SessionState], Awaitable[CommandResult]]
    plugin: str | None = None
