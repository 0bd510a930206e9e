"""The conversation at the terminal: one session, one prompt after another.

The runtime and the session open as ``claw -p`` opens them
(:func:`~claw_runtime.cli.headless.open_cli_runtime`,
:func:`~claw_runtime.cli.headless.open_cli_session`), while the first prompt
is already on the screen. Each line typed is one ``session.run(line)``, with the
files its ``@path`` mentions attached. Slash commands are the session's to
dispatch; the terminal acts on what they ask of it
(:class:`~claw_runtime.commands.CommandResult`): ``/exit`` ends the
conversation, ``/resume`` closes the session and opens the one picked. A
resumed session (``claw -c``, ``claw -r ID``, ``/resume``) opens with its last
messages shown.

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
from collections.abc import Awaitable, Callable

import attrs
import trio
from rich.console import Console
from rich.text import Text

from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.approval import TerminalApprover
from claw_runtime.cli.headless import Interrupts, open_cli_runtime, open_cli_session
from claw_runtime.cli.repl.input import Entry, PromptInput
from claw_runtime.cli.repl.terminal import TerminalOutput, hold_stderr, set_terminal_echo
from claw_runtime.cli.repl.typeahead import TypeAhead
from claw_runtime.cli.repl.view import TerminalView
from claw_runtime.errors import ClawError
from claw_runtime.runtime import Runtime
from claw_runtime.sessions.session import Session

__all__ = ["EXIT_COMMANDS", "Conversation"]

EXIT_COMMANDS = ("exit", "quit")
"""Slash commands the terminal itself answers: they end the conversation."""

EXIT_SIGNALLED = 130


def _exit_command(text: str) -> bool:
    """``/exit`` or ``/quit`` (with anything after it)."""
    words = text[1:].split(maxsplit=1) if text.startswith("/") else []
    return bool(words) and words[0] in EXIT_COMMANDS


def _pick(text: str, choices: tuple[str, ...]) -> str | None:
    """The session file numbered ``text`` (from 1) among ``choices``, if it is one."""
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return choices[int(text) - 1]
    return None


def _resuming(args: argparse.Namespace, path: str) -> argparse.Namespace:
    """The flags of the conversation, now resuming the session file ``path``."""
    return argparse.Namespace(
        **{
            **vars(args),
            "resume": path,
            "continue_session": False,
            "fork_session": False,
            "session_id": None,
        }
    )


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
    _typeahead: TypeAhead | None = None
    """The keys typed during the turn that runs, if one does."""
    _queued: list[str] = attrs.field(factory=list)
    """Lines typed ahead with Enter, sent one by one before the prompt comes back."""
    _unsent: str = ""
    """Typed ahead without Enter: the next prompt starts with it."""
    _commands: dict[str, str] = attrs.field(factory=dict)
    """The slash commands the session has, by name (for /exit without its command)."""

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
                args, previous = self.args, None
                while True:
                    try:
                        switch = await self._one_session(runtime, args, first_prompt, release)
                    except ClawError as exc:
                        if previous is None:
                            raise
                        # The session asked for could not open: back to the one left.
                        self.console.print(Text(f"claw: cannot resume: {exc}", style="red"))
                        args, previous = _resuming(self.args, previous), None
                        continue
                    if switch is None:
                        break
                    first_prompt = None
                    previous, resume_to = switch
                    args = _resuming(self.args, resume_to)
        except ClawError as exc:
            await trio.to_thread.run_sync(self.prompt.abort)
            await release()
            print(f"claw: {exc}", file=sys.stderr)
            return 1
        finally:
            with trio.CancelScope(shield=True):
                await release()
        return 0

    async def _one_session(
        self,
        runtime: Runtime,
        args: argparse.Namespace,
        first_prompt: str | None,
        release: Callable[[], Awaitable[None]],
    ) -> tuple[str | None, str] | None:
        """Converse in the session ``args`` asks for until the person leaves (None) or
        switches with ``/resume``: then (the file of the session left, the file to resume)."""
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
                args,
                approver=approver,
                interrupts=self.interrupts,
                notify=view.notice,
            ) as session,
        ):
            await release()
            view.attach(session.id)
            await nursery.start(view.consume, runtime.bus)
            if session.loaded is not None:  # -c, -r or /resume: the conversation, briefly
                await self._show_history(session)
            self.prompt.starting_mode(session.permission_mode)
            await self._offer_commands(session)
            switch_to: str | None = None
            try:
                switch_to = await self._converse(session, first_prompt)
            finally:
                view.close()
                if switch_to is None:
                    self.console.print(_farewell(session), style="dim")
                elif session.transcript.path is not None:
                    self.console.print(f"Session {session.id} saved.", style="dim")
            path = session.transcript.path
        if switch_to is None:
            return None
        return (str(path) if path is not None else None), switch_to

    # -------------------------------------------------------------- the loop

    async def _converse(self, session: Session, first_prompt: str | None) -> str | None:
        """Turns until the person leaves (None) or picks a session to switch to (its file)."""
        if self.interrupts.hurry:  # a signal while the session started
            self.signalled = True
            return None
        if first_prompt is not None:
            switch = await self._turn(session, first_prompt, echo=True)
            if switch is not None:
                return switch
        interrupted = False
        choices: tuple[str, ...] = ()
        while not self.signalled:
            queued = bool(self._queued)
            if queued:  # typed ahead, Enter included, while the last turn ran
                entry = Entry("text", self._queued.pop(0))
            else:
                with self.interrupts.cancellable() as waiting:
                    self.prompt.start(self._unsent)
                    self._unsent = ""
                    entry = await self.prompt.wait()
                if waiting.cancelled_caught:  # SIGTERM, SIGHUP (or a SIGINT from outside)
                    self.signalled = True
                    break
            self._apply_mode(session)
            assert self._view is not None
            self._view.show_notices()
            if entry.kind == "eof":
                break
            offered, choices = choices, ()
            if entry.kind == "interrupt":
                if offered:
                    self.console.print(Text("No session resumed.", style="dim"))
                    continue
                if interrupted:
                    break
                interrupted = True
                self.console.print(Text("Press Ctrl-C again to exit (or Ctrl-D).", style="dim"))
                continue
            interrupted = False
            text = entry.text.strip()
            if offered:
                picked = _pick(text, offered)
                if picked is not None:
                    return picked
                if not text or text.isdigit():
                    self.console.print(Text("No session resumed.", style="dim"))
                    continue
            if not text:
                continue
            if _exit_command(text) and text[1:].split()[0] not in self._commands:
                break  # no /exit command registered (its plugin is blocked): leave anyway
            switch = await self._turn(session, text, echo=queued)
            request = session.last_command
            if switch is not None or (request is not None and request.exit):
                return switch
            if request is not None and request.resume_choices:
                choices = request.resume_choices
                self.console.print(
                    Text(
                        f"Resume which session? Type its number (1-{len(choices)}); "
                        "Enter stays here.",
                        style="bold",
                    )
                )
        return None

    async def _show_history(self, session: Session) -> None:
        """The resumed conversation's last messages, above the prompt if one is open
        (``claw -c``: the prompt was drawn before the session opened)."""
        view = self._view
        assert view is not None

        def show() -> None:
            view.show_notices()
            view.show_history(session.agent.messages)
            self.console.print(
                Text(f"Resumed session {session.id}: carry on where it left off.", style="dim")
            )

        if not self.prompt.active:
            show()
            return
        with self.console.capture() as captured:
            show()
        await trio.to_thread.run_sync(self.prompt.print_above, captured.get())

    async def _offer_commands(self, session: Session) -> None:
        """Complete the commands this session can run now (custom ones are read from disk)."""
        table = await session.commands()
        offered = {name: command.description for name, command in table.commands.items()}
        self._commands = dict(offered)
        for name in EXIT_COMMANDS:
            offered.setdefault(name, self.prompt.commands.get(name, ""))
        self.prompt.set_commands(offered)
        self.prompt.cwd = session.cwd

    def _apply_mode(self, session: Session) -> None:
        """The mode Shift+Tab chose becomes the session's for the next calls."""
        if session.permission_mode != self.prompt.mode:
            session.set_permission_mode(self.prompt.mode)

    async def _turn(self, session: Session, text: str, *, echo: bool = False) -> str | None:
        """One run of ``text``; the session file to switch to if it was ``/resume ID``."""
        view = self._view
        assert view is not None
        view.begin_run(text if echo else None)
        self.interrupts.graceful = session.cancel
        typed = self._typeahead = TypeAhead(on_change=view.redraw_now)
        view.typed = typed
        try:
            async with trio.open_nursery() as keys:
                keys.start_soon(typed.run)
                try:
                    with self.interrupts.cancellable():
                        await session.run(text)  # its @path mentions attached
                finally:
                    keys.cancel_scope.cancel()
        finally:
            self.interrupts.graceful = None
            self._typeahead = view.typed = None
            self._queued += typed.queued
            self._unsent = typed.text
        view.attach(session.id)  # /clear gives the session a new id
        await view.settle(session.id)
        request = session.last_command
        acting = request is not None and (request.exit or request.resume is not None)
        view.end_run(session.results[-1], model=session.model, mode=self.prompt.mode, quiet=acting)
        if any(signum != signal.SIGINT for signum in self.interrupts.received):
            self.signalled = True  # SIGTERM or SIGHUP: the turn is cancelled, now leave
        self.interrupts.rearm()
        if request is not None and request.resume is not None:
            return request.resume
        await self._offer_commands(session)
        return None

    def _asking(self, asking: bool) -> None:
        """A permission question: the view stops drawing and the terminal echoes the answer."""
        assert self._view is not None
        typed = self._typeahead
        if asking:
            self._view.hold(True)
            if typed is not None:
                typed.pause()  # the terminal as it was: line mode, echo
            else:
                set_terminal_echo(True)
        else:
            if typed is not None:
                typed.resume()
            else:
                set_terminal_echo(False)
            self._view.hold(False)
