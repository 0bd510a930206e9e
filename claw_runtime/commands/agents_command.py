"""``/agents``: the agent types this session's Task tool can start (read again from disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from claw_runtime.commands import Command, CommandResult

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = ["AGENTS_COMMAND"]


async def _agents(args: str, session: Session) -> CommandResult:
    from claw_runtime.agents.listing import describe_catalog

    service = session.agent.executor.agents
    if service is None:
        return CommandResult(output="Sub-agents are not available in this session.")
    catalog = await service.catalog(reload=True)
    session.state.extras.pop("builtin.agents.listing", None)  # the model's listing too
    lines = describe_catalog(catalog)
    running = [b for b in service.background.values() if b.outcome is None]
    if running:
        lines += ["", "Running in the background:"]
        lines += [f"  {b.agent_id}  {b.agent_type}: {b.description}" for b in running]
    return CommandResult(output="\n".join(lines))


AGENTS_COMMAND = Command(
    name="agents",
    description="List the agent types the Task tool can start, and where each comes from",
    run=_agents,
)
