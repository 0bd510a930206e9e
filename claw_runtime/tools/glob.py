"""The ``Glob`` and ``LS`` tools: find files by pattern, list a directory as a tree.

Both walk with ``os.scandir`` in a worker thread, never enter ``.git``, and
respect ``.gitignore`` files (Git's own semantics through the maintained
``pathspec`` library's ``GitIgnoreSpec``), pruning ignored directories before descending. Glob
sorts matches newest first, as Claude Code does, so recently touched files
come up top.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import trio

from claw_runtime.errors import ToolError
from claw_runtime.hookspecs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec as _Spec
else:
    _Spec = Any

__all__ = ["glob_files", "glob_tool", "ls"]

MAX_GLOB_RESULTS = 100
MAX_LS_ENTRIES = 1000

ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv"})
"""Directories never walked (and never listed by LS) unless named as the path itself."""


@cache
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A glob (``*``, ``?``, ``**``, ``{a,b}``, ``[...]``) as a regex over ``/`` paths."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "{" and "}" in pattern[i:]:
            end = pattern.index("}", i)
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_pattern_regex(o).pattern[:-2] for o in options) + ")")
            i = end + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _load_gitignore(directory: str) -> _Spec | None:
    try:
        with open(os.path.join(directory, ".gitignore"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    from pathspec import GitIgnoreSpec  # imported on first use: most runs never glob

    return GitIgnoreSpec.from_lines(lines)


def walk(root: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """``(path relative to root, entry)`` for every file not ignored; blocking."""
    stack: list[tuple[str, str, list[tuple[str, _Spec]]]] = [(root, "", [])]
    while stack:
        directory, relative, specs = stack.pop()
        own = _load_gitignore(directory)
        if own is not None:
            specs = [*specs, (relative, own)]
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            rel = f"{relative}{name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if specs and _ignored(specs, rel, is_dir):
                continue
            if is_dir:
                if name not in ALWAYS_SKIPPED:
                    stack.append((entry.path, rel + "/", specs))
            else:
                yield rel, entry


def _ignored(specs: list[tuple[str, _Spec]], rel: str, is_dir: bool) -> bool:
    for base, spec in specs:
        local = rel[len(base) :]
        if spec.match_file(local + "/" if is_dir else local):
            return True
    return False


def glob_files(root: Path, pattern: str) -> list[tuple[float, str]]:
    """``(mtime, absolute path)`` of files under ``root`` matching ``pattern``; blocking."""
    regex = _pattern_regex(pattern.removeprefix("./"))
    anchored = "/" in pattern.removeprefix("./")
    found = []
    for rel, entry in walk(str(root)):
        candidate = rel if anchored else rel.rsplit("/", 1)[-1]
        if regex.match(candidate):
            try:
                found.append((entry.stat().st_mtime, entry.path))
            except OSError:
                continue
    return found


def _directory(ctx: ToolContext, path: str | None) -> Path:
    root = ctx.resolve(path) if path else ctx.session.cwd
    if not root.exists():
        raise ToolError(f"Directory does not exist: {root}")
    if not root.is_dir():
        raise ToolError(f"{root} is a file, not a directory.")
    return root


@tool(name="Glob", read_only=True)
async def glob_tool(
    pattern: Annotated[str, Param(description='A glob such as "**/*.py" or "src/**/*.{ts,tsx}"')],
    ctx: ToolContext,
    path: Annotated[
        str | None, Param(description="Directory to search (default: the working directory)")
    ] = None,
) -> str:
    """Find files by name pattern, newest first. Respects .gitignore; skips .git.

    A pattern without "/" matches file names at any depth ("*.py" finds every Python
    file); with "/" it matches paths relative to the search directory.
    """
    root = _directory(ctx, path)
    found = await trio.to_thread.run_sync(glob_files, root, pattern)
    if not found:
        return f"No files match {pattern} under {root}."
    found.sort(key=lambda item: (-item[0], item[1]))
    lines = [p for _, p in found[:MAX_GLOB_RESULTS]]
    if len(found) > MAX_GLOB_RESULTS:
        lines.append(
            f"[{len(found) - MAX_GLOB_RESULTS} more files not shown: "
            "use a narrower pattern or path]"
        )
    return "\n".join(lines)


def _tree(root: Path, ignore: list[str]) -> tuple[list[str], int]:
    patterns = [_pattern_regex(p) for p in ignore]
    entries: list[tuple[str, bool]] = []
    for rel, _entry in walk(str(root)):
        parts = rel.split("/")
        if any(p.match(part) for p in patterns for part in parts) or any(
            p.match(rel) for p in patterns
        ):
            continue
        entries.append((rel, False))
    entries.sort()
    lines: list[str] = [f"- {root}/"]
    shown_dirs: set[str] = set()
    total = len(entries)
    for rel, _ in entries[:MAX_LS_ENTRIES]:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in shown_dirs:
                shown_dirs.add(prefix)
                lines.append(f"{'  ' * depth}- {parts[depth - 1]}/")
        lines.append(f"{'  ' * len(parts)}- {parts[-1]}")
    return lines, total


@tool(name="LS", read_only=True)
async def ls(
    path: Annotated[str, Param(description="Absolute path of the directory to list")],
    ctx: ToolContext,
    ignore: Annotated[
        list[str] | None, Param(description="Glob patterns of names to leave out")
    ] = None,
) -> str:
    """List the files under a directory as a tree. Respects .gitignore; skips .git."""
    root = _directory(ctx, path)
    lines, total = await trio.to_thread.run_sync(_tree, root, ignore or [])
    if total > MAX_LS_ENTRIES:
        lines.append(
            f"[{total - MAX_LS_ENTRIES} more files not listed: list a subdirectory, or use Glob]"
        )
    if total == 0:
        lines.append("  (no files)")
    return "\n".join(lines)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(glob_tool)
    register(ls)
