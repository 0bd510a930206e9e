"""The ``claw`` command: argument parsing and dispatch.

This module imports nothing heavy at the top: ``claw --help`` must answer in a
blink, so trio, httpx and the plugins are only imported by the subcommand that
needs them (``claw --version`` does not even import this module: see
:mod:`claw_runtime.cli.main`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import typing
from collections.abc import Callable, Sequence

from claw_runtime._version import __version__

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

STDIN_WAIT_S = 3.0
"""With a prompt argument, how long to wait for piped text before going on without it."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``claw: --max-turns must be ..., got 0`` (exit 2)."""

    def error(self, message: str) -> typing.NoReturn:
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument ") and rest.startswith("-"):
            message = rest  # the type function's message already names the flag
        self.exit(EXIT_USAGE, f"claw: {message} (see {self.prog} --help)\n")


def _positive(flag: str, kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse ``type=`` that accepts only positive finite numbers of ``kind``."""
    what = "a positive whole number" if kind is int else "a positive number"

    def convert(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {raw}")
        return value

    return convert


def _uuid(raw: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--session-id must be a UUID (like {uuid.uuid4()}), got {raw!r}"
        ) from None


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Options accepted before and after the subcommand.

    On subcommands their default is SUPPRESS, so ``claw --no-plugins inspect``
    is not undone by the subcommand's own default.
    """

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="log to stderr (-vv for debug)",
    )
    parser.add_argument(
        "--log-json", metavar="FILE", default=default(None), help="write JSON-lines logs to FILE"
    )
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        default=default(False),
        help="load built-ins only, no installed plugins",
    )
    parser.add_argument(
        "--cwd", metavar="DIR", default=default(None), help="work in DIR instead of the current one"
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        default=default(False),
        help="trust this project: run the hooks its settings define (remembered)",
    )


def _add_run_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    add = parser.add_argument
    add(
        "--output-format",
        choices=("text", "json", "stream-json"),
        default=default("text"),
        help="text: the answer; json: one result object; stream-json: one event per line",
    )
    add("--model", default=default(None), help="model name (default: settings, then provider's)")
    add("--provider", default=default(None), help="anthropic, openai, or a provider plugin")
    add(
        "--max-turns",
        type=_positive("--max-turns", int),
        metavar="N",
        default=default(None),
        help="stop after N turns",
    )
    add(
        "--max-budget-usd",
        type=_positive("--max-budget-usd", float),
        metavar="USD",
        default=default(None),
        help="stop once the run cost this much",
    )
    add(
        "--thinking-budget",
        type=_positive("--thinking-budget", int),
        metavar="N",
        default=default(None),
        help="let the model think (extended thinking) with up to N tokens",
    )
    add(
        "--max-budget-tokens",
        type=_positive("--max-budget-tokens", int),
        metavar="N",
        default=default(None),
        help="stop once the run used this many tokens",
    )
    add(
        "--permission-mode",
        choices=PERMISSION_MODES,
        default=default(None),
        help="which tool calls run without asking",
    )
    add(
        "--add-dir",
        action="append",
        metavar="DIR",
        default=default(None),
        help="another directory the file tools may change (repeatable)",
    )
    add(
        "--mcp-config",
        action="append",
        metavar="FILE",
        default=default(None),
        help='MCP servers to start, from a JSON file ({"mcpServers": ...}; repeatable)',
    )
    add("--system-prompt", default=default(None), help="replace the default system prompt")
    add("--append-system-prompt", default=default(None), help="add to the system prompt")
    add(
        "--allowed-tools",
        nargs="+",
        default=default([]),
        metavar="RULE",
        help="tools that may run without asking (e.g. Bash Edit)",
    )
    add(
        "--disallowed-tools",
        nargs="+",
        default=default([]),
        metavar="RULE",
        help="tools that never run",
    )
    add(
        "--no-session",
        action="store_true",
        default=default(False),
        help="do not write a session file for this run",
    )
    add(
        "-c",
        "--continue",
        dest="continue_session",
        action="store_true",
        default=default(False),
        help="continue this directory's most recent session",
    )
    add(
        "-r",
        "--resume",
        metavar="SESSION",
        default=default(None),
        help="resume a session: its id, a unique prefix, or a session file (Claude Code's too)",
    )
    add(
        "--fork-session",
        action="store_true",
        default=default(False),
        help="with -c or -r: continue the history under a new session id, leaving the old one",
    )
    add(
        "--session-id",
        type=_uuid,
        metavar="UUID",
        default=default(None),
        help="the id of the new session (a UUID)",
    )


COMMANDS = frozenset(
    {
        "run",
        "demo",
        "plugins",
        "inspect",
        "sessions",
        "doctor",
        "trust",
        "tools",
        "batch",
        "mcp",
        "agents",
    }
)
"""The subcommands: an argument that is none of these (and no option's value) is a prompt."""

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
"""``--permission-mode`` choices: ``permissions.PermissionMode``, not imported at parse time."""

_USAGE = """claw [options] [PROMPT]        the interactive terminal (docs/terminal.md)
       claw -p PROMPT [options]       one run, headless: the answer, then exit
       claw COMMAND ...               see the commands below"""


def build_parser(*, prompt_argument: bool = False) -> argparse.ArgumentParser:
    """The ``claw`` parser: with subcommands, or (``prompt_argument``) with a PROMPT instead.

    ``claw "explain this repo"`` cannot be told from a subcommand by argparse
    alone, so :func:`main` uses the second form when no argument names a
    subcommand.
    """
    parser = _Parser(
        prog="claw",
        usage=_USAGE,
        description="claw: an agent harness that wires a language model to real tools.",
    )
    parser.add_argument("--version", action="version", version=f"claw {__version__}")
    parser.add_argument(
        "-p",
        "--print",
        dest="print_prompt",
        metavar="PROMPT",
        nargs="?",
        const="-",
        help="run PROMPT headless and exit; without PROMPT (or with -) the prompt is read from "
        "standard input, and text piped in alongside a PROMPT is appended to it",
    )
    _add_common(parser, top=True)
    _add_run_options(parser, top=True)
    if prompt_argument:
        parser.add_argument(
            "prompt",
            nargs="?",
            help="at a terminal: the first prompt of an interactive session; "
            "otherwise: run it headless, as -p PROMPT",
        )
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="claw")

    run = sub.add_parser("run", help="run a prompt headless (same as -p)")
    run.add_argument("prompt", nargs="?", default="-", help="the prompt; - or none: stdin")
    _add_common(run)
    _add_run_options(run)

    demo = sub.add_parser("demo", help="an offline demo against a scripted fake model")
    demo.add_argument("--keep", action="store_true", help="keep the demo project directory")
    demo.add_argument("--plain", action="store_true", help="plain output even in a terminal")
    _add_common(demo)

    plugins = sub.add_parser("plugins", help="list plugins, what they register, load errors")
    _add_common(plugins)

    inspect = sub.add_parser("inspect", help="print the runtime manifest as JSON")
    _add_common(inspect)

    sessions = sub.add_parser("sessions", help="this workspace's sessions: list, show, export")
    _add_common(sessions)
    sessions_sub = sessions.add_subparsers(dest="sessions_command", metavar="ACTION")
    sessions_sub.add_parser("list", help="sessions, newest first")
    show = sessions_sub.add_parser("show", help="a session's conversation")
    show.add_argument("session", help="an id, a unique prefix, or a session file")
    export = sessions_sub.add_parser("export", help="a session as Markdown or JSON")
    export.add_argument("session", help="an id, a unique prefix, or a session file")
    export.add_argument("--format", choices=("markdown", "json"), default="markdown")

    doctor = sub.add_parser("doctor", help="what claw read and decided: settings, rules, hooks")
    _add_common(doctor)

    trust = sub.add_parser("trust", help="trust a project directory (its settings apply in full)")
    trust.add_argument("directory", nargs="?", help="the directory (default: the current one)")
    trust.add_argument("--revoke", action="store_true", help="stop trusting the directory")
    trust.add_argument("--list", action="store_true", help="list the trusted directories")
    _add_common(trust)

    batch = sub.add_parser(
        "batch", help="one session per line of a JSON-lines file (docs/batch.md)"
    )
    batch.add_argument("tasks", help='a JSON-lines file: {"prompt": ..., "id": ..., "cwd": ...}')
    batch.add_argument(
        "--out", required=True, help="the results file (appended; re-runs skip ids in it)"
    )
    batch.add_argument("--executor", choices=("local", "ray"), default="local")
    batch.add_argument(
        "--concurrency",
        type=_positive("--concurrency", int),
        metavar="N",
        default=None,
        help="sessions at once (local: default 4; ray: tasks submitted at once)",
    )
    batch.add_argument(
        "--ray-address", metavar="ADDR", default=None, help="a Ray cluster (default: start one)"
    )
    batch.add_argument(
        "--ray-task-cpus",
        type=_positive("--ray-task-cpus", float),
        metavar="CPUS",
        default=1.0,
        help="CPUs Ray reserves per task (0.25: four waiting sessions per CPU)",
    )
    batch.add_argument(
        "--retry-failed", action="store_true", help="run again the ids whose last result failed"
    )
    # Defaults for every task (a line's own model and max_turns win); into the settings.
    batch.add_argument("--model", default=argparse.SUPPRESS, help="model for tasks without one")
    batch.add_argument("--provider", default=argparse.SUPPRESS, help="anthropic, openai, ...")
    batch.add_argument(
        "--max-turns",
        type=_positive("--max-turns", int),
        metavar="N",
        default=argparse.SUPPRESS,
        help="turn limit for tasks without one",
    )
    batch.add_argument(
        "--permission-mode",
        choices=PERMISSION_MODES,
        default=argparse.SUPPRESS,
    )
    batch.add_argument("--allowed-tools", nargs="+", metavar="RULE", default=argparse.SUPPRESS)
    batch.add_argument("--disallowed-tools", nargs="+", metavar="RULE", default=argparse.SUPPRESS)
    batch.add_argument("--no-session", action="store_true", help="write no session files")
    _add_common(batch)

    from claw_runtime.cli.mcp import add_mcp_parser

    add_mcp_parser(sub, _add_common)

    agents = sub.add_parser(
        "agents", help="the agent types the Task tool can start, and from where"
    )
    _add_common(agents)

    tools = sub.add_parser("tools", help="list or call tools without a model")
    _add_common(tools)
    tools_sub = tools.add_subparsers(dest="tools_command", metavar="ACTION", required=True)
    tools_list = tools_sub.add_parser("list", help="list tools with their descriptions")
    _add_common(tools_list)
    call = tools_sub.add_parser("call", help="run one tool with a JSON input")
    call.add_argument("name")
    call.add_argument("--input", default="{}", help="the tool input as a JSON object")
    call.add_argument(
        "--permission-mode",
        choices=PERMISSION_MODES,
        default=argparse.SUPPRESS,
        help="the permission mode the call is checked in (nobody is asked: a call that "
        "needs approval is refused)",
    )
    _add_common(call)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``claw`` command; returns the exit code.

    Whatever goes wrong ends in one ``claw: ...`` line on stderr and a non-zero
    exit, never a traceback (``CLAW_DEBUG=1`` shows the traceback of an
    unexpected error).
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    names_command = bool(COMMANDS.intersection(arguments))
    asks_help = "-h" in arguments or "--help" in arguments
    parser = build_parser(prompt_argument=not (names_command or asks_help))
    args = parser.parse_args(arguments)
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt:
        print("claw: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``claw doctor | head``): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except BaseException as exc:  # the last line of defence
        if isinstance(exc, SystemExit | GeneratorExit) or os.environ.get("CLAW_DEBUG") == "1":
            raise
        return _report_unexpected(exc)


def _report_unexpected(exc: BaseException) -> int:
    """One line for an error nothing else caught (exit 1; 130 for an interrupt)."""
    from claw_runtime.errors import ClawError

    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, KeyboardInterrupt):
        print("claw: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, ClawError):
        message = str(exc)
    elif isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
    elif isinstance(exc, RecursionError):
        message = "input nested too deeply to process"
    else:
        message = (
            f"unexpected error: {type(exc).__name__}: {exc} "
            "(a bug: set CLAW_DEBUG=1 to see where, and please report it)"
        )
    with contextlib.suppress(OSError):  # stderr itself is gone
        print(f"claw: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_ERROR


def read_prompt(
    argument: str | None, *, stdin: typing.BinaryIO | None = None, wait_s: float = STDIN_WAIT_S
) -> str:
    """The prompt of a headless run: the argument, standard input, or both.

    ``-`` or no argument: the prompt is all of standard input. A prompt argument
    with text piped in alongside it: the prompt, a blank line, then the piped
    text (``cat log.txt | claw -p "why does this fail?"``). Standard input is
    read only when it is not a terminal; with a prompt argument claw waits at
    most ``wait_s`` for the first byte, so a stdin nobody writes to or closes
    does not hang the run. Returns "" when there is no prompt at all.
    """
    source = sys.stdin.buffer if stdin is None and sys.stdin is not None else stdin
    from_stdin = argument in (None, "-")
    text = "" if from_stdin else (argument or "")
    if source is None or _isatty(source):
        return text
    if not from_stdin and not _readable_within(source, wait_s):
        print(
            f"claw: warning: no input on standard input after {wait_s:g} s; going on without "
            "it (redirect stdin from /dev/null to skip the wait)",
            file=sys.stderr,
        )
        return text
    piped = source.read().decode("utf-8", "replace").rstrip("\r\n")
    if not piped.strip():
        return text
    if from_stdin:
        return piped
    return f"{text}\n\n{piped}"


def _interactive() -> bool:
    """A person at a terminal: standard input and output are both terminals."""
    try:
        return bool(
            sys.stdin is not None
            and sys.stdout is not None
            and sys.stdin.isatty()
            and sys.stdout.isatty()
        )
    except (OSError, ValueError):
        return False


def _isatty(stream: typing.BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return True  # closed or unusable: nothing to read


def _readable_within(stream: typing.BinaryIO, seconds: float) -> bool:
    import select

    try:
        ready, _, _ = select.select([stream], [], [], seconds)
    except (OSError, ValueError, TypeError):
        return True  # not selectable (a file): reading will not block for long
    return bool(ready)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    command = args.command
    if command is None:
        first = getattr(args, "prompt", None) or None
        if args.print_prompt is None and _interactive():
            from claw_runtime.cli.repl import run_repl

            return run_repl(args, first)  # it loads the settings once its prompt is drawn
        if first is not None:
            # claw "PROMPT" -p, or claw "PROMPT" without a terminal: headless, as claw -p PROMPT
            if args.print_prompt not in (None, "-"):
                parser.error("give the prompt once: claw -p PROMPT, or claw PROMPT")
            args.print_prompt = first
        if args.print_prompt is None:
            parser.print_help()
            return EXIT_OK
    if command == "trust":
        from claw_runtime.cli.trust import run_trust_command

        return run_trust_command(args)
    prompt = ""
    if command in (None, "run"):
        prompt = read_prompt(args.print_prompt if command is None else args.prompt)
        if not prompt.strip():
            print(
                "claw: no prompt: give one (claw -p PROMPT) or pipe it in (echo PROMPT | claw -p)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    from claw_runtime.cli import _setup

    context = _setup.prepare(args, may_ask=command in (None, "run"))
    if context is None:
        return EXIT_ERROR
    if getattr(args, "mcp_config", None):  # read where sessions read their servers
        from claw_runtime.mcp.config import MCP_CONFIG_ENV

        context.environ[MCP_CONFIG_ENV] = os.pathsep.join(
            os.path.abspath(os.path.expanduser(f)) for f in args.mcp_config
        )
    if command in (None, "run"):
        from claw_runtime.cli.headless import run_headless

        return run_headless(context, args, prompt)
    if command not in ("tools",):
        # Short commands, and the demo: nothing more worth loading before collecting.
        from claw_runtime.cli import _startup

        _startup.resume()
    if command == "demo":
        from claw_runtime.cli.demo import run_demo

        return run_demo(context, args)
    if command == "sessions":
        from claw_runtime.cli.sessions import run_sessions_command

        return run_sessions_command(context, args)
    if command == "doctor":
        from claw_runtime.cli.doctor import run_doctor

        return run_doctor(context)
    if command == "agents":
        from claw_runtime.cli.agents import run_agents_command

        return run_agents_command(context)
    if command == "plugins":
        from claw_runtime.cli.inspect import print_plugins

        return print_plugins(context)
    if command == "inspect":
        from claw_runtime.cli.inspect import print_manifest

        return print_manifest(context)
    if command == "batch":
        from claw_runtime.cli.batch import run_batch_command

        return run_batch_command(context, args)
    if command == "mcp":
        from claw_runtime.cli.mcp import run_mcp_command

        return run_mcp_command(context, args)
    if command == "tools":
        from claw_runtime.cli.tools import run_tools_command

        return run_tools_command(context, args)
    parser.error(f"unknown command {command!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
