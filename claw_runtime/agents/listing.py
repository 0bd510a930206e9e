"""Agent types as ``claw agents`` and ``/agents`` show them: name, where from, what for."""

from __future__ import annotations

from claw_runtime.agents.definitions import AgentCatalog, AgentDefinition

__all__ = ["describe_catalog"]


def _origin(definition: AgentDefinition) -> str:
    where = definition.source or definition.scope
    if definition.overrides:
        where += f", replaces {definition.overrides}"
    return where


def _details(definition: AgentDefinition) -> str:
    parts = []
    if definition.tools is not None:
        parts.append(f"tools: {', '.join(definition.tools) or 'none'}")
    if definition.model:
        parts.append(f"model: {definition.model}")
    if definition.permission_mode:
        parts.append(f"mode: {definition.permission_mode}")
    if definition.max_turns:
        parts.append(f"max turns: {definition.max_turns}")
    if definition.isolation:
        parts.append(f"isolation: {definition.isolation}")
    return "; ".join(parts)


def describe_catalog(catalog: AgentCatalog) -> list[str]:
    """Lines listing every agent type (sorted by name) and then the warnings."""
    lines = ["Agent types (Task tool subagent_type):"]
    for name in sorted(catalog.agents, key=str.lower):
        definition = catalog.agents[name]
        lines.append(f"  {name}  ({_origin(definition)})")
        lines.append(f"      {definition.description}")
        details = _details(definition)
        if details:
            lines.append(f"      {details}")
    if catalog.warnings:
        lines += ["", "Warnings:", *(f"  {w}" for w in catalog.warnings)]
    return lines
