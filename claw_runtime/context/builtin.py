"""Built-in context processors: the environment and the memory files.

Registered as the ``builtin.context`` plugin, so a user can disable it
(``CLAW_DISABLE_PLUGINS=builtin.context``) and bring their own. This module is
the wiring: where the session keeps what was found (``SessionState.extras``,
keys starting ``builtin.context.``, which ``Session.clear`` drops so a new
conversation looks again), and when the disk is read. What is found lives in
:mod:`claw_runtime.context.memory` and :mod:`claw_runtime.context.environment`.

Memory files are read once per session, on its first request, in a worker
thread (the prompt is rebuilt every turn; the disk is not read again). When a
file tool (Read, Edit, Write, NotebookEdit) has worked on a file below the
project directory, the next request adds the memory files of the directories in
between. What the tools worked on is ``SessionState.file_reads`` (each of them
records the file it read or wrote there, so that a later write can tell whether
it changed): looking at its new keys once per request costs the tool calls
nothing, where a ``post_tool_use`` hook would put every call of every tool
through the hook machinery (~8 us each). The user's config dirs come from the
session's environment (``SessionState.env``: the runtime's, not this process's
``os.environ``), so two runtimes in one process each read their own user's files.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import attrs
import trio

from claw_runtime.context.environment import GitSnapshot, describe_environment, git_snapshot
from claw_runtime.context.memory import (
    TRUSTED_DIRECTORIES_KEY,
    MemoryLoader,
    iter_dirs_between,
    memory_boundary,
    project_memory_dirs,
    render_memory,
    repository_root,
    user_memory_dirs,
)
from claw_runtime.context.processors import ContextProcessor, PromptContext
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import SessionState

__all__ = [
    "ENVIRONMENT",
    "MEMORY",
    "SessionMemory",
    "load_session_memory",
    "memory_report",
    "project_is_trusted",
]

_MEMORY_KEY = "builtin.context.memory"
_ENVIRONMENT_KEY = "builtin.context.environment"
_GIT_KEY = "builtin.context.git"
_LOCATED_KEY = "builtin.context.located"
_TRUSTED_KEY = "builtin.context.trusted"

# ------------------------------------------------------------------ trust


def project_is_trusted(state: SessionState) -> bool:
    """Whether the user trusts the session's project (asked once per session).

    As ``load_settings`` decides: the remembered list, or the runtime's
    ``trusted_directories`` (from the user's own settings files, never the
    project's, or from an embedder's ``Settings``); for a state made without a
    runtime, the user's settings files. Reads the disk.
    """
    cached = state.extras.get(_TRUSTED_KEY)
    if cached is None:
        from claw_runtime.commands.locations import project_trusted

        directories = state.extras.get(TRUSTED_DIRECTORIES_KEY)
        if directories is None:
            directories = _user_trusted_directories(state)
        cached = project_trusted(state, list(directories))
        state.extras[_TRUSTED_KEY] = cached
    return bool(cached)


def _user_trusted_directories(state: SessionState) -> list[str]:
    """``trustedDirectories`` of the user's settings files; an unreadable file adds none."""
    from claw_runtime.config.settings import settings_files

    home = Path(state.env.get("HOME") or Path.home())
    found: list[str] = []
    for file in settings_files(state.cwd, home, state.env):
        if file.in_project:
            continue
        try:
            data = json.loads(file.path.read_bytes())
        except (OSError, ValueError):
            continue
        listed = data.get("trustedDirectories") if isinstance(data, dict) else None
        if isinstance(listed, list):
            found += [p for p in listed if isinstance(p, str)]
    return found


# ------------------------------------------------------------------ memory


@attrs.define(eq=False, kw_only=True)
class SessionMemory:
    """The memory files one session has read, and the directories it still has to look in."""

    project: tuple[Path, ...]
    """The project directory as the session names it, and with its symlinks resolved."""
    loader: MemoryLoader
    section: str = ""
    """The system prompt section, rendered after each change."""
    checked: set[Path] = attrs.field(factory=set)
    files_seen: int = 0
    """How many of the session's ``file_reads`` have been looked at."""

    def new_dirs(self, file_reads: Mapping[Path, object]) -> list[Path]:
        """Directories below the project, down to each file the tools worked on since the
        last call, not looked in yet (no disk access: a symlink in the way is resolved,
        and refused if it leads out of the project, when the directory is read)."""
        if len(file_reads) == self.files_seen:
            return []
        found = []
        for path in itertools.islice(file_reads, self.files_seen, None):
            normal = Path(os.path.normpath(path))
            for top in self.project:
                for directory in iter_dirs_between(top, normal):
                    if directory not in self.checked:
                        self.checked.add(directory)
                        found.append(directory)
        self.files_seen = len(file_reads)
        return found

    def read_dirs(self, directories: Iterable[Path]) -> None:
        """Read the memory files of sub-directories the session worked in (disk access)."""
        before = len(self.loader.files)
        for directory in directories:
            self.loader.read_dir(directory, "project", subdirectory=True)
        if len(self.loader.files) != before:
            self.section = render_memory(self.loader.files)


def load_session_memory(state: SessionState) -> SessionMemory:
    """Find and read the memory files of ``state``'s project, imports included.

    The one discovery function: the MEMORY processor and ``/memory`` both use it.
    Reads the disk (run it in a worker thread from async code).
    """
    from claw_runtime.commands.locations import project_dir

    project = project_dir(state)
    env = state.env
    repository = repository_root(project)
    loader = MemoryLoader(
        boundary=memory_boundary(project, env, state.workspace_roots[1:]),
        found_in=(Path(os.path.realpath(repository)),) if repository is not None else (),
        trusted=lambda: project_is_trusted(state),
        environ=env,
    )
    for directory in user_memory_dirs(env):
        loader.read_dir(directory, "user")
    for directory in project_memory_dirs(project):
        loader.read_dir(directory, "project")
    named = Path(os.path.normpath(project))
    return SessionMemory(
        project=tuple(dict.fromkeys([named, Path(os.path.realpath(project))])),
        loader=loader,
        section=render_memory(loader.files),
    )


def _prepare_memory(state: SessionState) -> None:
    """The memory files, read ahead of the first prompt (blocking: the session's thread)."""
    if state.extras.get(_MEMORY_KEY) is None:
        state.extras[_MEMORY_KEY] = load_session_memory(state)


async def _add_memory(context: PromptContext) -> None:
    state = context.session
    memory: SessionMemory | None = state.extras.get(_MEMORY_KEY)
    if memory is None:
        memory = await trio.to_thread.run_sync(load_session_memory, state)
        state.extras[_MEMORY_KEY] = memory
    directories = memory.new_dirs(state.file_reads)
    if directories:
        await trio.to_thread.run_sync(memory.read_dirs, directories)
    if memory.section:
        context.system_sections.append(memory.section)


def memory_report(state: SessionState) -> str:
    """What ``/memory`` shows: the session's memory files (read now if not yet), imports too.

    Reads the disk when the session has not read its memory yet.
    """
    memory: SessionMemory | None = state.extras.get(_MEMORY_KEY)
    if memory is None:
        memory = load_session_memory(state)
    files, skipped = memory.loader.files, memory.loader.skipped
    if not files and not skipped:
        return (
            "No memory files apply here. Put instructions for the model in CLAUDE.md or "
            "AGENTS.md (this project) or ~/.claude/CLAUDE.md (all your projects)."
        )
    lines = ["Memory files, most general first (read once per session; /clear reads them again):"]
    for file in files:
        kind: str = "imported" if file.imported_by else file.scope
        if file.subdirectory and not file.imported_by:
            kind = "sub-directory"
        size = len(file.text.encode("utf-8"))
        lines.append(f"  {'  ' * file.depth}{file.path}  ({kind}, {size:,} bytes)")
    if skipped:
        lines.append("Not read:")
        for skip in skipped:
            where = f" in {skip.importer}" if skip.importer else ""
            lines.append(f"  {skip.spelled}{where}: {skip.reason}")
    return "\n".join(lines)


# ------------------------------------------------------------------ environment


def _locate(state: SessionState) -> tuple[bool, Path | None, bool]:
    """Whether ``cwd`` is in a repository, the project's repository, and trust if it has one."""
    from claw_runtime.commands.locations import project_dir

    project = project_dir(state)
    repository = repository_root(project)
    in_git = repository is not None if state.cwd == project else bool(repository_root(state.cwd))
    trusted = project_is_trusted(state) if repository is not None else False
    return in_git, repository, trusted


async def _add_environment(context: PromptContext) -> None:
    # Keyed by cwd: Bash may change directory, and the model should know. The git
    # snapshot is of the project, taken once.
    state = context.session
    cwd = state.cwd
    cached = state.extras.get(_ENVIRONMENT_KEY)
    if cached is None or cached[0] != cwd:
        located = state.extras.get(_LOCATED_KEY)  # by ``prepare``, for the first prompt
        if located is not None and located[0] == cwd:
            in_git, repository, trusted = located[1]
        else:
            in_git, repository, trusted = await trio.to_thread.run_sync(_locate, state)
        if _GIT_KEY not in state.extras:
            snapshot: GitSnapshot | None = None
            if repository is not None:
                from claw_runtime.commands.locations import project_dir

                snapshot = await git_snapshot(project_dir(state), state.env, trusted=trusted)
            state.extras[_GIT_KEY] = snapshot
        cached = (cwd, describe_environment(cwd, is_git=in_git, git=state.extras[_GIT_KEY]))
        state.extras[_ENVIRONMENT_KEY] = cached
    context.system_sections.append(cached[1])


def _prepare_environment(state: SessionState) -> None:
    """Where the session is (repository, trust), ahead of the first prompt (blocking)."""
    state.extras[_LOCATED_KEY] = (state.cwd, _locate(state))


ENVIRONMENT = ContextProcessor(
    name="environment", process=_add_environment, order=10, prepare=_prepare_environment
)
MEMORY = ContextProcessor(name="memory", process=_add_memory, order=20, prepare=_prepare_memory)


@hookimpl
def register_context_processors(register: Callable[[ContextProcessor], None]) -> None:
    register(ENVIRONMENT)
    register(MEMORY)
