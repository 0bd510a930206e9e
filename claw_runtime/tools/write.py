"""The ``Write`` tool: create a file, or replace one the model has read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._encoding import Encoding, FileText, encode_file, probe_file
from claw_runtime.tools._files import check_fresh, record_read, write_atomic

__all__ = ["write"]


@tool(name="Write", writes=("file_path",))
async def write(
    file_path: Annotated[str, Param(description="Absolute path of the file to write")],
    content: Annotated[str, Param(description="The whole new content of the file")],
    ctx: ToolContext,
) -> str:
    """Write a file, creating parent directories as needed.

    Overwriting an existing file requires having Read it in this session (and it must
    not have changed since). Prefer Edit for changes to existing files. The write is
    atomic and keeps the file's permissions, encoding and line endings.
    """
    path = ctx.resolve(file_path)
    if path.is_dir():
        raise ToolError(f"{path} is a directory.")
    existed = path.exists()
    note = ""
    if existed:
        check_fresh(ctx, path)
        # Only the first block: the old text is replaced, its encoding and newlines kept.
        original = await trio.to_thread.run_sync(probe_file, path)
        try:
            data = encode_file(original, content, path)
        except ToolError:  # e.g. a Latin-1 file given characters Latin-1 lacks
            data = encode_file(FileText("", Encoding("utf-8"), original.newline), content, path)
            note = f" It was {original.encoding.label}; it is now UTF-8, which can hold the text."
    else:
        data = content.encode("utf-8")
    await trio.to_thread.run_sync(write_atomic, path, data, ctx.session.workspace_roots)
    record_read(ctx, path)
    lines = content.count("\n") + (0 if content.endswith("\n") or not content else 1)
    return f"{'Overwrote' if existed else 'Created'} {path} ({lines} lines).{note}"


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(write)
