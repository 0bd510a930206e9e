"""The conversation at the terminal: one session, one prompt after another.

The runtime and the session open as ``claw -p`` opens them
(:func:`~claw_runtime.cli.headless.open_cli_runtime`,
:func:`~claw_runtime.cli.headless.open_cli_session`), while the first prompt
is already on the screen. Each line typed is one ``session.run(line)``;
``/exit`` and ``/quit`` end the conversation here, any other ``/name`` is the
session's to dispatch.

Signals are those of ``claw -p`` (:class:`~claw_runtime.cli.headless.Interrupts`):
Ctrl-C during a turn cancels it (a second one stops waiting for it) and the
prompt comes back; SIGTERM or SIGHUP ends the conversation after cancelling
the turn. At the prompt, Ctrl-C is a key (the terminal is in raw mode then):
see :mod:`claw_runtime.cli.repl.input`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

import attrs
import trio
from rich.console import Console
from rich.text import Text

from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.approval import TerminalApprover
from claw_runtime.cli.headless import Interrupts, open_cli_runtime, open_cli_session
from claw_runtime.cli.repl.input import PromptInput
from claw_runtime.cli.repl.terminal import (
    TerminalOutput,
    hold_stderr,
    set_terminal_echo,
    terminal_echo,
)
from claw_runtime.cli.repl.view import TerminalView
from claw_runtime.errors import ClawError
from claw_runtime.sessions.session import Session

__all__ = ["EXIT_COMMANDS", "Conversation"]

EXIT_COMMANDS = ("exit", "quit")
"""Slash commands the terminal itself answers: they end the conversation."""

EXIT_SIGNALLED = 130


def _exit_command(text: str) -> bool:
    """``/exit`` or ``/quit`` (with anything after it)."""
    words = text[1:].split(maxsplit=1) if text.startswith("/") else []
    return bool(words) and words[0] in EXIT_COMMANDS


def _farewell(session: Session) -> str:
    if session.transcript.path is None:
        return f"Session {session.id} ended (not saved: --no-session)."
    return f"Session {session.id} saved: claw -c continues it."


@attrs.define(eq=False)
class Conversation:
    """The interactive terminal's loop, from the runtime's start to the session's end.

    Args:
        context: settings and working directory (``_setup.prepare``).
        args: the parsed flags (session flags as for ``claw -p``).
        prompt: the input line; its first prompt may already be on the screen.
    """

    context: CliContext
    args: argparse.Namespace
    prompt: PromptInput
    output: TerminalOutput = attrs.field(factory=TerminalOutput)
    console: Console = attrs.field(
        default=attrs.Factory(
            lambda self: Console(file=self.output, highlight=False), takes_self=True
        )
    )
    interrupts: Interrupts = attrs.field(factory=Interrupts)
    signalled: bool = False
    _view: TerminalView | None = None

    async def run(self, first_prompt: str | None) -> int:
        """Converse until the person leaves; the exit code (130 when a signal ended it)."""
        async with trio.open_nursery() as watcher:
            await watcher.start(self.interrupts.watch)
            try:
                code = await self._open_and_converse(first_prompt)
            finally:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self.prompt.abort)
                watcher.cancel_scope.cancel()
        if self.signalled and code == 0:
            return EXIT_SIGNALLED
        return code

    async def _open_and_converse(self, first_prompt: str | None) -> int:
        # The prompt is on the screen while the runtime and the session load: what
        # they write to stderr meanwhile is shown above it afterwards.
        held_output = contextlib.ExitStack()
        held = held_output.enter_context(hold_stderr())

        async def release() -> None:
            held_output.close()
            text, held.text = held.text, ""
            if self._view is not None:
                text += self._view.take_notices()  # a torn line skipped on resume...
            await trio.to_thread.run_sync(self.prompt.print_above, text)

        try:
            async with open_cli_runtime(self.context) as runtime:
                view = self._view = TerminalView(self.console, runtime.scheduler)
                approver = TerminalApprover(
                    output=self.output,  # type: ignore[arg-type]  # a TextIO in all it uses
                    before_asking=self._asking,
                )
                async with (
                    trio.open_nursery() as nursery,
                    open_cli_session(
                        runtime,
                        self.context,
                        self.args,
                        approver=approver,
                        interrupts=self.interrupts,
                        notify=view.notice,
                    ) as session,
                ):
                    await release()
                    view.attach(session.id)
                    await nursery.start(view.consume, runtime.bus)
                    self.prompt.starting_mode(session.permission_mode)
                    await self._offer_commands(session)
                    try:
                        await self._converse(session, first_prompt)
                    finally:
                        view.close()
                        self.console.print(_farewell(session), style="dim")
        except ClawError as exc:
            await trio.to_thread.run_sync(self.prompt.abort)
            await release()
            print(f"claw: {exc}", file=sys.stderr)
            return 1
        finally:
            with trio.CancelScope(shield=True):
                await release()
        return 0

    # -------------------------------------------------------------- the loop

    async def _converse(self, session: Session, first_prompt: str | None) -> None:
        if self.interrupts.hurry:  # a signal while the session started
            self.signalled = True
            return
        if first_prompt is not None:
            await self._turn(session, first_prompt, echo=True)
        interrupted = False
        while not self.signalled:
            with self.interrupts.cancellable() as waiting:
                entry = await self.prompt.wait()
            if waiting.cancelled_caught:  # SIGTERM, SIGHUP (or a SIGINT from outside)
                self.signalled = True
                break
            self._apply_mode(session)
            assert self._view is not None
            self._view.show_notices()
            if entry.kind == "eof":
                break
            if entry.kind == "interrupt":
                if interrupted:
                    break
                interrupted = True
                self.console.print(Text("Press Ctrl-C again to exit (or Ctrl-D).", style="dim"))
                continue
            interrupted = False
            text = entry.text.strip()
            if not text:
                continue
            if _exit_command(text):
                break
            await self._turn(session, text)

    async def _offer_commands(self, session: Session) -> None:
        """Complete the commands this session can run now (custom ones are read from disk)."""
        table = await session.commands()
        offered = {name: command.description for name, command in table.commands.items()}
        for name in EXIT_COMMANDS:
            offered.setdefault(name, self.prompt.commands.get(name, ""))
        self.prompt.set_commands(offered)
        self.prompt.cwd = session.cwd

    def _apply_mode(self, session: Session) -> None:
        """The mode Shift+Tab chose becomes the session's for the next calls."""
        if session.permission_mode != self.prompt.mode:
            session.set_permission_mode(self.prompt.mode)

    async def _turn(self, session: Session, text: str, *, echo: bool = False) -> None:
        view = self._view
        assert view is not None
        view.begin_run(text if echo else None)
        self.interrupts.graceful = session.cancel
        try:
            with terminal_echo(False), self.interrupts.cancellable():
                await session.run(text)
        finally:
            self.interrupts.graceful = None
        view.attach(session.id)  # /clear gives the session a new id
        await view.settle(session.id)
        view.end_run(session.results[-1], model=session.model, mode=self.prompt.mode)
        if any(signum != signal.SIGINT for signum in self.interrupts.received):
            self.signalled = True  # SIGTERM or SIGHUP: the turn is cancelled, now leave
        self.interrupts.rearm()
        await self._offer_commands(session)

    def _asking(self, asking: bool) -> None:
        """A permission question: the view stops drawing and the terminal echoes the answer."""
        assert self._view is not None
        if asking:
            self._view.hold(True)
            set_terminal_echo(True)
        else:
            set_terminal_echo(False)
            self._view.hold(False)
