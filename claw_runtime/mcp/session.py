"""A session's MCP servers: read the configuration, start the servers, add their tools.

:func:`start_session_servers` is what :func:`claw_runtime.sessions.open_session`
calls. With no server configured it reads a few small files and returns None,
having imported nothing of the ``mcp`` SDK; otherwise it starts every server
concurrently in one scheduler task under the session (so closing the session
stops them, and their processes), waits until each is connected or has failed,
tells the person one line per failure, and layers the servers' tools over the
session's tool table as ``mcp__<server>__<tool>``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from claw_runtime.errors import ToolError
from claw_runtime.events import McpServerStatus
from claw_runtime.mcp import SESSION_MCP_KEY
from claw_runtime.mcp.config import McpConfig, load_mcp_config, project_is_trusted
from claw_runtime.mcp.tools import mcp_tool_name, result_blocks, schema_tool
from claw_runtime.tooling import Tool, ToolContext

if TYPE_CHECKING:
    from claw_runtime.mcp.client import McpConnection, McpServers
    from claw_runtime.scheduler import TaskHandle
    from claw_runtime.sessions.session import Session

__all__ = ["SessionMcp", "session_mcp_config", "start_session_servers"]

EXTRAS_KEY = SESSION_MCP_KEY
"""``SessionState.extras`` key of the session's :class:`SessionMcp`."""


def session_mcp_config(session: Session) -> McpConfig:
    """The MCP configuration for this session's project, trust applied."""
    runtime = session.runtime
    cwd = session.state.cwd
    trusted = project_is_trusted(cwd, runtime.environ, runtime.settings.trusted_directories)
    return load_mcp_config(cwd, session.state.env, trusted=trusted)


def _fingerprint(tool: Any) -> str:
    """What the person approved of a tool: its description and its schema."""
    return json.dumps([tool.description or "", tool.input_schema], sort_keys=True, default=str)


@attrs.define(eq=False, kw_only=True)
class SessionMcp:
    """The session's servers, the task they run in, and what the model was shown."""

    servers: McpServers
    task: TaskHandle[Any]
    notify: Callable[[str], None]
    publish_tools: Callable[[Mapping[str, Tool]], None]
    approved: dict[str, str] = attrs.field(factory=dict)
    """Tool name -> fingerprint of the description the model and the person saw."""

    def statuses(self) -> tuple[McpServerStatus, ...]:
        """Each server and how its start went, for the session's first event."""
        shown = {"connected": "connected", "failed": "failed"}
        return tuple(
            McpServerStatus(name=name, status=shown.get(connection.state, "pending"))
            for name, connection in self.servers.connections.items()
        )

    def tools(self) -> dict[str, Tool]:
        """Every connected server's tools, as claw tools."""
        out: dict[str, Tool] = {}
        for connection in self.servers.connections.values():
            if connection.state != "connected":
                continue
            for listed in connection.tools:
                claw_tool = self._tool(connection, listed)
                out[claw_tool.name] = claw_tool
                self.approved.setdefault(claw_tool.name, _fingerprint(listed))
        if any(
            c.state == "connected" and c.has_resources for c in self.servers.connections.values()
        ):
            out.update(self._resource_tools())
        return out

    def _with_resources(self, server: str) -> McpConnection:
        connection = self.servers.connections.get(server)
        if connection is None or not connection.has_resources:
            offering = sorted(n for n, c in self.servers.connections.items() if c.has_resources)
            raise ToolError(
                f"no MCP server {server!r} with resources; servers with resources: "
                + (", ".join(offering) or "none")
            )
        return connection

    def _resource_tools(self) -> dict[str, Tool]:
        """Claude Code's two tools for MCP resources: list them, read one."""
        from claw_runtime.mcp.tools import resource_text

        async def list_resources(arguments: dict[str, Any], ctx: ToolContext) -> str:
            from claw_runtime.mcp.client import McpCallError

            wanted = arguments.get("server")
            names = (
                [wanted]
                if isinstance(wanted, str) and wanted
                else [n for n, c in self.servers.connections.items() if c.has_resources]
            )
            lines: list[str] = []
            for name in names:
                connection = self._with_resources(name)
                try:
                    listed = await connection.call(self.servers, "list_resources")
                except McpCallError as exc:
                    raise ToolError(str(exc)) from None
                for resource in listed.resources:
                    about = f" ({resource.mime_type})" if resource.mime_type else ""
                    desc = f": {resource.description}" if resource.description else ""
                    lines.append(f"{name}  {resource.uri}  {resource.name}{about}{desc}")
            return "\n".join(lines) or "No resources."

        async def read_resource(arguments: dict[str, Any], ctx: ToolContext) -> str:
            from claw_runtime.mcp.client import McpCallError

            connection = self._with_resources(str(arguments.get("server", "")))
            try:
                read = await connection.call(self.servers, "read_resource", str(arguments["uri"]))
            except McpCallError as exc:
                raise ToolError(str(exc)) from None
            return resource_text(list(read.contents))

        return {
            "ListMcpResourcesTool": schema_tool(
                name="ListMcpResourcesTool",
                description="List the resources MCP servers offer (all servers, or one).",
                input_schema={
                    "type": "object",
                    "properties": {
                        "server": {"type": "string", "description": "Only this server's"}
                    },
                },
                function=list_resources,
            ),
            "ReadMcpResourceTool": schema_tool(
                name="ReadMcpResourceTool",
                description="Read one resource of an MCP server by its URI.",
                input_schema={
                    "type": "object",
                    "properties": {
                        "server": {"type": "string", "description": "The server's name"},
                        "uri": {"type": "string", "description": "The resource's URI"},
                    },
                    "required": ["server", "uri"],
                },
                function=read_resource,
            ),
        }

    def _tool(self, connection: McpConnection, listed: Any) -> Tool:
        name = mcp_tool_name(connection.name, listed.name)
        remote = str(listed.name)
        server = connection.name

        async def call(arguments: dict[str, Any], ctx: ToolContext) -> Any:
            await self._check_unchanged(connection, remote, name)
            from claw_runtime.mcp.client import McpCallError

            try:
                result = await self.servers.call_tool(server, remote, arguments)
            except McpCallError as exc:
                raise ToolError(str(exc)) from None
            return result_blocks(
                ctx.tool_use_id,
                list(result.content),
                result.structured_content,
                bool(result.is_error),
            )

        description = (listed.description or "").strip() or f"{remote} (MCP server {server})"
        annotations = getattr(listed, "annotations", None)
        return schema_tool(
            name=name,
            description=description,
            input_schema=listed.input_schema,
            function=call,
            concurrent=bool(annotations is not None and annotations.read_only_hint),
        )

    async def _check_unchanged(self, connection: McpConnection, remote: str, name: str) -> None:
        """Refuse, once, a tool whose description changed since the model and person saw it.

        A server that is restarted (or re-lists) may describe a tool differently:
        a description is instructions to the model, so a change is reported to the
        person before the tool runs again, and the model is shown the new text.
        """
        await connection.ensure(self.servers)
        listed = next((t for t in connection.tools if t.name == remote), None)
        if listed is None:
            raise ToolError(f"MCP server {connection.name} no longer offers the tool {remote}")
        now = _fingerprint(listed)
        before = self.approved.get(name)
        if before is None or before == now:
            return
        self.approved[name] = now
        self.publish_tools(self.tools())
        message = (
            f"MCP server {connection.name} changed the description of {name} since it was "
            "approved; the call was not made. Review it before using the tool again."
        )
        self.notify(message)
        raise ToolError(message)

    async def aclose(self) -> None:
        """Stop every server (their processes too) and wait for them."""
        self.task.cancel()
        with trio.move_on_after(15):
            await self.task.wait()


async def start_session_servers(session: Session) -> SessionMcp | None:
    """Start the session's MCP servers and add their tools; None when none is configured."""
    config = session_mcp_config(session)
    for problem in config.problems:
        session.notify(f"MCP: {problem}")
    if config.waiting_for_trust:
        names = ", ".join(sorted({s.name for s in config.waiting_for_trust}))
        session.notify(
            f"MCP servers defined by this project ({names}) were not started: the project is "
            "not trusted (run claw trust, or once with --trust)"
        )
    if not config.servers:
        return None
    # The SDK takes a second or more to import: in a worker thread, so other sessions
    # of the runtime go on meanwhile (the watchdog saw the event loop blocked for 3 s).
    await trio.to_thread.run_sync(importlib.import_module, "claw_runtime.mcp.client")
    from claw_runtime.mcp.client import McpConnection, McpServers, timeouts_from

    runtime = session.runtime
    startup, per_call = timeouts_from(session.state.env)
    servers = McpServers(
        connections={
            name: McpConnection(
                config=server,
                cwd=session.state.cwd,
                environ=session.state.env,
                startup_timeout=startup,
                call_timeout=per_call,
            )
            for name, server in config.servers.items()
        }
    )
    agent = session.agent
    base = dict(agent.tools)

    def publish_tools(tools: Mapping[str, Tool]) -> None:
        agent.tools = {**base, **tools}

    task = runtime.scheduler.spawn(servers.run, name="mcp", parent=session.agent.parent_task)
    await servers.wait_ready()
    mcp = SessionMcp(servers=servers, task=task, notify=session.notify, publish_tools=publish_tools)
    for connection in servers.connections.values():
        connection.on_tools_changed = lambda: publish_tools(mcp.tools())
    session.state.extras[EXTRAS_KEY] = mcp
    try:
        await servers.start_all()
    except BaseException:  # cancelled (a signal) while servers started: stop what started
        with trio.CancelScope(shield=True):
            await mcp.aclose()
        raise
    for failure in servers.failures():
        session.notify(failure)
    publish_tools(mcp.tools())
    return mcp
