"""Custom commands written as Markdown files: Claude Code's ``.claude/commands``.

Folders, later ones winning for the same name (a project's command replaces
the user's own of that name)::

    ~/.claude/commands/   (CLAUDE_CONFIG_DIR/commands)   user
    ~/.claw/commands/     (CLAW_CONFIG_DIR/commands)     user
    <project>/.claude/commands/                          project
    <project>/.claw/commands/                            project

``review.md`` is ``/review``; sub-folders are namespaces:
``frontend/component.md`` is ``/frontend:component``. The file is the prompt;
optional YAML frontmatter says more::

    ---
    description: Review a pull request           # /help (default: the first line)
    argument-hint: <pr-number> [priority]        # /help
    allowed-tools: Bash(gh pr view:*), Read      # a string or a list of rules
    model: haiku                                 # this command's runs only
    ---
    Review PR #$1 with priority $2. The diff: !`gh pr diff $1`

See :mod:`claw_runtime.commands.expand` for ``$ARGUMENTS``, ``!`cmd``` and
``@file``. Frontmatter that is not valid YAML does not stop the command: it
loads without it, with a one-line warning. A project the user has not trusted
gets its commands, but not their ``allowed-tools`` (see :mod:`claw_runtime.config.trust`).

This is the built-in plugin ``builtin.markdown_commands``: block it and
register your own :class:`~claw_runtime.commands.CommandLoader` to replace it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from claw_runtime.commands import COMMAND_NAME, Command, CommandLoader, CommandResult
from claw_runtime.commands.expand import expand_body, substitute_arguments
from claw_runtime.commands.locations import Scope, config_dirs, project_trusted
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.text import clean_text

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = [
    "MarkdownCommand",
    "find_markdown_commands",
    "parse_frontmatter",
    "rules_of",
    "warn_once",
]

MAX_COMMAND_BYTES = 256 * 1024
"""A command file longer than this is skipped (a prompt, not a data file)."""

_WARNED_KEY = "builtin.markdown_commands.warned"


@attrs.frozen(kw_only=True)
class MarkdownCommand:
    """One command file, read and parsed."""

    name: str
    path: Path
    scope: Scope
    body: str
    description: str
    argument_hint: str = ""
    allowed_tools: tuple[str, ...] = ()
    model: str | None = None
    overrides: Path | None = None
    """The user's file of the same name this project file replaces."""


def parse_frontmatter(text: str, path: Path) -> tuple[dict[str, Any], str, list[str]]:
    """``(frontmatter, body, warnings)`` of a Markdown file.

    No frontmatter is an empty mapping. Frontmatter that is not YAML, or not a
    mapping, is a warning naming the file and the line, and the whole file after
    it is the body. PyYAML is imported here, only for files that have some.
    """
    if not text.startswith("---"):
        return {}, text, []
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return {}, text, []
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            header = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        return {}, text, [f"{path}: frontmatter has no closing '---'; read as plain text"]
    import yaml

    try:
        data = yaml.safe_load(header) if header.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None or mark.line >= header.count("\n"):  # noticed only at the end
            mark = getattr(exc, "context_mark", None) or mark
        where = f" (line {mark.line + 2})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return {}, body, [f"{path}: frontmatter is not valid YAML{where}: {problem}; ignored"]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, body, [f"{path}: frontmatter is not a mapping of keys; ignored"]
    return {str(k): v for k, v in data.items()}, body, []


def _split_rules(text: str) -> list[str]:
    """``Bash(git add:*), Bash(git commit:*) Read`` -> three rules (commas in parentheses kept)."""
    rules: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if depth == 0 and (char == "," or char.isspace()):
            if "".join(current).strip():
                rules.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        rules.append("".join(current).strip())
    return rules


def rules_of(value: Any, path: Path, key: str = "allowed-tools") -> tuple[list[str], list[str]]:
    """``(rules, warnings)`` from an ``allowed-tools`` value: a string or a list of strings.

    Each rule is checked the way settings' rules are; one that cannot be
    understood is left out with a warning.
    """
    from claw_runtime.permissions import parse_rule

    if value is None:
        return [], []
    if isinstance(value, str):
        raw = _split_rules(value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        raw = [r.strip() for r in value if r.strip()]
    else:
        return [], [f"{path}: {key} must be a string or a list of strings; ignored"]
    rules, warnings = [], []
    for rule in raw:
        try:
            parse_rule(rule)
        except ValueError as exc:
            warnings.append(f"{path}: {key}: {exc}; rule ignored")
            continue
        rules.append(rule)
    return rules, warnings


def _text_field(meta: dict[str, Any], key: str, path: Path, warnings: list[str]) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip()
    warnings.append(f"{path}: {key} must be text; ignored")
    return None


def first_line(body: str, limit: int = 100) -> str:
    """A description from a body's first non-empty line (Markdown heading marks off)."""
    for line in body.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def read_command_file(
    path: Path, name: str, scope: Scope
) -> tuple[MarkdownCommand | None, list[str]]:
    """One file parsed, and what was wrong with it; no command if it cannot be used."""
    try:
        raw = path.read_bytes()[: MAX_COMMAND_BYTES + 1]
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc.strerror or exc}); skipped"]
    if len(raw) > MAX_COMMAND_BYTES:
        return None, [f"{path}: larger than {MAX_COMMAND_BYTES // 1024} KB; skipped"]
    text = clean_text(raw.decode("utf-8", errors="replace")).lstrip("\ufeff")
    meta, body, warnings = parse_frontmatter(text, path)
    allowed, rule_warnings = rules_of(meta.get("allowed-tools"), path)
    warnings += rule_warnings
    description = _text_field(meta, "description", path, warnings) or first_line(body)
    command = MarkdownCommand(
        name=name,
        path=path,
        scope=scope,
        body=body.strip("\n"),
        description=description,
        argument_hint=_text_field(meta, "argument-hint", path, warnings) or "",
        allowed_tools=tuple(allowed),
        model=_text_field(meta, "model", path, warnings) or None,
    )
    return command, warnings


def _command_name(folder: Path, path: Path) -> str | None:
    parts = [*path.relative_to(folder).parent.parts, path.stem]
    if not all(COMMAND_NAME.fullmatch(p) and ":" not in p for p in parts):
        return None
    return ":".join(parts)


def find_markdown_commands(
    folders: Sequence[tuple[Scope, Path]],
) -> tuple[dict[str, MarkdownCommand], list[str]]:
    """Every command in ``folders`` (later folders win a name) and the warnings found.

    Blocking file IO: call it in a thread.
    """
    found: dict[str, MarkdownCommand] = {}
    warnings: list[str] = []
    for scope, folder in folders:
        try:
            paths = sorted(p for p in folder.rglob("*.md") if p.is_file())
        except OSError:
            continue
        for path in paths:
            name = _command_name(folder, path)
            if name is None:
                warnings.append(
                    f"{path}: not a command name (letters, digits, '-' and '_' only); skipped"
                )
                continue
            command, problems = read_command_file(path, name, scope)
            warnings += problems
            if command is None:
                continue
            earlier = found.get(name)
            if earlier is not None and earlier.scope != scope:
                command = attrs.evolve(command, overrides=earlier.path)
            found[name] = command
    return found, warnings


def warn_once(session: Session, warnings: Sequence[str]) -> None:
    """Tell the person each warning once per session (commands are found again each time)."""
    warned: set[str] = session.state.extras.setdefault(_WARNED_KEY, set())
    for warning in warnings:
        if warning not in warned:
            warned.add(warning)
            session.notify(warning)


def make_prompt_command(
    spec: MarkdownCommand, *, trusted: bool, source: str, kind: str = "command"
) -> Command:
    """A :class:`Command` whose run expands ``spec``'s body into a prompt.

    ``allowed-tools`` of a project file apply only when the project is trusted;
    they apply while the body's ``!`cmd``` lines run, and for the prompt's run.
    """
    widening = spec.scope == "project" and not trusted and bool(spec.allowed_tools)
    allowed = () if widening else spec.allowed_tools

    async def run(args: str, session: Session) -> CommandResult:
        if widening:
            warn_once(
                session,
                [
                    f"{spec.path}: allowed-tools ignored until you trust this project "
                    "(claw trust); its shell lines need your permission"
                ],
            )
        body = substitute_arguments(spec.body, args)
        if not body.strip():
            return CommandResult(output=f"/{spec.name} is empty ({spec.path})", is_error=True)
        with session.allowing(allowed):
            prompt = await expand_body(session, body)
        return CommandResult(prompt=prompt, allowed_tools=allowed, model=spec.model)

    return Command(
        name=spec.name,
        description=spec.description,
        run=run,
        argument_hint=spec.argument_hint,
        source=source,
    )


def _source(spec: MarkdownCommand) -> str:
    if spec.overrides is not None:
        return f"{spec.scope}, replaces {spec.overrides}"
    return spec.scope


async def load_markdown_commands(session: Session) -> list[Command]:
    """The session's Markdown commands as they are on disk now."""
    folders = [(scope, folder / "commands") for scope, folder in config_dirs(session.state)]
    found, warnings = await trio.to_thread.run_sync(find_markdown_commands, folders)
    warn_once(session, warnings)
    if not found:
        return []
    needs_trust = any(c.scope == "project" and c.allowed_tools for c in found.values())
    trusted = needs_trust and await trio.to_thread.run_sync(
        project_trusted, session.state, session.runtime.settings.trusted_directories
    )
    return [
        make_prompt_command(spec, trusted=trusted, source=_source(spec)) for spec in found.values()
    ]


MARKDOWN_COMMANDS = CommandLoader(name="markdown", load=load_markdown_commands, order=100)


@hookimpl
def register_commands(register: Callable[[Command | CommandLoader], None]) -> None:
    register(MARKDOWN_COMMANDS)
