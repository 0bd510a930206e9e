"""The ``Read`` tool: a file's lines numbered like ``cat -n``, images as images.

Only the requested window is read (``offset``/``limit``, 2000 lines by
default), streamed in chunks of :data:`CHUNK_BYTES`, so what a Read costs is
bounded whatever the file: the head of a 10 MB log costs what the head costs,
a 300 MB file of one line costs one chunk of memory (the line is cut at
:data:`MAX_LINE_CHARS` characters; the rest of it is only scanned for its
end), and the output stops at a line end once :data:`MAX_OUTPUT_CHARS` are
shown. ``read()`` is never called on the whole file.

Reads happen in a worker thread, so the event loop never waits for the disk,
except for a small file the page cache already holds (:data:`IN_PLACE_BYTES`):
that one is read in place with ``preadv(RWF_NOWAIT)``, which cannot wait for
the disk, because handing it to a thread would cost more than the read.

The encoding is decided as Edit decides it (:mod:`claw_runtime.tools._encoding`):
a BOM, else UTF-8 if the first MiB decodes, else Latin-1. Binary files are
refused: a NUL byte in the first MiB, or anywhere Read passes through on its
way to the window, makes a file binary (UTF-16 files excepted). Images are
sent as images, notebooks shown cell by cell, both within size limits.
"""

from __future__ import annotations

import base64
import codecs
import io
import itertools
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import attrs
import orjson
import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.models import ImageBlock, TextBlock
from claw_runtime.tooling import FileStamp, Param, Tool, ToolContext, tool
from claw_runtime.tools._encoding import (
    MAX_NOTEBOOK_BYTES,
    SAMPLE_BYTES,
    Encoding,
    detect_encoding,
)
from claw_runtime.tools._files import record_read

__all__ = ["read"]

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_OUTPUT_CHARS = 400_000
"""Past this many characters of output, Read stops at a line end and says where to go on."""
MAX_IMAGE_BYTES = 5 * 1024 * 1024
CHUNK_BYTES = SAMPLE_BYTES
"""Bytes read at a time: the first chunk also decides the encoding."""
MAX_SCAN_BYTES = 1024**3
"""Most bytes one Read passes through; a window further in than that is out of reach."""
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


IN_PLACE_BYTES = 256 * 1024
"""Largest file Read answers from the page cache without a worker thread."""
_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None)


class _Binary(Exception):
    """A NUL byte where text was expected."""


@attrs.define
class _Window:
    """The lines of a window as ``(first characters, full length)``, and why it ended."""

    lines: list[tuple[str, int]] = attrs.field(factory=list)
    seen: int = 0  # complete lines passed, window included
    more: bool = False  # lines follow the window
    budget_hit: bool = False  # stopped at MAX_OUTPUT_CHARS
    scan_hit: bool = False  # stopped at MAX_SCAN_BYTES
    partial: bool = False  # the last line is cut where the scan stopped


def _chunks(handle: BinaryIO, first: bytes, encoding: Encoding) -> Iterator[str | None]:
    """The file's text, decoded a chunk at a time; ``None`` once out of scan budget.

    ``first`` (the sample, already read) comes first, then ``handle``. A NUL
    byte raises :class:`_Binary` (except in UTF-16, whose text is full of them).
    """
    decoder = codecs.getincrementaldecoder(encoding.codec)("replace")
    check_nul = not encoding.is_utf16
    body = memoryview(first)[len(encoding.bom) :]
    pieces = (bytes(body[i : i + CHUNK_BYTES]) for i in range(0, len(body), CHUNK_BYTES))
    scanned = len(encoding.bom)
    for raw in itertools.chain(pieces, iter(lambda: handle.read(CHUNK_BYTES), b"")):
        if check_nul and b"\0" in raw:
            raise _Binary
        scanned += len(raw)
        yield decoder.decode(raw)
        if scanned >= MAX_SCAN_BYTES:
            yield None
            return
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _entry_size(number: int, length: int) -> int:
    shown = min(length, MAX_LINE_CHARS) + (40 if length > MAX_LINE_CHARS else 0)
    return len(str(number)) + 8 + shown


def _read_window(
    handle: BinaryIO, first: bytes, encoding: Encoding, offset: int, limit: int
) -> _Window:
    """Lines ``offset..offset+limit-1`` (1-based) streamed from ``handle``, bounded in memory."""
    window = _Window()
    keep = MAX_LINE_CHARS + 1  # enough to know a line was cut
    parts: list[str] = []  # the first characters of the current line
    kept = length = 0  # characters kept, characters in the current line so far
    last_cr = False  # the current line so far ends with \r
    used = 0  # output characters so far
    line = 1  # number of the current line
    chunks = _chunks(handle, first, encoding)
    for text in chunks:
        if text is None:
            window.scan_hit = True
            if line >= offset and length and len(window.lines) < limit:
                window.lines.append(("".join(parts), length))  # the line so far
                window.partial = True
            return window
        size, pos = len(text), 0
        while pos < size:
            if line < offset:  # before the window: only count lines
                count = text.count("\n", pos)
                if line + count < offset:  # the window does not start in this chunk
                    line += count
                    length = size - text.rfind("\n") - 1 if count else length + size - pos
                    break
                newline = text.find("\n", pos)
                line, pos, length = line + 1, newline + 1, 0
                continue
            if not length:
                # At a line start: the chunk's whole lines at once (at most the ones
                # still wanted), each as the character loop below would take it.
                segments = text[pos:].split("\n", limit - len(window.lines))
                rest = segments.pop()  # after the last line end taken
                lines = window.lines
                for segment in segments:
                    full = len(segment) - segment.endswith("\r")
                    # _entry_size(line, full), inline: this loop runs once per line shown
                    shown = full if full <= MAX_LINE_CHARS else MAX_LINE_CHARS + 40
                    used += len(str(line)) + 8 + shown
                    if used > MAX_OUTPUT_CHARS and lines:
                        window.budget_hit = True
                        return window
                    lines.append((segment[:full] if full < keep else segment[:keep], full))
                    window.seen = line
                    line += 1
                pos = size - len(rest)
                if len(window.lines) == limit:
                    window.more = pos < size or _more_follows(chunks)
                    return window
                if not rest:
                    break
                # ``rest`` is the start of a line that ends in a later chunk.
            newline = text.find("\n", pos)
            end = size if newline < 0 else newline
            if end > pos:
                if kept < keep:
                    piece = text[pos : min(end, pos + keep - kept)]
                    parts.append(piece)
                    kept += len(piece)
                length += end - pos
                last_cr = text[end - 1] == "\r"
            if newline < 0:
                break
            pos = newline + 1
            full = length - last_cr
            used += _entry_size(line, full)
            if used > MAX_OUTPUT_CHARS and window.lines:
                window.budget_hit = True
                return window
            window.lines.append(("".join(parts)[:full], full))
            parts, kept, length, last_cr = [], 0, 0, False
            window.seen = line
            line += 1
            if len(window.lines) == limit:
                window.more = pos < size or _more_follows(chunks)
                return window
    if length:  # a last line without a line end
        if line >= offset:
            full = length - last_cr
            window.lines.append(("".join(parts)[:full], full))
        window.seen = line
    elif line > 1:
        window.seen = line - 1
    return window


def _more_follows(chunks: Iterator[str | None]) -> bool:
    """Whether any text is left (reads one more chunk, or a few bytes more)."""
    try:
        # A chunk may decode to "" (part of a character); the next one will not.
        return any(text is None or text for text in chunks)
    except _Binary:
        return True


def _number(lines: list[tuple[str, int]], first: int) -> str:
    cut = MAX_LINE_CHARS
    return "\n".join(
        [
            f"{number:>6}\t{line}"
            if length <= cut
            else f"{number:>6}\t{line[:cut]}... [line cut: {length - cut} more characters]"
            for number, (line, length) in enumerate(lines, start=first)
        ]
    )


def _read_text(path: Path, handle: BinaryIO, offset: int, limit: int) -> str:
    first = handle.read(SAMPLE_BYTES + 1)  # one byte more: is the sample the whole file?
    encoding = detect_encoding(first, complete=True)
    if len(first) == len(encoding.bom):
        return f"(The file {path} exists but is empty.)"
    try:
        if not encoding.is_utf16 and b"\0" in first:
            raise _Binary  # the whole first block is checked, wherever the window ends
        window = _read_window(handle, first, encoding, offset, limit)
    except _Binary:
        raise ToolError(
            f"{path} is a binary file (it has NUL bytes); Read shows text files, images "
            "and notebooks only."
        ) from None
    if not window.lines:
        if window.scan_hit:
            raise ToolError(
                f"Line {offset} of {path} is more than {MAX_SCAN_BYTES:,} bytes into the file; "
                "Read does not go that far. Use Bash (tail -c, sed -n) to look there."
            )
        raise ToolError(
            f"{path} has fewer than {offset} lines (it has {window.seen}); "
            f"nothing to show at offset {offset}."
        )
    text = _number(window.lines, offset)
    last = offset + len(window.lines) - 1
    if window.budget_hit:
        text += (
            f"\n\n(Showing lines {offset}-{last}: the output limit of {MAX_OUTPUT_CHARS} "
            f"characters was reached. Read on with offset={last + 1}.)"
        )
    elif window.scan_hit:
        inside = f", inside line {last}" if window.partial else ""
        text += (
            f"\n\n(Showing lines {offset}-{last}; Read stops after {MAX_SCAN_BYTES:,} bytes of "
            f"a file{inside}, so the rest was not read. Use Bash (tail -c, cut) to look there.)"
        )
    elif window.more:
        text += (
            f"\n\n(Showing lines {offset}-{last}; the file has more. "
            f"Read on with offset={last + 1}.)"
        )
    return text


def _render_notebook(path: Path, data: bytes) -> str:
    try:
        notebook: Any = orjson.loads(data)
        cells = notebook["cells"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ToolError(f"{path} is not a valid Jupyter notebook: {exc}") from None
    parts = []
    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        header = f"<cell id={cell.get('id', index)!r} type={cell.get('cell_type', '?')}>"
        outputs = []
        for output in cell.get("outputs", []) or []:
            text = output.get("text") or (output.get("data") or {}).get("text/plain")
            if text:
                outputs.append("".join(text) if isinstance(text, list) else str(text))
        body = source + (f"\n[output]\n{''.join(outputs).rstrip()}" if outputs else "")
        parts.append(f"{header}\n{body}\n</cell>")
    return "\n\n".join(parts) or "(the notebook has no cells)"


def _read_sync(path: Path, offset: int, limit: int) -> str | list[TextBlock | ImageBlock]:
    try:
        with path.open("rb") as handle:
            st = os.fstat(handle.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            media_type = IMAGE_TYPES.get(path.suffix.lower())
            if media_type and st.st_size > MAX_IMAGE_BYTES:
                raise ToolError(
                    f"{path} is an image of {st.st_size} bytes; the limit is {MAX_IMAGE_BYTES}."
                )
            if media_type:
                data = handle.read(MAX_IMAGE_BYTES + 1)
                if len(data) > MAX_IMAGE_BYTES:
                    raise ToolError(f"{path} is an image larger than {MAX_IMAGE_BYTES} bytes.")
                return [
                    TextBlock(text=f"Image {path} ({media_type}, {len(data)} bytes)"),
                    ImageBlock(media_type=media_type, data=base64.b64encode(data).decode()),
                ]
            if path.suffix == ".ipynb":
                if st.st_size > MAX_NOTEBOOK_BYTES:
                    raise ToolError(
                        f"{path} is a notebook of {st.st_size // 1024**2} MB; Read renders "
                        f"notebooks up to {MAX_NOTEBOOK_BYTES // 1024**2} MB."
                    )
                return _render_notebook(path, handle.read(MAX_NOTEBOOK_BYTES + 1))
            return _read_text(path, handle, offset, limit)
    except FileNotFoundError:
        raise ToolError(f"File does not exist: {path}") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory, not a file. Use LS or Glob to list it.") from None
    except OSError as exc:
        raise ToolError(f"Cannot read {path}: {exc.strerror or exc}") from None


def _read_in_place(path: Path, offset: int, limit: int) -> tuple[str, FileStamp] | None:
    """A small text file's answer, and the stamp of what was read, when the page cache
    holds all of it; else None.

    The bytes are read with ``preadv(RWF_NOWAIT)``, which fails rather than wait
    for the disk, so the event loop never waits on a read; the answer is the
    one :func:`_read_sync` gives. Anything else (not cached, not a regular
    file, an image or a notebook, a file system without ``RWF_NOWAIT``, any
    error) returns None, and Read goes through a worker thread: handing a small
    read to a thread costs more than the read.
    """
    if _NOWAIT is None or path.suffix.lower() in IMAGE_TYPES or path.suffix == ".ipynb":
        return None
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is then not read here).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        size = st.st_size
        if not stat.S_ISREG(st.st_mode) or size > IN_PLACE_BYTES:
            return None
        data = bytearray(size + 1)  # one byte more: a file that grew is left to the thread
        if os.preadv(fd, [data], 0, _NOWAIT) != size:
            return None  # partly cached, or changed since fstat (/proc files: size 0)
    except OSError:  # EAGAIN: not in the page cache; EOPNOTSUPP: no RWF_NOWAIT here
        return None
    finally:
        os.close(fd)
    stamp = FileStamp(mtime_ns=st.st_mtime_ns, size=size)
    return _read_text(path, io.BytesIO(data[:size]), offset, limit), stamp


@tool(name="Read", read_only=True, max_output_chars=MAX_OUTPUT_CHARS + 2_000, reads=("file_path",))
async def read(
    file_path: Annotated[str, Param(description="Absolute path of the file to read")],
    ctx: ToolContext,
    offset: Annotated[int | None, Param(description="Line number to start from (1-based)")] = None,
    limit: Annotated[
        int | None, Param(description=f"How many lines (default {DEFAULT_LIMIT})")
    ] = None,
) -> str | list[TextBlock | ImageBlock]:
    """Read a file from the filesystem, with line numbers (like cat -n).

    Reads up to 2000 lines from the start by default; use offset and limit for long
    files. Lines longer than 2000 characters are cut. Images (png, jpg, gif, webp)
    are shown as images and Jupyter notebooks cell by cell. Read a file before
    editing or overwriting it.
    """
    start = 1 if offset is None else offset
    count = DEFAULT_LIMIT if limit is None else limit
    if start < 1 or count < 1:
        raise ToolError("offset and limit must be positive (offset counts lines from 1).")
    path = ctx.resolve(file_path)
    in_place = _read_in_place(path, start, count)
    if in_place is not None:
        text, stamp = in_place
        record_read(ctx, path, stamp)
        return text
    result = await trio.to_thread.run_sync(_read_sync, path, start, count)
    record_read(ctx, path)
    return result


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(read)
