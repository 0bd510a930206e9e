"""The ``Read`` tool: a file's lines numbered like ``cat -n``, images as images.

Only the requested window is read (``offset``/``limit``, 2000 lines by
default), streaming line by line, so the head of a 10 MB log costs what the
head costs. Binary files are refused; notebooks are shown cell by cell.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import trio

from claw_runtime.errors import ToolError
from claw_runtime.hookspecs import hookimpl
from claw_runtime.models import ImageBlock, TextBlock
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._files import record_read

__all__ = ["read"]

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def _looks_binary(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(8192)
    if b"\x00" in head:
        return not (head.startswith((b"\xff\xfe", b"\xfe\xff")))  # UTF-16 text has NULs
    return False


def _read_window(path: Path, offset: int, limit: int) -> tuple[list[str], bool, bool]:
    """Lines ``offset..offset+limit`` (1-based), whether more follow, whether the file is empty."""
    encoding = "utf-8"
    with path.open("rb") as probe:
        start = probe.read(3)
    if start.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif start[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        window = list(itertools.islice(handle, offset - 1, offset - 1 + limit + 1))
        empty = offset == 1 and not window
    more = len(window) > limit
    return [line.rstrip("\r\n") for line in window[:limit]], more, empty


def _number(lines: list[str], first: int) -> str:
    out = []
    for number, line in enumerate(lines, start=first):
        if len(line) > MAX_LINE_CHARS:
            line = (
                line[:MAX_LINE_CHARS]
                + f"... [line cut: {len(line) - MAX_LINE_CHARS} more characters]"
            )
        out.append(f"{number:>6}\t{line}")
    return "\n".join(out)


def _render_notebook(path: Path) -> str:
    try:
        notebook: Any = orjson.loads(path.read_bytes())
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
    if not path.exists():
        raise ToolError(f"File does not exist: {path}")
    if path.is_dir():
        raise ToolError(f"{path} is a directory, not a file. Use LS or Glob to list it.")
    media_type = IMAGE_TYPES.get(path.suffix.lower())
    if media_type:
        data = path.read_bytes()
        if len(data) > MAX_IMAGE_BYTES:
            raise ToolError(
                f"{path} is an image of {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}."
            )
        return [
            TextBlock(text=f"Image {path} ({media_type}, {len(data)} bytes)"),
            ImageBlock(media_type=media_type, data=base64.b64encode(data).decode()),
        ]
    if path.suffix == ".ipynb":
        return _render_notebook(path)
    if _looks_binary(path):
        raise ToolError(
            f"{path} is a binary file; Read shows text files, images and notebooks only."
        )
    lines, more, empty = _read_window(path, offset, limit)
    if empty:
        return f"(The file {path} exists but is empty.)"
    if not lines:
        raise ToolError(
            f"{path} has fewer than {offset} lines; nothing to show at offset {offset}."
        )
    text = _number(lines, offset)
    if more:
        text += (
            f"\n\n(Showing lines {offset}-{offset + len(lines) - 1}; the file has more. "
            f"Read on with offset={offset + len(lines)}.)"
        )
    return text


@tool(name="Read", read_only=True, max_output_chars=400_000, reads=("file_path",))
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
    result = await trio.to_thread.run_sync(_read_sync, path, start, count)
    record_read(ctx, path)
    return result


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(read)
