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
import sys

from claw_runtime._version import __version__
from claw_runtime.cli._setup import CliContext

__all__ = ["run_repl"]

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


def run_repl(context: CliContext, args: argparse.Namespace, first_prompt: str | None) -> int:
    """Converse at the terminal until the person leaves; the exit code.

    ``first_prompt`` (``claw "explain this repo"``) is sent as if typed first.
    """
    if getattr(args, "output_format", "text") != "text":
        print(
            f"claw: --output-format {args.output_format} is for headless runs: add -p",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from claw_runtime.cli.repl.input import PromptInput, history_path

    commands = {"exit": "leave claw (the session is saved)", "quit": "leave claw"}
    prompt = PromptInput(
        history=history_path(context.environ),
        commands=lambda: commands,
        cwd=context.cwd,
        # --permission-mode is layered into the settings; the session may still refuse it
        mode=context.settings.permissions.default_mode or "default",
    )
    sys.stdout.write(f"\x1b[2m{_banner(args)}\x1b[0m\n")
    sys.stdout.flush()
    if first_prompt is None:
        prompt.start()  # on the screen while the rest loads
    try:
        import trio

        from claw_runtime.cli.repl.loop import Conversation

        conversation = Conversation(context, args, prompt, commands)
        return trio.run(conversation.run, first_prompt)
    finally:
        prompt.abort()
