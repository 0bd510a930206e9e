"""The ``TodoWrite`` tool: the session's task list, replaced whole on every call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Todo, Tool, ToolContext, tool

__all__ = ["render_todos", "todo_write"]

_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def render_todos(todos: list[Todo]) -> str:
    """The list as a person reads it (the terminal shows the same)."""
    return "\n".join(f"{_MARKS[t.status]} {t.content}" for t in todos) or "(empty)"


# read_only: it changes only the session's own list, never the user's files, so like
# Claude Code's it needs no permission.
@tool(name="TodoWrite", read_only=True)
async def todo_write(
    todos: Annotated[list[Todo], Param(description="The whole updated todo list")],
    ctx: ToolContext,
) -> str:
    """Create and update the session's todo list for multi-step work.

    Send the whole list each time. Keep exactly one item in_progress while working,
    mark items completed as soon as they are done, and give each item a content
    (imperative: "Run the tests") and an activeForm ("Running the tests").
    """
    ctx.session.todos = list(todos)
    notes = []
    active = sum(1 for t in todos if t.status == "in_progress")
    if active > 1:
        notes.append(f"Note: {active} items are in_progress; keep exactly one in progress.")
    done = sum(1 for t in todos if t.status == "completed")
    summary = f"Todo list updated: {done}/{len(todos)} completed."
    return "\n".join([summary, render_todos(todos), *notes])


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(todo_write)
