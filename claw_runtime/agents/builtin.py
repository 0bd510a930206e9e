"""The built-in plugin ``builtin.agents``: the built-in agent types and their listing.

It registers ``general-purpose``, ``Explore`` and ``Plan`` through
``register_agents`` (as any plugin would), and a context processor that tells
the model which agent types the ``Task`` tool can start: each one's name and
description, as Claude Code lists them. Blocking it removes both (the ``Task``
tool itself is the plugin ``tools.task``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from claw_runtime.agents.definitions import BUILTIN_AGENTS, AgentCatalog, AgentDefinition
from claw_runtime.context.processors import ContextProcessor, PromptContext
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import SessionState

if TYPE_CHECKING:
    from claw_runtime.agents.subagent import SubagentService

__all__ = ["SERVICE_KEY", "agent_listing"]

SERVICE_KEY = "builtin.agents.service"
"""``SessionState.extras`` key of the session's (or sub-agent's) ``SubagentService``."""

_LISTING_KEY = "builtin.agents.listing"


def agent_listing(catalog: AgentCatalog) -> str:
    """The system prompt section naming each agent type and when to use it."""
    lines = [
        "Sub-agents: the Task tool starts one with a fresh context to work on a task "
        "on its own and report back; several Task calls in one message run in parallel. "
        "Available agent types (subagent_type):"
    ]
    for name, definition in sorted(catalog.agents.items()):
        tools = ", ".join(definition.tools) if definition.tools is not None else "all tools"
        lines.append(f"- {name}: {definition.description} (Tools: {tools})")
    return "\n".join(lines)


def _lister(state: SessionState) -> SubagentService | None:
    """The session's sub-agent service, if its agent can start sub-agents (it has ``Task``)."""
    from claw_runtime.agents.subagent import SubagentService

    service = state.extras.get(SERVICE_KEY)
    if not isinstance(service, SubagentService) or "Task" not in service.agent.tools:
        return None
    return service


async def _add_listing(context: PromptContext) -> None:
    service = _lister(context.session)
    if service is None:
        return
    extras = context.session.extras
    listing = extras.get(_LISTING_KEY)
    if not isinstance(listing, str):
        listing = extras[_LISTING_KEY] = agent_listing(await service.catalog())
    context.system_sections.append(listing)


def _read_definitions(state: SessionState) -> None:
    """The listing's blocking part, ahead of the first prompt: the definition files."""
    service = None if isinstance(state.extras.get(_LISTING_KEY), str) else _lister(state)
    if service is not None:
        service.read_ahead()


AGENT_LISTING = ContextProcessor(
    name="agents.listing", process=_add_listing, order=60, prepare=_read_definitions
)


@hookimpl
def register_agents(register: Callable[[AgentDefinition], None]) -> None:
    for definition in BUILTIN_AGENTS:
        register(definition)


@hookimpl
def register_context_processors(register: Callable[[ContextProcessor], None]) -> None:
    register(AGENT_LISTING)
