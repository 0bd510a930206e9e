"""The ``Glob`` and ``LS`` tools: find files by pattern, list a directory as a tree.

Both learn which files exist from ``rg --files``, run with the flags Grep uses
(see :mod:`claw_runtime.tools._files_listing`), so the three tools agree: hidden
files are seen, ``.git`` is never entered, and ``.gitignore`` (nested ones
too), ``.ignore``, ``.rgignore``, ``.git/info/exclude`` and the global git
excludes are honoured the way ripgrep honours them. Glob then matches its
pattern against the paths in Python and sorts matches newest first, as Claude
Code does, so recently touched files come up top. Files a read deny rule
covers are never shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Annotated, TypeVar

import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._files_listing import (
    DenyFilter,
    list_files,
    refuse_denied_root,
    require_rg,
)

__all__ = ["glob_files", "glob_tool", "ls"]

_T = TypeVar("_T")

MAX_GLOB_RESULTS = 100
MAX_LS_ENTRIES = 1000


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


def _relative(root: str, paths: list[str]) -> list[str]:
    """ripgrep's ``ROOT/rel`` paths as ``rel`` (``/``-separated)."""
    cut = len(root.rstrip(os.sep)) + 1
    if os.sep == "/":
        return [p[cut:] for p in paths]
    return [p[cut:].replace(os.sep, "/") for p in paths]


def _first_visible(
    items: Iterable[tuple[_T, str]], hides: Callable[[str], bool], limit: int
) -> tuple[list[_T], bool]:
    """Up to ``limit`` items whose path ``hides`` lets through, in order; and whether more exist.

    Only as many paths are checked against the deny rules as it takes, so a
    search matching 100,000 files costs 101 checks, not 100,000.
    """
    shown: list[_T] = []
    for item, path in items:
        if hides(path):
            continue
        if len(shown) == limit:
            return shown, True
        shown.append(item)
    return shown, False


def _newest_matching(
    root: str, paths: list[str], pattern: str, hides: Callable[[str], bool], limit: int
) -> tuple[list[str], bool]:
    """The newest ``limit`` files matching ``pattern`` and not hidden; blocking (stats)."""
    pattern = pattern.removeprefix("./")
    match = _pattern_regex(pattern).match
    if os.sep != "/":
        rels = _relative(root, paths)
        candidates = [r if "/" in pattern else r.rpartition("/")[2] for r in rels]
        hits = [p for p, c in zip(paths, candidates, strict=True) if match(c)]
    elif "/" in pattern:  # against the path relative to root, matched in place
        cut = len(root.rstrip(os.sep)) + 1
        hits = [p for p in paths if match(p, cut)]
    else:  # against the file name
        hits = [p for p in paths if match(p, p.rfind("/") + 1)]
    found = []
    stat = os.stat
    for path in hits:
        try:
            found.append((-stat(path).st_mtime, path))
        except OSError:
            continue  # gone since ripgrep listed it
    found.sort()
    return _first_visible(((path, path) for _, path in found), hides, limit)


async def glob_files(
    root: str, pattern: str, hides: Callable[[str], bool] | None = None, limit: int = 100
) -> tuple[list[str], bool]:
    """Files under ``root`` matching ``pattern``, newest first (ties by path), at most ``limit``.

    Also whether more files match. ``root`` is an absolute, normalised
    directory. A pattern without ``/`` matches file names at any depth; with
    ``/``, paths relative to ``root``. Files that ``hides`` are left out.
    """
    paths = await list_files(require_rg(), root)
    return await trio.to_thread.run_sync(
        _newest_matching, root, paths, pattern, hides or (lambda path: False), limit
    )


def _directory(ctx: ToolContext, path: str | None, deny: DenyFilter) -> str:
    """The absolute, normalised directory to search; a ToolError if it cannot be."""
    root = os.path.normpath(ctx.resolve(path) if path else ctx.session.cwd)
    refuse_denied_root(deny, root)
    if not os.path.exists(root):
        raise ToolError(f"Directory does not exist: {root}")
    if not os.path.isdir(root):
        raise ToolError(f"{root} is a file, not a directory.")
    return root


@tool(name="Glob", read_only=True, reads=("path",))
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
    deny = DenyFilter(ctx.read_denied)
    root = _directory(ctx, path, deny)
    shown, more = await glob_files(root, pattern, deny.hides, MAX_GLOB_RESULTS)
    if not shown:
        return f"No files match {pattern} under {root}."
    if more:
        shown.append(
            f"[Only the newest {MAX_GLOB_RESULTS} matches are shown: "
            "use a narrower pattern or path]"
        )
    return "\n".join(shown)


def _tree(
    root: str, paths: list[str], ignore: list[str], hides: Callable[[str], bool]
) -> tuple[list[str], bool]:
    """The tree's lines, and whether files were left out for length; blocking."""
    patterns = [_pattern_regex(p) for p in ignore]
    entries: list[tuple[str, str]] = []
    for path, rel in zip(paths, _relative(root, paths), strict=True):
        parts = rel.split("/")
        if any(p.match(part) for p in patterns for part in parts) or any(
            p.match(rel) for p in patterns
        ):
            continue
        entries.append((rel, path))
    entries.sort()
    shown, more = _first_visible(entries, hides, MAX_LS_ENTRIES)
    lines: list[str] = [f"- {root}/"]
    shown_dirs: set[str] = set()
    for rel in shown:
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in shown_dirs:
                shown_dirs.add(prefix)
                lines.append(f"{'  ' * depth}- {parts[depth - 1]}/")
        lines.append(f"{'  ' * len(parts)}- {parts[-1]}")
    if not shown:
        lines.append("  (no files)")
    return lines, more


@tool(name="LS", read_only=True, reads=("path",))
async def ls(
    path: Annotated[str, Param(description="Absolute path of the directory to list")],
    ctx: ToolContext,
    ignore: Annotated[
        list[str] | None, Param(description="Glob patterns of names to leave out")
    ] = None,
) -> str:
    """List the files under a directory as a tree. Respects .gitignore; skips .git."""
    deny = DenyFilter(ctx.read_denied)
    root = _directory(ctx, path, deny)
    paths = await list_files(require_rg(), root)
    lines, more = await trio.to_thread.run_sync(_tree, root, paths, ignore or [], deny.hides)
    if more:
        lines.append(
            f"[Only the first {MAX_LS_ENTRIES} files are listed: list a subdirectory, or use Glob]"
        )
    return "\n".join(lines)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(glob_tool)
    register(ls)
