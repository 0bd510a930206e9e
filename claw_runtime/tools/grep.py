"""The ``Grep`` tool: search file contents with ripgrep.

ripgrep comes with claw-runtime (the ``ripgrep`` wheel); see
:mod:`claw_runtime.tools._files_listing` for how ``rg`` is found, the flags
every search shares with Glob and LS (hidden files seen, ``.git`` never
entered, ignore files honoured whether or not the tree is a git repository),
and how read deny rules hide files. Grep adds pinned output flags: no colours,
paths ending in NUL so they parse unambiguously, ``--sort path`` in content
mode. files_with_matches and count run ripgrep in parallel and sort its paths
here the same way. Every file ripgrep reports goes through the deny filter
before anything of it is shown.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal

import attrs
import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._files_listing import (
    RG_FLAGS,
    DenyFilter,
    refuse_denied_root,
    require_rg,
    rg_failure,
)

__all__ = ["GrepQuery", "grep", "register_tools", "run_query"]

OutputMode = Literal["content", "files_with_matches", "count"]

MAX_CONTENT_LINES = 1000
"""Content lines shown when no head_limit is given."""

MAX_ENTRIES = 500
"""Files (or count lines) shown when no head_limit is given."""


@attrs.frozen(kw_only=True)
class GrepQuery:
    """One search, as ripgrep is asked to run it."""

    pattern: str
    root: str  # absolute and normalised; a directory, or a file searched as named
    root_is_file: bool = False
    globs: tuple[str, ...] = ()
    file_type: str | None = None
    mode: OutputMode = "files_with_matches"
    before: int = 0
    after: int = 0
    ignore_case: bool = False
    line_numbers: bool = True
    multiline: bool = False
    max_lines: int = MAX_CONTENT_LINES
    """Content mode stops after ``max_lines + 1`` lines (the extra one shows there are more)."""


MAX_COLUMNS = 500
"""Longer lines are shown as a preview (ripgrep's ``--max-columns``)."""


def _path_key(path: str) -> tuple[bytes, ...]:
    """ripgrep's ``--sort path`` order: component by component, names bytewise."""
    return tuple(part.encode("utf-8", "surrogateescape") for part in path.split(os.sep))


def sort_entries(lines: list[str], mode: OutputMode) -> list[str]:
    """files_with_matches / count lines in ripgrep's ``--sort path`` order."""
    if mode == "count":
        return sorted(lines, key=lambda line: _path_key(line.rpartition(":")[0]))
    return sorted(lines, key=_path_key)


def rg_arguments(rg: str, query: GrepQuery) -> list[str]:
    """The ripgrep command line for ``query``."""
    args = [rg, *RG_FLAGS, "--color=never", "--no-heading", "--with-filename", "--null"]
    if query.ignore_case:
        args.append("--ignore-case")
    if query.multiline:
        args += ["--multiline", "--multiline-dotall"]
    if query.mode == "files_with_matches":
        args.append("--files-with-matches")
    elif query.mode == "count":
        args.append("--count")
    else:
        args += [
            "--sort=path",
            f"--max-columns={MAX_COLUMNS}",
            "--max-columns-preview",
            # Line numbers tell matches (":") from context ("-"); they are
            # dropped later if not wanted.
            "--line-number",
            f"--before-context={query.before}",
            f"--after-context={query.after}",
        ]
    args += [f"--glob={glob}" for glob in query.globs]
    if query.globs:
        args.append("--glob=!.git")  # again, last, so no user glob can bring .git back
    if query.file_type:
        args.append(f"--type={query.file_type}")
    return [*args, "--regexp", query.pattern, "--", query.root]


_BINARY_WARNING = ": WARNING: stopped searching binary file after match"
_EXTRA_LINES = 20_000  # read past the limit only this far, to see a file through


@attrs.define
class _ContentLines:
    """Turns ripgrep's ``--null --line-number`` content output into the tool's lines.

    ``--null`` ends each path with a NUL byte, so paths are never confused with
    text. Every line of a file that ``hides`` (a read deny rule) is dropped,
    with the ``--`` separators that would be left dangling. A path holding a
    newline arrives split in two, its head without a NUL: the file the tail
    names is then dropped too, since its name is not the file's. A file that ripgrep
    stops searching when it notices a NUL byte is dropped whole (where ripgrep
    stops depends on its buffer sizes), which is why reading goes on past the
    limit until the file being printed is complete.
    """

    limit: int
    numbers: bool
    hides: Callable[[str], bool]
    root_is_file: bool = False
    lines: list[str] = attrs.field(factory=list)
    path: str | None = None
    skipping: bool = False
    suspect: bool = False
    block_start: int = 0
    extra: int = 0

    @property
    def full(self) -> bool:
        return len(self.lines) > self.limit

    def result(self) -> list[str]:
        lines = self.lines
        while lines and lines[-1] == "--":
            lines.pop()
        return lines

    def feed(self, raw: str) -> bool:
        """Take one output line; False once nothing more can change the result."""
        path, has_path, rest = raw.partition("\0")
        if not has_path:  # "--", or a message about a binary file
            if _BINARY_WARNING in raw:
                if not self.skipping:
                    del self.lines[self.block_start :]
            elif raw == "--":
                if not self.full and self.lines and self.lines[-1] != "--":
                    self.lines.append(raw)
            elif "binary file" not in raw:
                self.suspect = True  # the head of a path with a newline in it
            elif self.root_is_file and not self.full:
                # "PATH: binary file matches": only for a file named as the root,
                # which was checked against the deny rules before the search.
                self.lines.append(_shown(raw))
            return True
        suspect, self.suspect = self.suspect, False
        if path != self.path:
            if self.full:
                return False
            self.path = path
            self.skipping = suspect or self.hides(path)
            separator = bool(self.lines) and self.lines[-1] == "--"
            self.block_start = len(self.lines) - separator
        elif suspect:
            self.skipping = True
        if self.skipping:
            return True
        if self.full:
            self.extra += 1
            return self.extra < _EXTRA_LINES
        digits = len(rest) - len(rest.lstrip("0123456789"))
        mark, text = rest[digits : digits + 1], rest[digits + 1 :]
        number = f"{rest[:digits]}{mark}" if self.numbers else ""
        self.lines.append(_shown(f"{path}{mark}{number}{text}"))
        return True


def _shown(text: str) -> str:
    """Undecodable bytes (kept for the deny check's file system calls) as U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _entries(stdout: bytes, mode: OutputMode, hides: Callable[[str], bool]) -> list[str]:
    """files_with_matches (``PATH\\0``...) or count (``PATH\\0N`` lines) output, filtered."""
    entries: list[str] = []
    if mode == "files_with_matches":
        for raw in stdout.split(b"\0"):
            path = os.fsdecode(raw)
            if path and not hides(path):
                entries.append(_shown(path))
    else:
        # PATH\0COUNT\nPATH\0COUNT\n: split at NUL, as a path may hold a newline.
        parts = stdout.split(b"\0")
        path = os.fsdecode(parts[0])
        for part in parts[1:]:
            count, _, following = part.partition(b"\n")
            if not hides(path):
                entries.append(f"{_shown(path)}:{count.decode('ascii', 'replace')}")
            path = os.fsdecode(following)
    return sort_entries(entries, mode)


async def run_query(query: GrepQuery, hides: Callable[[str], bool] | None = None) -> list[str]:
    """ripgrep's answer to ``query`` as the tool's lines; files that ``hides`` left out."""
    rg = require_rg()
    denied = hides or (lambda path: False)
    inside = query.root if query.root_is_file else query.root.rstrip(os.sep) + os.sep

    def hidden(path: str) -> bool:
        # Anything not under the root is a misparse (a name with a newline): hide it.
        return not path.startswith(inside) or denied(path)

    args = rg_arguments(rg, query)
    if query.mode != "content":
        done = await trio.run_process(
            args, stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True, check=False
        )
        error = rg_failure(done.returncode, done.stderr)
        if error is not None:
            raise error
        return _entries(done.stdout, query.mode, hidden)

    collector = _ContentLines(query.max_lines, query.line_numbers, hidden, query.root_is_file)
    stderr = bytearray()
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(
                trio.run_process,
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                check=False,
            )
        )
        assert process.stdout is not None and process.stderr is not None

        async def read_stderr(stream: trio.abc.ReceiveStream) -> None:
            async for chunk in stream:
                stderr.extend(chunk)

        nursery.start_soon(read_stderr, process.stderr)
        pending = b""
        async for chunk in process.stdout:
            *complete, pending = (pending + chunk).split(b"\n")
            lines = [os.fsdecode(line) for line in complete]
            if not all(collector.feed(line) for line in lines):
                process.kill()  # the rest cannot change what is shown
                break

    error = rg_failure(process.returncode, bytes(stderr))
    if error is not None:
        raise error
    return collector.result()


def _normalised(ctx: ToolContext, path: str | None) -> str:
    """The absolute, ``..``-free path to search (pure string work, no I/O)."""
    return os.path.normpath(ctx.resolve(path or "."))


def _check_count(name: str, value: int | None, minimum: int) -> int | None:
    if value is not None and value < minimum:
        raise ToolError(f"{name} must be at least {minimum}, got {value}")
    return value


def _format(lines: list[str], mode: OutputMode, head_limit: int | None) -> str:
    cap = head_limit or (MAX_CONTENT_LINES if mode == "content" else MAX_ENTRIES)
    shown, hidden = lines[:cap], len(lines) - min(cap, len(lines))
    if mode == "content":
        if not lines:
            return "No matches found"
        body = "\n".join(shown)
        if hidden:
            body += (
                f"\n\n[Showing the first {cap} lines; more matches were found. "
                "Narrow the search (path, glob, type) or set head_limit.]"
            )
        return body
    if not lines:
        return "No files found" if mode == "files_with_matches" else "No matches found"
    if mode == "files_with_matches":
        header = f"Found {len(lines)} file{'s' if len(lines) != 1 else ''}"
    else:
        total = sum(int(line.rpartition(":")[2]) for line in lines)
        header = f"Found {total} total occurrences across {len(lines)} files"
    body = header + "\n" + "\n".join(shown)
    if hidden:
        body += f"\n\n[Showing the first {cap}; {hidden} more not shown. Narrow the search.]"
    return body


@tool(name="Grep", read_only=True, reads=("path",))
async def grep(
    pattern: str,
    ctx: ToolContext,
    path: str | None = None,
    glob: str | None = None,
    output_mode: OutputMode = "files_with_matches",
    before: Annotated[
        int | None, Param("-B", "Lines of context before each match (content mode).")
    ] = None,
    after: Annotated[
        int | None, Param("-A", "Lines of context after each match (content mode).")
    ] = None,
    context: Annotated[
        int | None, Param("-C", "Lines of context around each match (content mode).")
    ] = None,
    line_numbers: Annotated[
        bool, Param("-n", "Show line numbers (content mode). Default true.")
    ] = True,
    ignore_case: Annotated[bool, Param("-i", "Case-insensitive search.")] = False,
    file_type: Annotated[
        str | None,
        Param("type", "File type to search, as rg --type: py, js, ts, rust, go, java..."),
    ] = None,
    head_limit: int | None = None,
    multiline: bool = False,
) -> str:
    """Search file contents with a regular expression (ripgrep syntax).

    Use this instead of running grep or rg through Bash. The pattern is a Rust
    regex: `log.*Error`, `def\\s+\\w+`; escape literal braces (`interface\\{\\}`).
    Filter files with `glob` (`*.py`, `*.{ts,tsx}`, `!tests/**`; several separated
    by spaces) or `type`. output_mode: `files_with_matches` (default) lists matching
    files; `content` shows matching lines as `path:line:text` (with -A/-B/-C context
    and -n); `count` shows `path:count`. .gitignore is respected; hidden files are
    searched, .git is not. `multiline: true` lets a match span lines (`.` matches
    newlines). Paths in results are absolute.

    Args:
        pattern: The regular expression to search for.
        path: File or directory to search (default: the working directory).
        glob: Glob(s) filtering the files searched, e.g. `*.js` or `*.{ts,tsx}`.
        output_mode: `content`, `files_with_matches` (default) or `count`.
        head_limit: Show only the first N lines (content) or entries (other modes).
        multiline: Let patterns span lines; `.` then matches newlines too.
    """
    _check_count("-A", after, 0)
    _check_count("-B", before, 0)
    _check_count("-C", context, 0)
    _check_count("head_limit", head_limit, 1)
    root = _normalised(ctx, path)
    deny = DenyFilter(ctx.read_denied)
    refuse_denied_root(deny, root)
    try:
        is_dir = await trio.Path(root).is_dir()
        exists = is_dir or await trio.Path(root).exists()
    except OSError as exc:
        raise ToolError(f"Cannot access {root}: {exc}") from exc
    if not exists:
        raise ToolError(f"Path does not exist: {root}")
    query = GrepQuery(
        pattern=pattern,
        root=root,
        root_is_file=not is_dir,
        globs=tuple(glob.split()) if glob else (),
        file_type=file_type or None,
        mode=output_mode,
        before=before if before is not None else context or 0,
        after=after if after is not None else context or 0,
        ignore_case=ignore_case,
        line_numbers=line_numbers,
        multiline=multiline,
        max_lines=head_limit or MAX_CONTENT_LINES,
    )
    return _format(await run_query(query, deny.hides), output_mode, head_limit)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    """Register ``Grep`` as part of the built-in tools."""
    register(grep)
