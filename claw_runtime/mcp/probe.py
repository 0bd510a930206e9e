"""Is each configured MCP server healthy? Start them all, list them, stop them.

Used by ``claw mcp list``, ``claw mcp get`` and ``claw doctor``: the same
connection code a session uses, so a server that fails here fails there, with
the same one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs
import trio

from claw_runtime.mcp.config import McpConfig, McpServerConfig

__all__ = ["config_lines", "mcp_doctor_lines", "probe_servers", "status_line"]

PROBE_TIMEOUT_S = 15.0


async def probe_servers(
    servers: Mapping[str, McpServerConfig],
    cwd: Path,
    environ: Mapping[str, str],
    *,
    startup_limit: float = PROBE_TIMEOUT_S,
) -> list[tuple[McpServerConfig, str, list[str]]]:
    """``(server, status line, tool names)`` for each server, after starting them concurrently.

    Every server is stopped again before this returns.
    """
    if not servers:
        return []
    from claw_runtime.mcp.client import McpConnection, McpServers, timeouts_from

    startup, per_call = timeouts_from(environ)
    group = McpServers(
        connections={
            name: McpConnection(
                config=server,
                cwd=cwd,
                environ=environ,
                startup_timeout=min(startup, startup_limit),
                call_timeout=per_call,
            )
            for name, server in servers.items()
        }
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(group.run)
        await group.wait_ready()
        await group.start_all()
        found = [
            (c.config, status_line(c.state, c.error, len(c.tools)), [str(t.name) for t in c.tools])
            for c in group.connections.values()
        ]
        nursery.cancel_scope.cancel()
    return found


def status_line(state: str, error: str, tools: int) -> str:
    if state == "connected":
        return f"connected ({tools} tool{'s' if tools != 1 else ''})"
    return f"failed: {error}"


def config_lines(config: McpConfig) -> list[str]:
    """What the configuration says, without starting anything (for ``claw doctor``)."""
    out: list[str] = []
    for server in config.servers.values():
        out.append(f"  {server.name:16} {server.scope:7} {server.describe()}  ({server.source})")
    for server in config.waiting_for_trust:
        out.append(
            f"  {server.name:16} project NOT STARTED: the project is not trusted  ({server.source})"
        )
    for name in config.disabled:
        out.append(f"  {name:16} project off (disabledMcpjsonServers / enabledMcpjsonServers)")
    out += [f"  problem: {p}" for p in config.problems]
    return out or ["  (none configured)"]


def mcp_doctor_lines(cwd: Path, environ: Mapping[str, str], trusted: bool) -> list[str]:
    """``claw doctor``'s MCP section: each server, where it is configured, whether it starts."""
    from claw_runtime.mcp.config import load_mcp_config

    config = load_mcp_config(cwd, environ, trusted=trusted)
    out = ["MCP servers:"]
    if config.servers:
        for server, status, _tools in trio.run(probe_servers, config.servers, cwd, environ):
            out.append(f"  {server.name:16} {server.scope:7} {status}  ({server.source})")
    out += [line for line in config_lines(attrs.evolve(config, servers={}))]
    if out[-1] == "  (none configured)" and config.servers:
        out.pop()
    return out
