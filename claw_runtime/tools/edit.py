"""The ``Edit`` and ``MultiEdit`` tools: exact string replacement in a file the model read.

An edit names text that must appear exactly once (or ``replace_all``); it is
applied to the file's text with ``\\n`` newlines and written back in the
file's own encoding and line endings, so a CRLF file stays CRLF. The encoding
is the one Read showed (``_encoding.detect_encoding``: BOM, UTF-8, else
Latin-1), so what Read showed is what Edit matches. Files over
``MAX_EDIT_BYTES`` (256 MB) are refused in one line, never loaded. MultiEdit
applies its edits in order to the text in memory and writes only if all of
them apply.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import attrs
import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._encoding import check_editable_size, decode_file, encode_file
from claw_runtime.tools._files import check_fresh, record_read, write_atomic

__all__ = ["EditSpec", "edit", "multi_edit"]


@attrs.frozen
class EditSpec:
    """One replacement within MultiEdit."""

    old_string: str
    new_string: str
    replace_all: bool = False


def apply_edit(text: str, spec: EditSpec, label: str = "") -> str:
    old = spec.old_string.replace("\r\n", "\n")
    new = spec.new_string.replace("\r\n", "\n")
    where = f"{label}: " if label else ""
    if old == new:
        raise ToolError(f"{where}old_string and new_string are the same; nothing to change.")
    if not old:
        raise ToolError(f"{where}old_string is empty; use Write to create a file.")
    count = text.count(old)
    if count == 0:
        raise ToolError(
            f"{where}old_string was not found in the file. It must match exactly, "
            "including whitespace and indentation; Read the file to see its current text."
        )
    if count > 1 and not spec.replace_all:
        raise ToolError(
            f"{where}old_string occurs {count} times. Add surrounding lines to make it unique, "
            "or set replace_all to change every occurrence."
        )
    return text.replace(old, new) if spec.replace_all else text.replace(old, new, 1)


def _snippet(text: str, new_string: str) -> str:
    """A few numbered lines around the first change, so the model sees the result."""
    index = text.find(new_string.replace("\r\n", "\n")) if new_string else -1
    lines = text.split("\n")
    if index < 0:
        return ""
    first = text.count("\n", 0, index)
    last = first + new_string.count("\n")
    start, end = max(0, first - 3), min(len(lines), last + 4)
    return "\n".join(f"{n + 1:>6}\t{lines[n]}" for n in range(start, end))


async def _edit_file(ctx: ToolContext, file_path: str, specs: list[EditSpec], multi: bool) -> str:
    path: Path = ctx.resolve(file_path)
    if not await trio.Path(path).exists():
        raise ToolError(f"File does not exist: {path}. Use Write to create it.")
    check_fresh(ctx, path)
    check_editable_size(
        (await trio.Path(path).stat()).st_size, path, "MultiEdit" if multi else "Edit"
    )
    original = decode_file(await trio.Path(path).read_bytes(), path)
    text = original.text
    for number, spec in enumerate(specs, start=1):
        text = apply_edit(text, spec, f"edit {number}" if multi else "")
    data = encode_file(original, text, path)
    roots = ctx.session.workspace_roots
    await trio.to_thread.run_sync(write_atomic, path, data, roots)
    record_read(ctx, path)
    snippet = _snippet(text, specs[-1].new_string)
    summary = f"Applied {len(specs)} edits to {path}." if multi else f"Edited {path}."
    return f"{summary}\n{snippet}" if snippet else summary


@tool(name="Edit", writes=("file_path",))
async def edit(
    file_path: Annotated[str, Param(description="Absolute path of the file to change")],
    old_string: Annotated[str, Param(description="The exact text to replace")],
    new_string: Annotated[str, Param(description="The text to put in its place")],
    ctx: ToolContext,
    replace_all: Annotated[bool, Param(description="Replace every occurrence")] = False,
) -> str:
    """Replace exact text in a file that was Read in this session.

    old_string must match the file exactly (indentation included) and occur once,
    unless replace_all is true. The file keeps its encoding and line endings.
    """
    return await _edit_file(ctx, file_path, [EditSpec(old_string, new_string, replace_all)], False)


@tool(name="MultiEdit", writes=("file_path",))
async def multi_edit(
    file_path: Annotated[str, Param(description="Absolute path of the file to change")],
    edits: Annotated[list[EditSpec], Param(description="Edits applied in order")],
    ctx: ToolContext,
) -> str:
    """Make several exact replacements in one file, in order: all of them or none.

    Each edit works like Edit on the result of the previous one. If any edit fails,
    the file is left untouched and the error names the edit.
    """
    if not edits:
        raise ToolError("edits is empty; give at least one edit.")
    return await _edit_file(ctx, file_path, edits, True)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(edit)
    register(multi_edit)
