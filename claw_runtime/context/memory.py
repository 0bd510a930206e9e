"""Memory files: where ``CLAUDE.md`` and its kin are found, and their ``@path`` imports.

The files are the ones Claude Code and other agents' users already write:
``CLAUDE.md``, ``AGENTS.md``, ``CLAW.md`` and ``CLAUDE.local.md`` in the user's
config dirs (``~/.claude``, ``~/.claw``), in the project directory and in each
directory above it up to the repository root (the nearest directory holding a
``.git``; outside a repository, the project directory alone), and, as the
session works there, in the directories below the project.

A memory file may import others with Claude Code's syntax (``@docs/style.md``,
``@~/notes.md``, ``@/abs/path.md``): relative paths start at the importing file's
directory, imports nest up to :data:`MAX_IMPORT_DEPTH` hops, a file already on the
import chain is not imported again (the prompt says so), and ``@`` inside code
spans, fenced code blocks or e-mail addresses is not an import.

The prompt goes to the model provider, so what a memory file may pull into it is
a security boundary (see :class:`MemoryLoader`): a hostile repository's
``CLAUDE.md`` saying ``@~/.ssh/id_rsa``, or a ``CLAUDE.md`` that is a symlink to
it, must not send the key away. Files of the project (and everything they
import) must resolve inside the project's boundary (:func:`memory_boundary`)
unless the user trusts the project; the user's own memory files may import
anything, since the user wrote them.

Everything here reads the disk: callers in async code run it in a worker thread.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import attrs

from claw_runtime.logs import get_logger
from claw_runtime.text import clean_text

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_IMPORT_DEPTH",
    "MEMORY_NAMES",
    "MemoryFile",
    "MemoryLoader",
    "SkippedImport",
    "find_imports",
    "iter_dirs_between",
    "memory_boundary",
    "project_memory_dirs",
    "render_memory",
    "repository_root",
    "user_memory_dirs",
]

log = get_logger(__name__)

TRUSTED_DIRECTORIES_KEY = "trust.directories"
"""``SessionState.extras`` key: the directories the runtime's settings trust
(``trustedDirectories`` of the user's settings files, or what an embedder passed as
``Settings(trusted_directories=...)``). :meth:`Runtime.new_session
<claw_runtime.runtime.Runtime.new_session>` sets it; the import rule reads it, with the
remembered list (``claw trust``). A state made without a runtime has none: the user's
settings files are read instead."""

MEMORY_NAMES = ("CLAUDE.md", "AGENTS.md", "CLAW.md", "CLAUDE.local.md")
"""The names looked for in each directory, in the order they are read: the shared
files first, the personal ``CLAUDE.local.md`` last (later text weighs more)."""

MAX_IMPORT_DEPTH = 5
"""How many hops of ``@path`` imports are followed (Claude Code's limit)."""

MAX_FILE_BYTES = 128 * 1024
"""A memory file or import longer than this is cut there (with a note): a stray
``@package-lock.json`` must not fill the context window."""

Scope = Literal["user", "project"]
"""Whose word a file is: the user's (their config dirs, and what those import from
outside the project) or the project's (anything the repository could have written)."""


@attrs.frozen(kw_only=True)
class MemoryFile:
    """One memory file, or one file a memory file imported, as read."""

    path: Path
    """As found or as the import spelled it (absolute), for people to read."""
    scope: Scope
    text: str
    imported_by: Path | None = None
    depth: int = 0
    """0 for a file found by name; the number of import hops otherwise."""
    subdirectory: bool = False
    """Found because the session worked in its directory (below the project)."""
    notes: tuple[str, ...] = ()
    """What the model should know about this file's imports (cycles, refusals)."""


@attrs.frozen(kw_only=True)
class SkippedImport:
    """An ``@path`` that was not imported, or a memory file that was not read, and why."""

    spelled: str
    importer: Path | None
    reason: str


def repository_root(directory: Path) -> Path | None:
    """The nearest directory at or above ``directory`` holding ``.git`` (a dir or a file)."""
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def user_memory_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Claude Code's and claw's user dirs, as ``config.settings_files`` finds them."""
    home = _home(environ)
    claude = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    claw = Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw")
    return [claude, claw]


def project_memory_dirs(project: Path) -> list[Path]:
    """The directories whose memory files apply in ``project``, outermost first.

    From the repository root down to ``project``; only ``project`` when it is not
    inside a repository. Never above the repository root: a ``CLAUDE.md`` in a
    parent directory (a shared ``/tmp``, another user's checkout) is not this
    project's.
    """
    root = repository_root(project)
    if root is None:
        return [project]
    below = [project, *project.parents]
    return list(reversed(below[: below.index(root) + 1]))


def memory_boundary(
    project: Path, environ: Mapping[str, str], extra_roots: Iterable[Path] = ()
) -> tuple[Path, ...]:
    """Resolved directories the project's memory files (and their imports) may read.

    The repository root (the project directory outside a repository), plus
    ``extra_roots`` (the workspace directories the user added). A repository
    that is the user's home directory or above it (dotfiles kept in git) does not
    count: its boundary would hold ``~/.ssh``, so the project directory stands in.
    """
    home = _resolved(_home(environ))
    root = repository_root(project)
    if root is not None:
        resolved = _resolved(root)
        if home is not None and (resolved == home or resolved in home.parents):
            root = None
    found = [_resolved(root if root is not None else project)]
    found += [_resolved(p) for p in extra_roots]
    return tuple(dict.fromkeys(p for p in found if p is not None))


# ------------------------------------------------------------------ imports

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_IMPORT = re.compile(r"(?<!\S)@((?:\\ |[^\s\\])+)")
_PATH_START = re.compile(r"^(?:\./|\.\./|~/|/[^/\s]|[A-Za-z0-9_.-])")
_TRAILING_PUNCTUATION = ".,;:!?)]}\"'"


def find_imports(text: str) -> list[str]:
    """The ``@path`` imports of a Markdown text, as spelled (``\\ `` unescaped), in order.

    Not inside fenced code blocks or code spans; an ``@`` must start a word, so
    ``user@example.com`` is no import. Indented code blocks are not recognised
    (an indented ``@path`` is an import).
    """
    found: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        for match in _IMPORT.finditer(_CODE_SPAN.sub(" ", line)):
            spelled = match.group(1).replace("\\ ", " ")
            if _PATH_START.match(spelled):
                found.append(spelled)
    return found


def _import_target(spelled: str, importer: Path, environ: Mapping[str, str]) -> Path:
    """Where ``@spelled`` in ``importer`` points (not resolved: symlinks stay)."""
    if spelled.startswith("~/"):
        return _home(environ) / spelled[2:]
    path = Path(spelled)
    return path if path.is_absolute() else importer.parent / path


# ------------------------------------------------------------------ the loader


@attrs.define(eq=False, kw_only=True)
class MemoryLoader:
    """Reads memory files and their imports under one session's rules.

    Each file is included once (by resolved path), in the order found, each
    followed by what it imports. The rule for the project's files:

    * a project memory file, and any file it imports, must resolve (symlinks
      followed) inside :attr:`boundary`, unless :attr:`trusted` says the user
      trusts the project;
    * the user's memory files may import anything; what they import from inside
      the boundary counts as the project's (it could be a hostile file), so its
      own imports follow the project's rule.

    Read deny rules (``permissions.deny`` ``Read(...)``) are not consulted here;
    the boundary is what keeps an untrusted project's files from reaching
    secrets elsewhere.

    Args:
        trusted: whether the user trusts the project; asked only when a project
            file reaches outside the boundary, at most once.
    """

    boundary: tuple[Path, ...]
    found_in: tuple[Path, ...] = ()
    """Resolved directories where a memory file found by name may also live: the
    repository root when :func:`memory_boundary` left it out (a home directory kept
    in git), so ``~/CLAUDE.md`` is still read while its imports stay confined."""
    trusted: Callable[[], bool]
    environ: Mapping[str, str]
    files: list[MemoryFile] = attrs.field(factory=list)
    skipped: list[SkippedImport] = attrs.field(factory=list)
    _seen: set[Path] = attrs.field(factory=set)
    _trust: bool | None = None

    def read_dir(self, directory: Path, scope: Scope, *, subdirectory: bool = False) -> None:
        """Read the memory files of ``directory`` (the names of :data:`MEMORY_NAMES`)."""
        for name in MEMORY_NAMES:
            path = directory / name
            if path.is_file():
                self._include(path, str(path), scope, None, (), subdirectory)

    def _allowed(self, real: Path, scope: Scope, found: bool) -> bool:
        if scope == "user" or self._inside(real):
            return True
        if found and any(real == d or d in real.parents for d in self.found_in):
            return True
        if self._trust is None:
            self._trust = self.trusted()
        return self._trust

    def _inside(self, real: Path) -> bool:
        return any(real == b or b in real.parents for b in self.boundary)

    def _include(
        self,
        path: Path,
        spelled: str,
        scope: Scope,
        importer: Path | None,
        chain: tuple[Path, ...],
        subdirectory: bool,
    ) -> str | None:
        """Read ``path`` and its imports; why not, for the importer's note, when refused.

        ``spelled``: how the importer named it (``@~/notes.md``), for the reports.
        """
        real = _resolved(path)
        if real is None:
            self._skip(spelled, importer, "cannot be resolved")
            return None
        if real in chain:
            return self._skip(spelled, importer, "it is already on this import chain (a cycle)")
        if real in self._seen:
            return None  # already in the prompt, from another file
        if not self._allowed(real, scope, found=importer is None):
            reason = "outside the project, which you have not trusted (claw trust)"
            return self._skip(spelled, importer, reason)
        if len(chain) > MAX_IMPORT_DEPTH:
            reason = f"imports nest deeper than {MAX_IMPORT_DEPTH} levels"
            return self._skip(spelled, importer, reason)
        text, problem = _read_text(real)
        if text is None:
            reason = problem or "cannot be read"
            self._skip(spelled, importer, reason)
            return None if reason == "not found" else reason
        self._seen.add(real)
        index = len(self.files)
        self.files.append(MemoryFile(path=path, scope=scope, text="", imported_by=importer))
        notes = [problem] if problem else []
        for spelled_import in find_imports(text):
            target = self._existing_target(spelled_import, path)
            if target is None:
                self._skip(f"@{spelled_import}", path, "not found")
                continue
            child_scope = scope
            target_real = _resolved(target)
            if scope == "user" and target_real is not None and self._inside(target_real):
                child_scope = "project"  # a project file: its imports follow the project's rule
            note = self._include(
                target, f"@{spelled_import}", child_scope, path, (*chain, real), subdirectory
            )
            if note:
                notes.append(f"@{spelled_import} was not imported: {note}")
        self.files[index] = MemoryFile(
            path=path,
            scope=scope,
            text=text,
            imported_by=importer,
            depth=len(chain),
            subdirectory=subdirectory,
            notes=tuple(notes),
        )
        return None

    def _existing_target(self, spelled: str, importer: Path) -> Path | None:
        """The file ``@spelled`` names; trailing punctuation (end of a sentence) dropped
        when the path as spelled does not exist."""
        target = _import_target(spelled, importer, self.environ)
        if target.exists():
            return target
        trimmed = spelled.rstrip(_TRAILING_PUNCTUATION)
        if trimmed and trimmed != spelled:
            target = _import_target(trimmed, importer, self.environ)
            if target.exists():
                return target
        return None

    def _skip(self, spelled: str, importer: Path | None, reason: str) -> str:
        self.skipped.append(SkippedImport(spelled=spelled, importer=importer, reason=reason))
        log.info("memory file skipped", path=spelled, importer=str(importer), reason=reason)
        return reason


def _read_text(path: Path) -> tuple[str | None, str | None]:
    """The text of a regular file (cut at :data:`MAX_FILE_BYTES`), and a problem if any.

    Only regular files are opened (``O_NONBLOCK``, so a FIFO put in place of the
    file between the check and the open cannot hang the session); a file with NUL
    bytes is not text and is not included.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None, "not found"
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, "not a regular file"
        data = os.read(fd, MAX_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    finally:
        os.close(fd)
    if b"\0" in data:
        return None, "not a text file"
    problem = None
    if len(data) > MAX_FILE_BYTES:
        data = data[:MAX_FILE_BYTES]
        problem = f"cut at {MAX_FILE_BYTES // 1024} KiB"
    return clean_text(data.decode("utf-8", errors="replace")).strip(), problem


# ------------------------------------------------------------------ rendering

_HEADER = (
    "# Memory\n"
    "Instructions from the user's and the project's memory files (CLAUDE.md, AGENTS.md, "
    "CLAW.md, CLAUDE.local.md) and the files they import. Follow them."
)


def _label(file: MemoryFile) -> str:
    if file.imported_by is not None:
        return f"imported by {file.imported_by}"
    if file.scope == "user":
        return "the user's instructions for all projects"
    if file.subdirectory:
        return "instructions for files in this directory"
    if file.path.name == "CLAUDE.local.md":
        return "the user's private instructions for this project"
    return "project instructions"


def render_memory(files: Sequence[MemoryFile]) -> str:
    """The system prompt section for ``files``; empty when none has any text."""
    parts = []
    for file in files:
        body = file.text
        if file.notes:
            body += "".join(f"\n\n(claw: {note})" for note in file.notes)
        if body.strip():
            parts.append(f"Contents of {clean_text(str(file.path))} ({_label(file)}):\n\n{body}")
    if not parts:
        return ""
    return "\n\n".join([_HEADER, *parts])


# ------------------------------------------------------------------ helpers


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def _resolved(path: Path) -> Path | None:
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def iter_dirs_between(top: Path, path: Path) -> Iterator[Path]:
    """The directories strictly below ``top`` down to ``path``'s own directory, top first.

    Nothing when ``path`` is not below ``top``.
    """
    directory = path.parent
    if directory == top or top not in directory.parents:
        return
    chain = [directory, *directory.parents]
    yield from reversed(chain[: chain.index(top)])
