"""An example claw plugin: counts words, lines and characters of a file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import trio

from claw_runtime import (
    Command,
    CommandResult,
    Param,
    Session,
    Tool,
    ToolContext,
    ToolError,
    hookimpl,
    tool,
)


def _count(text: str) -> str:
    return f"{len(text.splitlines())} lines, {len(text.split())} words, {len(text)} characters"


@tool(name="WordCount", read_only=True)
async def word_count(
    file_path: Annotated[str, Param(description="The file to count, absolute or relative")],
    ctx: ToolContext,
) -> str:
    """Count the lines, words and characters of a text file."""
    path = ctx.resolve(file_path)
    try:
        text = await trio.Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ToolError(f"File not found: {path}") from None
    except IsADirectoryError:
        raise ToolError(f"{path} is a directory, not a file") from None
    return f"{path}: {_count(text)}"


async def _wc(args: str, session: Session) -> CommandResult:
    path = session.cwd / args.strip()
    try:
        text = await trio.Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return CommandResult(output=f"/wc: cannot read {path}: {exc.strerror}", is_error=True)
    return CommandResult(output=_count(text))


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(word_count)


@hookimpl
def register_commands(register: Callable[[Command], None]) -> None:
    register(Command(name="wc", description="Count lines, words and characters", run=_wc))
