"""Sub-agent types: what the ``Task`` tool's ``subagent_type`` names.

An :class:`AgentDefinition` says what a sub-agent is for (its
``description``, which the model reads to choose one), its system prompt, the
tools it may see, its model, permission mode, turn budget and isolation.
They come from four places, later ones replacing earlier ones of the same name:

1. built-ins (``general-purpose``, ``Explore``, ``Plan``), registered by the
   built-in plugin ``builtin.agents`` through the same hook as
2. plugins' ``register_agents(register)``;
3. the user's Markdown files: ``~/.claude/agents/*.md`` and ``~/.claw/agents/*.md``;
4. the project's: ``.claude/agents/*.md`` and ``.claw/agents/*.md``.

A file is Claude Code's shape: YAML frontmatter, then the system prompt::

    ---
    name: reviewer
    description: Reviews a diff for bugs. Use after changing code.
    tools: Read, Grep, Glob          # or a YAML list; absent: every tool
    model: haiku                     # or "inherit" (the default)
    permissionMode: plan             # default, acceptEdits, plan, bypassPermissions
    maxTurns: 20
    isolation: worktree              # claw's: work in a git worktree of its own
    ---
    You are a careful code reviewer...

**Trust.** A project's files may narrow what a sub-agent may do but not widen
it until the user trusts the project (``claw trust``): in an untrusted
project, a definition's ``permissionMode`` is honoured only when it is
``default`` or ``plan``; anything else (``acceptEdits``, ``bypassPermissions``)
is dropped with a warning and the sub-agent uses its parent's mode. ``tools``
can only hide tools (every call still goes through the parent's permission
rules), so it applies everywhere.

Frontmatter is parsed by :func:`claw_runtime.commands.markdown.parse_frontmatter`
and the folders come from :func:`claw_runtime.commands.locations.config_dirs`,
exactly as for Markdown commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import attrs

from claw_runtime.config.settings import PermissionModeName

if TYPE_CHECKING:
    from claw_runtime.plugins import PluginHost
    from claw_runtime.tooling import SessionState

__all__ = [
    "BUILTIN_AGENTS",
    "AgentCatalog",
    "AgentDefinition",
    "AgentScope",
    "PermissionModeName",
    "agent_folders",
    "file_definitions",
    "find_agent_files",
    "load_agent_catalog",
    "merge_definitions",
    "plugin_agents",
    "read_agent_file",
]

AgentScope = Literal["built-in", "plugin", "user", "project"]
_MODES: tuple[str, ...] = get_args(PermissionModeName)
_NARROW_MODES = frozenset({"default", "plan"})
"""Modes an untrusted project's definition may ask for: they widen nothing."""

MAX_AGENT_FILE_BYTES = 256 * 1024


@attrs.frozen(kw_only=True)
class AgentDefinition:
    """One kind of sub-agent.

    Args:
        name: what ``subagent_type`` says (``Explore``, ``reviewer``).
        description: when to use it; the model reads this to choose.
        system_prompt: the sub-agent's system prompt (a file's body).
        tools: the tools it sees, by name (``None``: all its parent's; ``Agent``
            and ``Task`` are one tool).
        model: a model or alias for it (``None``: its parent's).
        permission_mode: its mode (``None``: its parent's).
        max_turns: its turn budget (``None``: settings' ``subagents.maxTurns``).
        isolation: ``"worktree"``: work in a git worktree on a branch of its own.
    """

    name: str
    description: str
    system_prompt: str = ""
    tools: tuple[str, ...] | None = None
    model: str | None = None
    permission_mode: PermissionModeName | None = None
    max_turns: int | None = None
    isolation: Literal["worktree"] | None = None
    scope: AgentScope = "plugin"
    source: str = ""
    """Where it came from, for ``claw agents``: ``built-in``, a plugin's name, a file."""
    path: Path | None = None
    overrides: str | None = None
    """The ``source`` of the definition of the same name this one replaces."""


_READ_ONLY_TOOLS = ("Read", "Glob", "Grep", "LS", "WebFetch", "NotebookRead", "BashOutput")

BUILTIN_AGENTS: tuple[AgentDefinition, ...] = (
    AgentDefinition(
        name="general-purpose",
        description=(
            "General-purpose agent for researching complex questions, searching for code, "
            "and carrying out multi-step tasks. Use it when a search may take several tries, "
            "or to do independent pieces of work in parallel."
        ),
        system_prompt=(
            "You are a sub-agent of claw, given one task by another agent. Do the task with "
            "the tools you have, completely, then answer with a concise report of what you "
            "found or did: your final message is all the other agent will see. Give file "
            "paths as absolute paths."
        ),
        scope="built-in",
        source="built-in",
    ),
    AgentDefinition(
        name="Explore",
        description=(
            "Fast read-only agent for exploring a codebase: finding files by pattern, "
            "searching code for keywords, answering questions about how the code works. "
            "It cannot change files."
        ),
        system_prompt=(
            "You are a read-only exploration sub-agent of claw. Find what you were asked "
            "for with Glob, Grep and Read, searching broadly and in parallel where you can. "
            "You cannot change anything. Answer with a concise report: the relevant file "
            "paths (absolute), line numbers and what you found."
        ),
        tools=_READ_ONLY_TOOLS,
        permission_mode="plan",
        scope="built-in",
        source="built-in",
    ),
    AgentDefinition(
        name="Plan",
        description=(
            "Read-only agent that researches the code and designs an implementation plan: "
            "the steps, the files to change, the risks. Use it before a complex change."
        ),
        system_prompt=(
            "You are a planning sub-agent of claw. Read the relevant code (you cannot change "
            "anything) and answer with a step-by-step implementation plan: which files to "
            "change and how, in what order, what to test, and what could go wrong."
        ),
        tools=_READ_ONLY_TOOLS,
        permission_mode="plan",
        scope="built-in",
        source="built-in",
    ),
)
"""The built-in agent types (registered by the ``builtin.agents`` plugin)."""


@attrs.frozen(kw_only=True)
class AgentCatalog:
    """Every agent type a session can start, by name, and what was wrong with the files."""

    agents: Mapping[str, AgentDefinition] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()

    def find(self, name: str) -> AgentDefinition | None:
        """The agent called ``name`` (case-insensitive when there is no exact match)."""
        found = self.agents.get(name)
        if found is None:
            lowered = {k.lower(): v for k, v in self.agents.items()}
            found = lowered.get(name.lower())
        return found


# ------------------------------------------------------------------------- files


def _tool_names(value: Any, path: Path, warnings: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        names = [v.strip() for v in value.replace("\n", ",").split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = [v.strip() for v in value]
    else:
        warnings.append(f"{path}: tools must be a comma-separated string or a list; ignored")
        return None
    names = [n for n in names if n]
    if names == ["*"]:
        return None
    return tuple(names)


def _positive_int(value: Any, key: str, path: Path, warnings: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    warnings.append(f"{path}: {key} must be a positive whole number; ignored")
    return None


def read_agent_file(
    path: Path, scope: AgentScope, *, trusted: bool = True
) -> tuple[AgentDefinition | None, list[str]]:
    """One definition file parsed, and what was wrong with it (blocking file IO).

    ``trusted`` says whether a project file may widen permissions (see the module
    docstring); user files always may.
    """
    from claw_runtime.commands.markdown import first_line, parse_frontmatter
    from claw_runtime.text import clean_text

    try:
        raw = path.read_bytes()[: MAX_AGENT_FILE_BYTES + 1]
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc.strerror or exc}); skipped"]
    if len(raw) > MAX_AGENT_FILE_BYTES:
        return None, [f"{path}: larger than {MAX_AGENT_FILE_BYTES // 1024} KB; skipped"]
    text = clean_text(raw.decode("utf-8", errors="replace")).lstrip("\ufeff")
    meta, body, warnings = parse_frontmatter(text, path)
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        return None, [*warnings, f"{path}: name must be text; skipped"]
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        description = first_line(body) or name
        warnings.append(f"{path}: no description; the model is shown {description!r}")
    model = meta.get("model")
    if model is not None and not isinstance(model, str):
        warnings.append(f"{path}: model must be text; ignored")
        model = None
    if isinstance(model, str) and model.strip().lower() in ("", "inherit"):
        model = None
    mode = meta.get("permissionMode")
    if mode is not None and mode not in _MODES:
        warnings.append(f"{path}: permissionMode must be one of {', '.join(_MODES)}; ignored")
        mode = None
    if mode is not None and scope == "project" and not trusted and mode not in _NARROW_MODES:
        warnings.append(
            f"{path}: permissionMode {mode} ignored until you trust this project (claw trust)"
        )
        mode = None
    isolation = meta.get("isolation")
    if isolation is not None and isolation != "worktree":
        warnings.append(f"{path}: isolation must be 'worktree'; ignored")
        isolation = None
    definition = AgentDefinition(
        name=name.strip(),
        description=description.strip(),
        system_prompt=body.strip("\n"),
        tools=_tool_names(meta.get("tools"), path, warnings),
        model=model.strip() if isinstance(model, str) else None,
        permission_mode=mode,
        max_turns=_positive_int(meta.get("maxTurns"), "maxTurns", path, warnings),
        isolation=isolation,
        scope=scope,
        source=str(path),
        path=path,
    )
    return definition, warnings


def find_agent_files(
    folders: Sequence[tuple[AgentScope, Path]], *, trusted: bool = True
) -> tuple[list[AgentDefinition], list[str]]:
    """Every definition in ``folders`` (``*.md``, not recursive), in folder order.

    Blocking file IO: call it in a thread.
    """
    found: list[AgentDefinition] = []
    warnings: list[str] = []
    for scope, folder in folders:
        try:
            paths = sorted(p for p in folder.glob("*.md") if p.is_file())
        except OSError:
            continue
        for path in paths:
            definition, problems = read_agent_file(path, scope, trusted=trusted)
            warnings += problems
            if definition is not None:
                found.append(definition)
    return found, warnings


def agent_folders(state: SessionState) -> list[tuple[AgentScope, Path]]:
    """``agents/`` in each of the session's config folders, user ones first."""
    from claw_runtime.commands.locations import config_dirs

    return [(scope, folder / "agents") for scope, folder in config_dirs(state)]


# ----------------------------------------------------------------------- plugins


def plugin_agents(host: PluginHost) -> tuple[list[AgentDefinition], list[str]]:
    """What plugins register through ``register_agents``, tagged with their plugin.

    A plugin whose hook raises is disabled by the host (as for every
    registration hook); one that registers something else is reported.
    """
    from claw_runtime.errors import PluginError

    found: list[AgentDefinition] = []
    warnings: list[str] = []
    if not host.has_implementations("register_agents"):
        return found, warnings
    for plugin, function, argnames in host.implementations("register_agents"):
        info = host.infos.get(plugin)
        builtin = info is not None and info.builtin

        def register(item: AgentDefinition, plugin: str = plugin, builtin: bool = builtin) -> None:
            if not isinstance(item, AgentDefinition):
                problem = f"register_agents expects an AgentDefinition, got {item!r}"
                host.errors.append(PluginError(plugin, "register_agents", problem))
                warnings.append(f"plugin {plugin}: {problem}")
                return
            if not builtin:
                item = attrs.evolve(item, scope="plugin", source=f"plugin {plugin}")
            found.append(item)

        try:
            function(*[{"register": register}[a] for a in argnames])
        except Exception as exc:
            host.fail(plugin, "register_agents", exc)
    return found, warnings


def merge_definitions(layers: Iterable[AgentDefinition]) -> dict[str, AgentDefinition]:
    """Later definitions replace earlier ones of the same name (noting what they replace)."""
    merged: dict[str, AgentDefinition] = {}
    for definition in layers:
        earlier = merged.get(definition.name)
        if earlier is not None:
            definition = attrs.evolve(definition, overrides=earlier.source)
        merged[definition.name] = definition
    return merged


def file_definitions(
    state: SessionState, trusted: Callable[[], bool]
) -> tuple[list[AgentDefinition], list[str]]:
    """The user's then the project's definition files (blocking file IO: use a thread).

    ``trusted`` is asked only when a project file asks for a permission mode
    that would widen what claw may do.
    """
    folders = agent_folders(state)
    files, warnings = find_agent_files(folders, trusted=True)
    widening = [
        d for d in files if d.scope == "project" and d.permission_mode not in (None, *_NARROW_MODES)
    ]
    if widening and not trusted():
        files, warnings = find_agent_files(folders, trusted=False)
    return files, warnings


def load_agent_catalog(
    state: SessionState, host: PluginHost, *, trusted: Callable[[], bool]
) -> AgentCatalog:
    """Built-ins and plugins' agents, then the user's files, then the project's.

    Blocking file IO (``claw agents``); a session reads them in a thread.
    """
    registered, warnings = plugin_agents(host)
    files, file_warnings = file_definitions(state, trusted)
    return AgentCatalog(
        agents=merge_definitions([*registered, *files]),
        warnings=(*warnings, *file_warnings),
    )
