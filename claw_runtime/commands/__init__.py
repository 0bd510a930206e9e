"""Slash commands: what ``register_commands`` registers, and how ``/name args`` is read.

A command is what a user types as ``/name args`` in the terminal (or passes to
``claw -p "/name args"``). :meth:`Session.run <claw_runtime.sessions.session.Session.run>`
runs it with the live session, and it returns text to show, or a prompt to send
to the model in the user's place (optionally with tools to allow and a model to
use for that one run).

Where commands come from:

* :class:`Command` values registered by plugins (the built-ins ``/help``,
  ``/clear``, ``/cost``... are the ``builtin.commands`` plugin,
  :mod:`claw_runtime.commands.builtin`);
* :class:`CommandLoader` values registered the same way, which find commands
  for one session when they are needed: Markdown files in ``.claude/commands``
  (the ``builtin.markdown_commands`` plugin, :mod:`claw_runtime.commands.markdown`)
  and skills typed as ``/name`` (``tools.skill``).

:mod:`claw_runtime.commands.dispatch` puts them together for a session.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = [
    "COMMAND_NAME",
    "Command",
    "CommandLoader",
    "CommandResult",
    "parse_command_line",
]

COMMAND_NAME = re.compile(r"[A-Za-z0-9_:-]+")
"""What a command's name may be: ``help``, ``frontend:component``, ``pr_review-2``."""

_FIRST_WORD = re.compile(r"/([A-Za-z0-9_:-]+)(?:\s+|$)")


def _tuple_of_str(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class CommandResult:
    """What a command produced.

    With no ``prompt``, ``output`` is the result of the run (nothing is sent to
    the model). With a ``prompt``, that text is run as a normal prompt, as if the
    user had typed it, and the model's answer is the result; ``output`` is then
    not part of the result.
    """

    output: str = ""
    prompt: str | None = None
    allowed_tools: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    """Permission rules (``Bash(git status:*)``, ``Read``) allowed while ``prompt`` runs,
    and only then: they are gone when that run ends."""
    model: str | None = None
    """The model (or alias) ``prompt`` runs with; the session's model is unchanged."""
    is_error: bool = False
    """The command failed; the run's result says so (``claw -p`` exits 1)."""

    # Requests to the host that runs the session (the interactive terminal). The
    # session only passes them on (``Session.last_command``); a host that cannot act
    # on them (``claw -p``) shows ``output``, which should say what to do instead.
    exit: bool = False
    """End the conversation (``/exit``). The terminal leaves, saying so in its own words."""
    resume: str | None = None
    """Switch to this session (a session file's path): the terminal closes the current
    session and continues that one, showing its conversation."""
    resume_choices: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    """Session files the person may pick from, numbered from 1 in this order (``output``
    lists them the same way): the terminal asks for a number."""


@attrs.frozen(kw_only=True)
class Command:
    """A slash command. ``run(args, session)`` receives the text after the name.

    ``session`` is the live :class:`~claw_runtime.sessions.session.Session`: a
    command may read its results and costs, switch its model, clear its
    conversation, or run tools through its executor.
    """

    name: str
    """Without the slash; may be namespaced (``frontend:component``)."""
    description: str
    run: Callable[[str, Session], Awaitable[CommandResult]]
    argument_hint: str = ""
    """What the arguments are, for ``/help`` (``<file> [--fix]``)."""
    source: str = ""
    """Where it comes from, for ``/help``: ``built-in``, a plugin's name, ``project``,
    ``user``. Left empty, the registry fills in the registering plugin's."""
    plugin: str | None = None


@attrs.frozen(kw_only=True)
class CommandLoader:
    """Finds commands for one session, at the time they are needed (files on disk).

    ``load(session)`` returns the commands available now; it is called when a
    ``/name`` is typed or ``/help`` lists commands, never for a plain prompt.
    Loaders run in ascending ``order``; a name a registered command or an
    earlier loader already has is not replaced.
    """

    name: str
    load: Callable[[Session], Awaitable[Sequence[Command]]]
    order: int = 100
    plugin: str | None = None


def parse_command_line(text: str) -> tuple[str, str] | None:
    """``("name", "args")`` when ``text`` starts with a command word, else None.

    The first word must be ``/`` and a name of letters, digits, ``_``, ``-`` and
    ``:`` only, so ``/usr/bin/foo is broken`` is not a command. Whether a
    command of that name exists is the caller's question.
    """
    stripped = text.strip()
    match = _FIRST_WORD.match(stripped)
    if match is None:
        return None
    return match.group(1), stripped[match.end() :]
