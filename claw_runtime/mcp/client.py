"""Connections to MCP servers: start, call, restart, stop, all under one session's task.

This is the only module of the client that imports the ``mcp`` SDK (about a
second of imports), and it is imported only when some server is configured.

Each server is served by one task (:meth:`McpConnection.serve`) that enters the
SDK's ``Client`` and stays inside it until the connection is stopped: the SDK's
anyio task groups and the server process belong to that task, so cancelling it
(the session closing) stops the process. The tasks live in the nursery of
:class:`McpServers`, itself one scheduler task under the session.

Faults, each a result the model reads, never an exception:

* start-up: servers start concurrently; one that fails, or does not answer within
  the start-up timeout (``MCP_TIMEOUT`` in milliseconds, as Claude Code reads it;
  default 30 s), is reported in one line and the session goes on without it.
* a call that takes longer than the call timeout (``MCP_TOOL_TIMEOUT`` ms,
  default 10 minutes) gets an error result; so does a call the server dies
  during, or answers with something that is not MCP. The server is restarted
  on its next use.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import anyio
import attrs
import trio
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import DEFAULT_INHERITED_ENV_VARS, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from claw_runtime.logs import get_logger
from claw_runtime.mcp.config import McpServerConfig
from claw_runtime.models import ToolResultBlock
from claw_runtime.text import clean_text

__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "DEFAULT_STARTUP_TIMEOUT_S",
    "McpCallError",
    "McpConnection",
    "McpServers",
    "timeouts_from",
]

log = get_logger(__name__)

DEFAULT_STARTUP_TIMEOUT_S = 30.0
DEFAULT_CALL_TIMEOUT_S = 600.0

State = Literal["pending", "connected", "failed", "stopped"]

_STDERR_TAIL = 400
"""How much of a failed server's stderr its one-line error quotes (the end of it)."""


def timeouts_from(environ: Mapping[str, str]) -> tuple[float, float]:
    """``(start-up, per call)`` seconds from ``MCP_TIMEOUT``/``MCP_TOOL_TIMEOUT`` (ms)."""

    def read(name: str, default: float) -> float:
        raw = environ.get(name, "")
        try:
            value = float(raw) / 1000
        except ValueError:
            return default
        return value if math.isfinite(value) and value > 0 else default

    return read("MCP_TIMEOUT", DEFAULT_STARTUP_TIMEOUT_S), read(
        "MCP_TOOL_TIMEOUT", DEFAULT_CALL_TIMEOUT_S
    )


class McpCallError(Exception):
    """A call that did not get an answer from the server (the message is for the model)."""


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(clean_text(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    """One line for what went wrong, unwrapping the SDK's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@attrs.define(eq=False, kw_only=True)
class McpConnection:
    """One configured server: its connection (when up), its listings, its state."""

    config: McpServerConfig
    cwd: Path
    environ: Mapping[str, str]
    """The session's environment: what ``${VAR}`` saw; stdio servers get the SDK's
    safe defaults (``PATH``, ``HOME``...) plus their configured ``env``."""
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT_S
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S
    state: State = "pending"
    error: str = ""
    tools: list[Any] = attrs.field(factory=list)
    """The server's ``tools/list`` (SDK ``Tool`` objects) from the last start."""
    prompts: list[Any] = attrs.field(factory=list)
    has_resources: bool = False
    starts: int = 0
    """How many times it was started (1 + restarts)."""
    _client: Client | None = None
    _scope: trio.CancelScope | None = None
    _stopped: trio.Event = attrs.field(factory=trio.Event)
    _broken: bool = False
    _lock: trio.Lock = attrs.field(factory=trio.Lock)
    _stderr: TextIO | None = None
    _tools_changed: bool = False
    """The server said its tool list changed (``notifications/tools/list_changed``)."""
    on_tools_changed: Callable[[], None] | None = None
    """Called after the tools were listed again (the session shows the model the new list)."""
    _http_refusal: str = ""
    """The last HTTP error status the server answered (``HTTP 401 Unauthorized from URL``):
    the SDK's own error says only "Server returned an error response"."""

    @property
    def name(self) -> str:
        return self.config.name

    # ----------------------------------------------------------------- serving

    def _transport(self) -> Any:
        config = self.config
        if config.type == "stdio":
            assert self._stderr is not None
            # The SDK's safe variables (PATH, HOME, ...) from the session's environment,
            # not the process's, then the server's own ``env``.
            inherited = {
                k: self.environ[k] for k in DEFAULT_INHERITED_ENV_VARS if k in self.environ
            }
            params = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env={**inherited, **config.env},
                cwd=str(self.cwd),
            )
            return stdio_client(params, errlog=self._stderr)
        if config.type == "sse":
            return sse_client(
                config.url, headers=dict(config.headers) or None, httpx_client_factory=self._http
            )
        http = self._http(headers=dict(config.headers) or None)
        return streamable_http_client(config.url, http_client=http), http

    def _http(
        self, headers: dict[str, str] | None = None, timeout: Any = None, auth: Any = None
    ) -> Any:
        """The SDK's HTTP client, also noting the status of a refused request.

        A response hook sees the answers the SDK gets anyway, so the one-line
        error can name the status and URL without a second request.
        """
        client = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)

        async def note_refusal(response: Any) -> None:
            # A 405 to the optional GET stream is how a server says it has none: normal.
            if response.status_code >= 400 and not (
                response.status_code == 405 and response.request.method == "GET"
            ):
                reason = f" {response.reason_phrase}" if response.reason_phrase else ""
                self._http_refusal = f"HTTP {response.status_code}{reason} from {response.url}"

        hooks = client.event_hooks
        client.event_hooks = {**hooks, "response": [*hooks.get("response", []), note_refusal]}
        return client

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL * 4))
            tail = self._stderr.read()
        except (OSError, ValueError):
            return ""
        lines = [line for line in tail.splitlines() if line.strip()]
        return _one_line(lines[-1], _STDERR_TAIL) if lines else ""

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, list, report started (connected or failed), then hold the connection.

        ``task_status.started()`` is always called, once the outcome of the start
        is known, so :meth:`McpServers.start` never raises for a server's fault.
        """
        self.starts += 1
        self._stopped = trio.Event()
        self._broken = False
        self._http_refusal = ""
        started = False
        # The server's stderr, kept apart from the person's terminal; its last line
        # explains a failed start. Closed after the error is written, not with the client.
        self._stderr = cast(
            TextIO,
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace"),  # noqa: SIM115
        )
        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                startup = trio.CancelScope(deadline=trio.current_time() + self.startup_timeout)
                with startup:
                    async with contextlib.AsyncExitStack() as stack:
                        transport = self._transport()
                        if isinstance(transport, tuple):
                            transport, http = transport
                            await stack.enter_async_context(http)
                        client = Client(transport, mode="auto", message_handler=self._on_message)
                        await stack.enter_async_context(client)
                        await self._list(client)
                        startup.deadline = math.inf
                        self._client = client
                        self.state, self.error = "connected", ""
                        started = True
                        task_status.started()
                        await trio.sleep_forever()
                if startup.cancelled_caught:
                    self._fail(f"did not start within {self.startup_timeout:g} s")
        except Exception as exc:  # the SDK raises many kinds; each is one line for the user
            tail = self._stderr_tail()
            if self._http_refusal:  # the status says more than the SDK's error
                self._fail(self._http_refusal)
            else:
                self._fail(_describe(exc) + (f" (stderr: {tail})" if tail else ""))
        finally:
            self._stderr.close()
            self._client = None
            if self.state == "connected":
                self.state = "stopped"
            self._stopped.set()
            if not started:
                task_status.started()

    async def _on_message(self, message: Any) -> None:
        """Notifications from the server: a changed tool list is listed again after the
        call in progress (or at the next use), never inside the SDK's receive loop."""
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            self._tools_changed = True

    async def _relist_if_changed(self) -> None:
        client = self._client
        if not self._tools_changed or client is None:
            return
        self._tools_changed = False
        with trio.move_on_after(self.call_timeout):
            try:
                await self._list(client)
            except Exception as exc:  # the old list stays; the next call shows the fault
                log.info("mcp relist failed", server=self.name, error=_describe(exc))
                return
            if self.on_tools_changed is not None:
                self.on_tools_changed()

    def _fail(self, error: str) -> None:
        self.state, self.error = "failed", _one_line(error)
        log.info("mcp server failed", server=self.name, error=self.error)  # the user sees a notice

    async def _list(self, client: Client) -> None:
        capabilities = client.server_capabilities
        tools: list[Any] = []
        if capabilities.tools is not None:
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
        self.tools = tools
        self.prompts = []
        if capabilities.prompts is not None:
            with contextlib.suppress(MCPError):
                self.prompts = list((await client.list_prompts()).prompts)
        self.has_resources = capabilities.resources is not None

    async def stop(self) -> None:
        """Stop the connection (the server process with it) and wait until it is gone."""
        if self._scope is not None:
            self._scope.cancel()
            await self._stopped.wait()

    # ------------------------------------------------------------------- calls

    async def ensure(self, servers: McpServers) -> Client:
        """The live client, restarting a server that died or timed out since its last use."""
        async with self._lock:
            if self._client is not None and not self._broken:
                return self._client
            if self.state != "pending":
                log.info("restarting mcp server", server=self.name, reason=self.error or "broken")
                await self.stop()
            await servers.start(self)
            if self._client is None:
                raise McpCallError(
                    f"MCP server {self.name} is not available: {self.error or 'not running'}"
                )
            return self._client

    async def call(self, servers: McpServers, method: str, *args: Any) -> Any:
        """``client.<method>(*args)`` with the call timeout; the server's faults as
        :class:`McpCallError` (and the connection marked for a restart)."""
        client = await self.ensure(servers)
        await self._relist_if_changed()
        try:
            with trio.move_on_after(self.call_timeout) as scope:
                result = await getattr(client, method)(*args)
            if not scope.cancelled_caught:
                await self._relist_if_changed()  # announced during the call: before it returns
                return result
        except MCPError as exc:
            if _connection_lost(exc):
                self._broken = True
                self.error = "the connection was lost"
                raise McpCallError(
                    f"MCP server {self.name} stopped answering ({_one_line(str(exc))}); "
                    "it will be restarted on next use"
                ) from None
            raise McpCallError(f"MCP server {self.name}: {_one_line(str(exc))}") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            self._broken = True
            self.error = "the connection was lost"
            raise McpCallError(
                f"MCP server {self.name} went away during the call ({_describe(exc)}); "
                "it will be restarted on next use"
            ) from None
        except Exception as exc:
            self._broken = True
            self.error = _describe(exc)
            raise McpCallError(
                f"MCP server {self.name} answered with something that is not a valid MCP "
                f"result ({_one_line(_describe(exc), 200)}); it will be restarted on next use"
            ) from None
        assert scope.cancelled_caught
        self._broken = True
        self.error = f"a call took longer than {self.call_timeout:g} s"
        raise McpCallError(
            f"MCP server {self.name} did not answer within {self.call_timeout:g} s; "
            "the call was abandoned and the server will be restarted on next use"
        )


def _connection_lost(exc: MCPError) -> bool:
    text = str(exc).lower()
    return "connection closed" in text or "connection lost" in text or "closed" in text


@attrs.define(eq=False, kw_only=True)
class McpServers:
    """The session's MCP connections and the nursery their tasks run in."""

    connections: dict[str, McpConnection] = attrs.field(factory=dict)
    _nursery: trio.Nursery | None = None
    _ready: trio.Event = attrs.field(factory=trio.Event)
    _done: trio.Event = attrs.field(factory=trio.Event)

    async def run(self) -> None:
        """The scheduler task that holds every connection's task (until cancelled)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._ready.set()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self._done.set()

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def start(self, connection: McpConnection) -> None:
        """Start one server's task and wait until it is connected or has failed."""
        if self._nursery is None:
            raise McpCallError(f"MCP server {connection.name}: the session is closing")
        await self._nursery.start(_serve, connection)

    async def start_all(self) -> None:
        """Start every server concurrently; returns once each is connected or failed."""
        async with trio.open_nursery() as starting:
            for connection in self.connections.values():
                starting.start_soon(self.start, connection)

    def failures(self) -> list[str]:
        """One line per server that failed to start."""
        return [
            f"MCP server {c.name} failed to start: {c.error}"
            for c in self.connections.values()
            if c.state == "failed"
        ]

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        connection = self.connections[server]
        return await connection.call(self, "call_tool", tool, arguments)


async def _serve(
    connection: McpConnection, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    await connection.serve(task_status=task_status)


def error_block(tool_use_id: str, message: str) -> ToolResultBlock:
    from claw_runtime.executor import error_result

    return error_result(tool_use_id, message)
