"""The ``Task`` tool (also callable as ``Agent``) and ``TaskOutput``: sub-agents.

``Task`` starts a sub-agent with a fresh context (see
:mod:`claw_runtime.agents.subagent`) and returns its final answer as this
call's result; a sub-agent that fails, times out or is stopped is an error
result, and its siblings go on. Several ``Task`` calls in one message run at
once: the tool is declared read-only, because the call itself changes nothing;
everything its sub-agent does goes through that sub-agent's own permission
checks, hooks and approvals, call by call.

``run_in_background: true`` returns the sub-agent's id at once; ``TaskOutput``
reads its answer, and the model is told when it finishes.

Newer Claude Code names the tool ``Agent``: a call of ``Agent`` runs this tool,
and permission rules and hook matchers naming either match both
(:data:`claw_runtime.tooling.TOOL_ALIASES`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool

if TYPE_CHECKING:
    from claw_runtime.agents.subagent import SubagentService

__all__ = ["task", "task_output"]

MAX_TASK_OUTPUT_TIMEOUT_MS = 600_000


def _service(ctx: ToolContext) -> SubagentService:
    if ctx.agents is None:
        raise ToolError("Sub-agents can only be started inside a session.")
    return ctx.agents


@tool(name="Task", read_only=True)
async def task(
    description: Annotated[str, Param(description="A short (3-5 word) description of the task")],
    prompt: Annotated[
        str,
        Param(
            description="The task for the agent to perform: everything it needs to know, "
            "since it does not see this conversation"
        ),
    ],
    ctx: ToolContext,
    subagent_type: Annotated[
        str, Param(description="The type of agent to use (see the available agent types)")
    ] = "general-purpose",
    run_in_background: Annotated[
        bool | None,
        Param(description="Start it and return its id at once; read its answer with TaskOutput"),
    ] = None,
    isolation: Annotated[
        Literal["worktree"] | None,
        Param(description="worktree: work in a git worktree on a branch of its own"),
    ] = None,
) -> str:
    """Launch a sub-agent to handle a complex, multi-step task on its own.

    The sub-agent starts with a fresh context: give it a complete, self-contained
    prompt and say what it should report back. Its final message is returned to
    you (the user does not see it: summarise what matters). Launch several agents
    at once, with several Task calls in one message, when their work is
    independent. Agents that edit code in parallel should use isolation: worktree.
    """
    from claw_runtime.agents.subagent import SubagentRequest

    service = _service(ctx)
    request = SubagentRequest(
        description=description,
        prompt=prompt,
        agent_type=subagent_type,
        isolation=isolation,
    )
    if run_in_background:
        entry = await service.start_background(request, ctx)
        return (
            f"Started background agent {entry.agent_id} ({entry.agent_type}: {description}). "
            f"You will be told when it finishes; read its answer with "
            f"TaskOutput(task_id={entry.agent_id!r})."
        )
    outcome = await service.run(request)
    if outcome.is_error:
        raise ToolError(outcome.report())
    return outcome.report()


@tool(name="TaskOutput", read_only=True)
async def task_output(
    task_id: Annotated[str, Param(description="The id of a background agent (from Task)")],
    ctx: ToolContext,
    block: Annotated[bool, Param(description="Wait for it to finish (default true)")] = True,
    timeout: Annotated[  # noqa: ASYNC109 (Claude Code's input name, in milliseconds)
        int, Param(description="How long to wait, in milliseconds (default 30000, max 600000)")
    ] = 30_000,
) -> str:
    """Get the answer of a sub-agent started with run_in_background, or its status."""
    service = _service(ctx)
    entry = service.background.get(task_id)
    if entry is None:
        known = ", ".join(service.background) or "none"
        raise ToolError(f"No background agent with id {task_id!r}. Known: {known}.")
    if block and entry.outcome is None:
        with trio.move_on_after(max(0, min(timeout, MAX_TASK_OUTPUT_TIMEOUT_MS)) / 1000):
            await entry.done.wait()
    outcome = entry.outcome
    if outcome is None:
        return f"Status: running\n\nAgent {task_id} ({entry.agent_type}) has not finished yet."
    entry.read = True
    body = f"Status: {outcome.status.replace('_', ' ')}\n\n{outcome.report()}"
    if outcome.is_error:
        raise ToolError(body)
    return body


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    for item in (task, task_output):
        register(item)
