"""The built-in slash commands: ``/help``, ``/clear``, ``/cost``, ``/model``, ``/status``...

Each is a :class:`~claw_runtime.commands.Command` registered by the
``builtin.commands`` plugin; an installed plugin that registers a command of
the same name replaces it. All but ``/init`` answer from the live session (its
results, its policy, the runtime's plugins and settings) without calling the
model; ``/init`` returns a prompt that the session runs as any other.

``/exit`` and ``/resume`` ask the host to do something the session cannot do
for itself (leave, switch to another session): they return a
:class:`~claw_runtime.commands.CommandResult` with ``exit`` or ``resume`` set,
which the interactive terminal acts on, and an ``output`` that tells a
headless run (``claw -p``) what to do instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import trio

from claw_runtime.commands import Command, CommandLoader, CommandResult
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.models import Usage

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = ["BUILTIN_COMMANDS"]


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Rows as aligned columns (the last column is not padded)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        indent
        + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        + ("  " + row[-1] if row[-1] else "")
        for row in rows
    ]


async def _help(args: str, session: Session) -> CommandResult:
    table = await session.commands()
    rows = []
    for name, command in table.commands.items():
        usage = f"/{name} {command.argument_hint}".rstrip()
        rows.append((usage, command.description, f"({command.source or command.plugin})"))
    lines = ["Slash commands (type /name, then arguments):", *_table(rows)]
    if table.shadowed:
        lines += ["", "Not available, their names are taken:"]
        lines += [
            f"  /{left.name} ({left.source}): /{left.name} is the {taken.source} command"
            for left, taken in table.shadowed
        ]
    lines += [
        "",
        "Custom commands are Markdown files in .claude/commands/ (this project) or "
        "~/.claude/commands/ (yours); skills are folders in .claude/skills/.",
    ]
    return CommandResult(output="\n".join(lines))


async def _clear(args: str, session: Session) -> CommandResult:
    await session.clear()
    return CommandResult(output=f"Started a new conversation (session {session.id}).")


def _tokens(count: int) -> str:
    return f"{count:,}"


async def _cost(args: str, session: Session) -> CommandResult:
    runs = [r for r in session.results if r.num_turns or r.usage.total_tokens]
    if not runs:
        return CommandResult(output="No model calls in this session yet: $0.00.")
    lines = [f"Session {session.id}: {len(runs)} run{'s' if len(runs) != 1 else ''}"]
    rows = []
    for number, result in enumerate(runs, 1):
        usage = result.usage
        rows.append(
            (
                f"run {number}:",
                f"{result.num_turns} turn{'s' if result.num_turns != 1 else ''}",
                f"{_tokens(usage.input_tokens)} in",
                f"{_tokens(usage.output_tokens)} out",
                f"{_tokens(usage.cache_read_input_tokens)} cache read",
                f"{_tokens(usage.cache_creation_input_tokens)} cache write",
                f"${result.total_cost_usd:.4f}",
            )
        )
    total = sum((r.usage for r in runs), Usage())
    rows.append(
        (
            "total:",
            f"{sum(r.num_turns for r in runs)} turns",
            f"{_tokens(total.input_tokens)} in",
            f"{_tokens(total.output_tokens)} out",
            f"{_tokens(total.cache_read_input_tokens)} cache read",
            f"{_tokens(total.cache_creation_input_tokens)} cache write",
            f"${sum(r.total_cost_usd for r in runs):.4f}",
        )
    )
    return CommandResult(output="\n".join([*lines, *_table(rows)]))


async def _model(args: str, session: Session) -> CommandResult:
    from claw_runtime.providers.aliases import MODEL_ALIASES

    name = args.strip()
    if not name:
        aliases = {**MODEL_ALIASES, **session.runtime.settings.model_aliases}
        shown = ", ".join(f"{alias} ({model})" for alias, model in sorted(aliases.items()))
        return CommandResult(
            output=(
                f"Model: {session.model} (provider {session.provider_name})\n"
                f"Switch with /model NAME; aliases: {shown}"
            )
        )
    before = session.model
    after = session.set_model(name)
    note = "" if after == name else f" ({name})"
    return CommandResult(output=f"Model: {after}{note}, was {before}.")


async def _tools(args: str, session: Session) -> CommandResult:
    registry = session.runtime.registry
    policy = session.agent.executor.permissions
    rows = []
    for name, tool in sorted(registry.tools.items()):
        notes = ["read-only" if tool.read_only else "changes things"]
        if not policy.visible(name):
            notes.append("hidden by a deny rule")
        if not session.runtime.host.is_active(tool.plugin):
            notes.append("its plugin failed")
        first = tool.description.strip().splitlines()[0] if tool.description.strip() else ""
        rows.append((name, f"[{', '.join(notes)}]", f"{tool.plugin}: {first}"))
    return CommandResult(output="\n".join(["Tools:", *_table(rows)]))


async def _plugins(args: str, session: Session) -> CommandResult:
    host = session.runtime.host
    registry = session.runtime.registry
    lines = ["Plugins:"]
    for info in host.infos.values():
        version = "built-in" if info.builtin else (info.version or "?")
        lines.append(f"  {info.name} ({version})")
        if info.error:
            lines.append(f"    error: {info.error}")
            continue
        for kind, names in sorted(registry.registered_by(info.name).items()):
            lines.append(f"    {kind}s: {', '.join(sorted(names))}")
    for error in host.errors:
        if error.plugin not in host.infos:
            lines.append(f"  error: {error}")
    return CommandResult(output="\n".join(lines))


async def _hooks(args: str, session: Session) -> CommandResult:
    settings = session.runtime.settings
    host = session.runtime.host
    lines = ["Command hooks from settings:"]
    if not settings.hooks:
        lines.append("  (none)")
    for event, groups in settings.hooks.items():
        for group in groups:
            for hook in group.hooks:
                matcher = f"[{group.matcher}] " if group.matcher else ""
                lines.append(f"  {event}: {matcher}{hook.command}")
    lines += ["", "Plugin hooks (in call order):"]
    rows = []
    for name in host.hook_names():
        if name.startswith("register_"):
            continue
        plugins = [plugin for plugin, _function, _args in host.implementations(name)]
        if plugins:
            rows.append((name, ", ".join(plugins)))
    lines += _table(rows) or ["  (none)"]
    return CommandResult(output="\n".join(lines))


async def _permissions(args: str, session: Session) -> CommandResult:
    policy = session.agent.executor.permissions
    lines = [f"Permission mode: {policy.mode}"]
    for kind in ("deny", "ask", "allow"):
        rules = [rule.text for rule in getattr(policy, kind)]
        lines.append(f"  {kind}: {', '.join(rules) if rules else '(none)'}")
    roots = ", ".join(str(r) for r in session.state.workspace_roots)
    lines.append(f"Workspace: {roots}")
    lines.append(
        "Change them in settings (permissions.allow / ask / deny, defaultMode) or with "
        "--allowed-tools, --disallowed-tools and --permission-mode."
    )
    return CommandResult(output="\n".join(lines))


async def _memory(args: str, session: Session) -> CommandResult:
    from claw_runtime.context.builtin import memory_report

    report = await trio.to_thread.run_sync(memory_report, session.state)
    return CommandResult(output=report)


def _credentials_note(session: Session) -> str:
    """`` (no credentials: set ...)`` when prompts cannot reach the model yet."""
    from claw_runtime.providers.unconfigured import UnconfiguredProvider

    provider = session.agent.provider
    if isinstance(provider, UnconfiguredProvider):
        return f" ({provider.error})"
    return ""


async def _status(args: str, session: Session) -> CommandResult:
    from claw_runtime._version import __version__
    from claw_runtime.commands.locations import project_dir

    path = session.transcript.path
    rows = [
        ("Session:", session.id),
        ("Working directory:", str(session.state.cwd)),
        ("Project:", str(project_dir(session.state))),
        ("Model:", session.model),
        ("Provider:", session.provider_name + _credentials_note(session)),
        ("Permission mode:", session.agent.executor.permissions.mode),
        ("Session file:", str(path) if path is not None else "(not saved)"),
        ("claw:", __version__),
    ]
    return CommandResult(output="\n".join(_table(rows, indent="")))


async def _doctor(args: str, session: Session) -> CommandResult:
    from claw_runtime.cli.doctor import doctor_report
    from claw_runtime.commands.locations import project_dir
    from claw_runtime.config.settings import load_settings
    from claw_runtime.errors import ConfigError

    project = project_dir(session.state)
    environ = dict(session.runtime.environ)

    def report() -> str:
        try:
            loaded = load_settings(project, environ=environ)
        except ConfigError as exc:
            return f"Settings cannot be read: {exc}"
        return doctor_report(project, environ, loaded, set(session.runtime.registry.tools))

    return CommandResult(output=await trio.to_thread.run_sync(report))


async def _exit(args: str, session: Session) -> CommandResult:
    return CommandResult(
        output="/exit leaves the interactive terminal; claw -p ends by itself (nothing to do).",
        exit=True,
    )


RESUME_LISTED = 10
"""How many of the workspace's sessions ``/resume`` lists, newest first."""


def _age(modified: datetime, now: datetime) -> str:
    """``just now``, ``5m ago``, ``3h ago``, ``2d ago``."""
    seconds = max(0, int((now - modified).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


async def _resume(args: str, session: Session) -> CommandResult:
    from claw_runtime.commands.locations import project_dir
    from claw_runtime.sessions.store import SessionNotFound, find_session, list_sessions

    project = project_dir(session.state)
    environ = session.runtime.environ
    reference = args.strip()
    if reference:
        try:
            path = await trio.to_thread.run_sync(find_session, reference, project, environ)
        except SessionNotFound as exc:
            return CommandResult(output=str(exc), is_error=True)
        if path == session.transcript.path:
            return CommandResult(output=f"Already in session {session.id}.")
        return CommandResult(
            output=(
                f"claw -p runs one prompt: continue that session with claw -r {reference} "
                "(add -p PROMPT to stay headless)."
            ),
            resume=str(path),
        )
    found = await trio.to_thread.run_sync(list_sessions, project, environ)
    others = [  # a session without a model turn (commands only) has nothing to continue
        info for info in found if info.path != session.transcript.path and info.turns
    ][:RESUME_LISTED]
    if not others:
        return CommandResult(output="No other session of this workspace to resume.")
    now = datetime.now(tz=UTC)
    rows = [
        (
            f"{number}.",
            info.session_id[:8],
            _age(info.modified, now),
            f"{info.turns} turn{'s' if info.turns != 1 else ''}",
            info.title if len(info.title) <= 60 else info.title[:59] + "…",
        )
        for number, info in enumerate(others, 1)
    ]
    lines = [
        "Recent sessions of this workspace, newest first:",
        *_table(rows),
        "Resume one with /resume ID in the terminal (or its number when asked), "
        "or with claw -r ID.",
    ]
    return CommandResult(
        output="\n".join(lines), resume_choices=tuple(str(info.path) for info in others)
    )


INIT_PROMPT = """\
Please analyse this repository and write a CLAUDE.md file at its root ({root}). \
Future sessions of a coding assistant read it first when they work here, so it \
should make them productive at once.

Put in it:
1. The commands used all the time: how to install or build, lint, type-check and \
run the tests, including how to run a single test.
2. The architecture in the large: what the main parts are, how a request or a \
piece of data flows through them, what needs reading several files to understand. \
Not a list of every file: what can be found in a second with a file listing \
does not belong.
3. The conventions a newcomer would get wrong: code style, naming, where tests go, \
how errors and logging are done, anything the project insists on.

How to go about it:
- Look before writing: the README, the build and package files (pyproject.toml, \
package.json, Makefile, Cargo.toml, go.mod...), CI configuration, a few \
representative source and test files, and rule files of other assistants \
(.cursorrules, .cursor/rules/, .github/copilot-instructions.md, AGENTS.md): \
include what matters from them.
- {existing}
- Be specific to this repository: no generic advice ("write tests", "handle \
errors"), nothing invented; only commands and facts you found.
- Keep it short and well organised in Markdown sections; start the file with:

# CLAUDE.md

This file gives guidance to coding assistants working in this repository.
"""

_INIT_NEW = "There is no CLAUDE.md yet: write it with the Write tool."
_INIT_EXISTING = (
    "A CLAUDE.md already exists: read it first and improve it with the Edit tool "
    "(correct what is wrong or stale, add what is missing, keep what is right) "
    "rather than writing it anew."
)


async def _init(args: str, session: Session) -> CommandResult:
    from claw_runtime.commands.locations import project_dir

    root = project_dir(session.state)
    exists = await trio.to_thread.run_sync((root / "CLAUDE.md").exists)
    prompt = INIT_PROMPT.format(root=root, existing=_INIT_EXISTING if exists else _INIT_NEW)
    if args.strip():
        prompt += f"\nThe user adds: {args.strip()}\n"
    return CommandResult(prompt=prompt)


BUILTIN_COMMANDS: tuple[Command, ...] = (
    Command(name="help", description="List the slash commands", run=_help),
    Command(
        name="clear",
        description="Start a new conversation (the history is dropped; SessionStart hooks run)",
        run=_clear,
    ),
    Command(
        name="cost", description="Tokens and cost of this session, per run and in all", run=_cost
    ),
    Command(
        name="model",
        description="Show the model, or switch to another (an alias or a full name)",
        run=_model,
        argument_hint="[name]",
    ),
    Command(name="tools", description="List the tools the model can call", run=_tools),
    Command(name="plugins", description="List the plugins and what they registered", run=_plugins),
    Command(name="hooks", description="List the hooks from settings and plugins", run=_hooks),
    Command(
        name="permissions",
        description="Show the permission mode and rules in force",
        run=_permissions,
    ),
    Command(name="memory", description="List the memory files (CLAUDE.md) that apply", run=_memory),
    Command(
        name="status",
        description="Session id, directories, model, provider and session file",
        run=_status,
    ),
    Command(
        name="doctor", description="Check settings, trust, rules, hooks and programs", run=_doctor
    ),
    Command(
        name="init",
        description="Have the model write or improve CLAUDE.md for this repository",
        run=_init,
        argument_hint="[what to focus on]",
    ),
    Command(
        name="resume",
        description="Switch to another session of this workspace (none given: pick from a list)",
        run=_resume,
        argument_hint="[id or prefix]",
    ),
    Command(name="exit", description="Leave claw (the session is saved)", run=_exit),
    Command(name="quit", description="Leave claw (the session is saved), as /exit", run=_exit),
)


@hookimpl
def register_commands(register: Callable[[Command | CommandLoader], None]) -> None:
    from claw_runtime.commands.context_commands import CONTEXT_COMMANDS  # /compact, /context

    for command in (*BUILTIN_COMMANDS, *CONTEXT_COMMANDS):
        register(command)
    from claw_runtime.commands.agents_command import AGENTS_COMMAND  # /agents

    register(AGENTS_COMMAND)
