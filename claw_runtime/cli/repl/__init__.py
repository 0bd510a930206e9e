"""The interactive terminal: ``claw``, or ``claw "first prompt"``, at a terminal.

One session for the whole conversation; each line typed is one run of it.
The package is one concern per module:

* :mod:`~claw_runtime.cli.repl.input`: the input line (prompt_toolkit in a
  worker thread): history, multi-line editing, completion, keys.
* :mod:`~claw_runtime.cli.repl.view`: what a run shows (rich): streamed
  Markdown, thinking, tool calls and results, the spinner, the status line.
* :mod:`~claw_runtime.cli.repl.modes`: the permission modes Shift+Tab cycles.
* :mod:`~claw_runtime.cli.repl.loop`: the conversation: runtime, session,
  turns, signals.

Start-up is ordered for the person waiting: the prompt is drawn first (only
prompt_toolkit is loaded before it), and the runtime, the plugins and the
session load while the first line is being typed. ``claw -p`` never imports
this package (``tests/test_import_guard.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from claw_runtime._version import __version__

if TYPE_CHECKING:
    from claw_runtime.cli._setup import CliContext
    from claw_runtime.cli.repl.input import PromptInput

__all__ = ["run_repl"]

REPL_COMMANDS = {"exit": "Leave claw (the session is saved)", "quit": "Leave claw"}
"""Offered for completion from the start, before the session has listed its commands."""

EXIT_ERROR = 1
EXIT_USAGE = 2


def _banner(args: argparse.Namespace) -> str:
    what = "new session"
    if getattr(args, "continue_session", False):
        what = "continuing the latest session"
    elif getattr(args, "resume", None):
        what = f"resuming {args.resume}"
    if getattr(args, "fork_session", False):
        what += " as a fork"
    return (
        f"claw {__version__} · {what} · /help for commands · Shift+Tab: permission mode · "
        "Ctrl-D: exit"
    )


def _working_directory_guess(args: argparse.Namespace) -> Path:
    """Where ``@`` paths complete from until the settings loader has resolved ``--cwd``."""
    try:
        return Path(args.cwd).expanduser() if args.cwd else Path.cwd()
    except OSError:
        return Path(os.curdir)


def run_repl(args: argparse.Namespace, first_prompt: str | None) -> int:
    """Converse at the terminal until the person leaves; the exit code.

    ``first_prompt`` (``claw "explain this repo"``) is sent as if typed first.
    The prompt is drawn before anything else loads, settings included: what
    loading writes to stderr meanwhile is shown above it.
    """
    if getattr(args, "output_format", "text") != "text":
        print(
            f"claw: --output-format {args.output_format} is for headless runs: add -p",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from claw_runtime.cli.repl.input import PromptInput, history_path

    prompt = PromptInput(
        history=history_path(os.environ),
        commands=REPL_COMMANDS,
        cwd=_working_directory_guess(args),
        mode=getattr(args, "permission_mode", None) or "default",
    )
    sys.stdout.write(f"\x1b[2m{_banner(args)}\x1b[0m\n")
    sys.stdout.flush()
    if first_prompt is None:
        prompt.start()  # on the screen while the rest loads
    try:
        context = _prepare(args, prompt)
        if context is None:
            return EXIT_ERROR
        import trio

        from claw_runtime.cli.repl.loop import Conversation

        conversation = Conversation(context, args, prompt)
        return trio.run(conversation.run, first_prompt)
    finally:
        prompt.abort()
        _let_go_of_a_closed_terminal()


def _let_go_of_a_closed_terminal() -> None:
    """The terminal went away (SIGHUP): what is still buffered for it goes nowhere.

    Otherwise Python's last flush of stdout fails at exit and turns the exit
    code into 120.
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)


def _prepare(args: argparse.Namespace, prompt: PromptInput) -> CliContext | None:
    """Logging, settings and trust, as for every command, with the prompt already drawn.

    A project whose settings are withheld until it is trusted is asked about
    as ``claw -p`` asks: the prompt leaves the screen for the question and
    comes back with what was typed in it.
    """
    from claw_runtime.cli import _setup
    from claw_runtime.cli.repl.terminal import hold_stderr

    with hold_stderr() as held:
        context = _setup.prepare(args)
    prompt.print_above(held.text)
    if context is not None and context.loaded is not None and context.loaded.withheld:
        from claw_runtime.cli.trust import ask_to_trust

        was_open = prompt.active
        typed = prompt.abort()
        if ask_to_trust(context.cwd, context.loaded.withheld):
            context = _setup.prepare(args)
        if was_open:
            prompt.start(typed)
    if context is None:
        return None
    prompt.cwd = context.cwd
    prompt.starting_mode(context.settings.permissions.default_mode or prompt.mode)
    return context
