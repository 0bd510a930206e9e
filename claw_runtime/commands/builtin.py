"""The built-in slash commands: ``/help``, ``/clear``, ``/cost``, ``/model``, ``/status``...

Each is a :class:`~claw_runtime.commands.Command` registered by the
``builtin.commands`` plugin; an installed plugin that registers a command of
the same name replaces it. None of them calls the model: each answers from the
live session (its results, its policy, the runtime's plugins and settings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
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


def _memory_report(cwd: Path, environ: dict[str, str]) -> str:
    from claw_runtime.context.builtin import memory_files

    found = memory_files(cwd, environ)
    if not found:
        return (
            "No memory files apply here. Put instructions for the model in CLAUDE.md "
            "(this project) or ~/.claude/CLAUDE.md (all your projects)."
        )
    lines = ["Memory files, most general first (read once per session):"]
    for path in found:
        try:
            size = f"{path.stat().st_size:,} bytes"
        except OSError as exc:
            size = f"unreadable: {exc.strerror or exc}"
        lines.append(f"  {path}  ({size})")
    return "\n".join(lines)


async def _memory(args: str, session: Session) -> CommandResult:
    report = await trio.to_thread.run_sync(_memory_report, session.state.cwd, session.state.env)
    return CommandResult(output=report)


async def _status(args: str, session: Session) -> CommandResult:
    from claw_runtime._version import __version__
    from claw_runtime.commands.locations import project_dir

    path = session.transcript.path
    rows = [
        ("Session:", session.id),
        ("Working directory:", str(session.state.cwd)),
        ("Project:", str(project_dir(session.state))),
        ("Model:", session.model),
        ("Provider:", session.provider_name),
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
)


@hookimpl
def register_commands(register: Callable[[Command | CommandLoader], None]) -> None:
    from claw_runtime.commands.context_commands import CONTEXT_COMMANDS  # /compact, /context

    for command in (*BUILTIN_COMMANDS, *CONTEXT_COMMANDS):
        register(command)
