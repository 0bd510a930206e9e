"""HTTP/1.1 for the runtime's clients: h11 on trio streams, under httpx's own API.

httpx is the HTTP library; this is the transport under a session's
``AsyncClient`` (the seam httpx documents: ``AsyncBaseTransport``). It does what
httpx's default transport asks of httpcore, for the one or two connections a
session's client holds, without httpcore's layers (the pool's request queue, a
connection wrapper, a lock, a trace context and a cancel scope around every
read and write): a streamed model request, the whole of it from the provider
down, went from 4.2M to 3.1M instructions, and the model requests are most of
a session's CPU when a thousand sessions share a process (docs/performance.md,
"Many sessions in one process"). The parts are httpx's own stack: h11 parses
and frames the messages, exactly as under httpcore; trio opens the sockets and
TLS. A command that makes one request also skips importing httpcore (~40 ms).

What it does as httpcore does (httpx's defaults: HTTP/1.1, ``Limits()``):

* keep-alive connections per origin, reused only when the previous response was
  read to its end, closed when idle past ``keepalive_expiry`` or when the server
  closed them (the socket reads as ready while idle);
* at most ``max_connections`` connections; a request that finds none waits
  ``pool`` seconds (then ``httpx.PoolTimeout``), closing an idle connection to
  another origin to make room;
* the ``connect``, ``read``, ``write`` and ``pool`` timeouts of each request
  (``request.extensions["timeout"]``), as httpx's timeout exceptions;
* a write error is kept quiet until the response is read, since servers may
  answer and close before reading the whole request;
* failures as httpx's exceptions (``ConnectError``, ``ReadError``,
  ``RemoteProtocolError``...), with the same messages.

What it does not do is handed to httpx's default transport, built when first
needed: ``CONNECT`` and protocol upgrades (``Upgrade:`` requests), which claw
does not send, and requests with a ``trace`` or ``sni_hostname`` extension.
Proxies never reach it: httpx routes proxied URLs to its own proxy transports.
"""

from __future__ import annotations

import math
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import httpx
import trio

__all__ = ["H11Transport"]

READ_NUM_BYTES = 64 * 1024
"""Bytes asked of the socket per read (as httpcore)."""
MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024
"""Largest response head h11 may buffer (as httpcore)."""
_DELEGATED_EXTENSIONS = ("trace", "sni_hostname")
_NO_TIMEOUT: dict[str, float | None] = {}
DEFAULT_LIMITS = httpx.Limits()
"""httpx's own defaults: 100 connections, 20 kept alive, for 5 s."""

Origin = tuple[bytes, bytes, int]
"""Scheme, host, port."""


def _deadline(timeouts: dict[str, float | None], which: str) -> float:
    """The trio deadline for one operation (inf: none)."""
    seconds = timeouts.get(which)
    return math.inf if seconds is None else trio.current_time() + seconds


class _Connection:
    """One HTTP/1.1 connection: a trio stream and its h11 state machine."""

    __slots__ = ("h11", "idle_since", "origin", "stream")

    def __init__(self, origin: Origin, stream: trio.abc.Stream) -> None:
        self.origin = origin
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE)
        self.idle_since = 0.0

    def closed_by_server(self) -> bool:
        """An idle connection whose socket reads as ready: the server closed it (or
        sent what no request asked for); either way it must not carry a request."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        assert isinstance(stream, trio.SocketStream)
        return stream.socket.is_readable()

    async def read(self, deadline: float) -> bytes:
        try:
            if deadline == math.inf:
                return await self._receive()
            with trio.fail_at(deadline):
                return await self._receive()
        except trio.TooSlowError:
            raise httpx.ReadTimeout("timed out") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx.ReadError(str(exc)) from exc

    async def _receive(self) -> bytes:
        stream = self.stream
        if not isinstance(stream, trio.SocketStream):
            return bytes(await stream.receive_some(READ_NUM_BYTES))
        # Plain TCP: wait until the socket reads as ready, then read. trio's
        # ``receive_some`` tries the read first, which for an answer still to
        # come fails, then waits, reads and yields once more: a read here costs
        # one scheduler step instead of two, on trio's public low-level API.
        while True:
            fd = stream.socket.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the connection was closed")
            await trio.lowlevel.wait_readable(fd)
            try:
                return os.read(fd, READ_NUM_BYTES)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc

    async def write(self, data: bytes, deadline: float) -> None:
        try:
            await self._send(data, deadline)
        except trio.TooSlowError:
            raise httpx.WriteTimeout("timed out") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx.WriteError(str(exc)) from exc

    async def _send(self, data: bytes, deadline: float) -> None:
        stream = self.stream
        if not isinstance(stream, trio.SocketStream):
            with trio.fail_at(deadline):
                await stream.send_all(data)
            return
        # Plain TCP: a request usually fits the socket's buffer at once, so the
        # write timeout's cancel scope is made only when the socket is full, and
        # the read that follows is the scheduling point (trio's ``send_all``
        # yields after every send).
        await trio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(data)
        while view:
            fd = stream.socket.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the connection was closed")
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                with trio.fail_at(deadline):
                    await trio.lowlevel.wait_writable(fd)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc

    async def next_event(self, timeouts: dict[str, float | None]) -> Any:
        """The next h11 event from the server, reading as needed."""
        conn = self.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self.read(_deadline(timeouts, "read"))
            if not data and conn.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            try:
                conn.receive_data(data)
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc

    def reusable(self) -> bool:
        """The exchange ended cleanly: the next request may use this connection."""
        conn = self.h11
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        """Close at once, as ``trio.aclose_forcefully`` would (no TLS goodbye)."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        assert isinstance(stream, trio.SocketStream)
        stream.socket.close()


class _ResponseBody(httpx.AsyncByteStream):
    """A response's body, read from its connection; closing it gives the connection
    back (read to its end) or closes it (anything else: cut short, failed, cancelled)."""

    def __init__(
        self, transport: H11Transport, conn: _Connection, timeouts: dict[str, float | None]
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._timeouts = timeouts

    def __aiter__(self) -> _ResponseBody:
        # An iterator, not an async generator: one left part-read when its reader
        # fails needs no finalizing (its connection is closed by ``aclose``).
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        while True:
            event = await conn.next_event(self._timeouts)
            if type(event) is h11.Data:
                return bytes(event.data)
            if type(event) is h11.EndOfMessage or event is h11.PAUSED:
                raise StopAsyncIteration

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._transport._finished(conn)


class H11Transport(httpx.AsyncBaseTransport):
    """httpx's transport for one client: HTTP/1.1 over h11 and trio (see the module).

    Args:
        tls_context: returns the TLS context for ``https://`` (called on the
            first such connection; it may build it then).
        limits: as httpx's ``Limits`` (``max_connections``,
            ``max_keepalive_connections``, ``keepalive_expiry``).
        fallback: builds the transport for what this one hands over (see the module).
    """

    def __init__(
        self,
        tls_context: Callable[[], Awaitable[ssl.SSLContext]],
        fallback: Callable[[], Awaitable[httpx.AsyncBaseTransport]],
        limits: httpx.Limits = DEFAULT_LIMITS,
    ) -> None:
        self._tls_context = tls_context
        self._make_fallback = fallback
        self._fallback: httpx.AsyncBaseTransport | None = None
        kept = limits.max_keepalive_connections
        self._max_idle: float = math.inf if kept is None else kept
        expiry = limits.keepalive_expiry
        self._expiry: float = math.inf if expiry is None else expiry
        self._free: float = math.inf if limits.max_connections is None else limits.max_connections
        """How many more connections may open."""
        self._changed = trio.lowlevel.ParkingLot()
        """Where requests wait for a connection to be free."""
        self._idle: list[_Connection] = []
        """Connections waiting for a request, the oldest first."""
        self._active: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        if (
            request.method == "CONNECT"
            or "upgrade" in request.headers
            or any(key in request.extensions for key in _DELEGATED_EXTENSIONS)
        ):
            return await self._delegate(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", _NO_TIMEOUT)
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        conn = await self._connection(origin, timeouts)
        self._active.add(conn)
        try:
            status, reason, headers = await self._exchange(conn, request, timeouts)
        except BaseException:
            self._active.discard(conn)
            self._close(conn)
            raise
        return httpx.Response(
            status,
            headers=headers,
            stream=_ResponseBody(self, conn, timeouts),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    async def _exchange(
        self, conn: _Connection, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """Send the request and read the response's head."""
        h = conn.h11
        head = h11.Request(
            method=request.method, target=request.url.raw_path, headers=request.headers.raw
        )
        try:
            if isinstance(request.stream, httpx.ByteStream):  # the body is known: one write
                body = request.content
                data = h.send(head) or b""
                if body:
                    data += h.send(h11.Data(data=body)) or b""
                data += h.send(h11.EndOfMessage()) or b""
                await conn.write(data, _deadline(timeouts, "write"))
            else:
                await conn.write(h.send(head) or b"", _deadline(timeouts, "write"))
                assert isinstance(request.stream, httpx.AsyncByteStream)
                async for chunk in request.stream:
                    await conn.write(
                        h.send(h11.Data(data=chunk)) or b"", _deadline(timeouts, "write")
                    )
                await conn.write(h.send(h11.EndOfMessage()) or b"", _deadline(timeouts, "write"))
        except httpx.WriteError:
            # Servers may answer and close before reading the whole request: read on.
            pass
        while True:
            event = await conn.next_event(timeouts)
            if type(event) is h11.Response:
                return event.status_code, event.reason, event.headers.raw_items()
            if type(event) is h11.InformationalResponse:
                continue

    async def _connection(self, origin: Origin, timeouts: dict[str, float | None]) -> _Connection:
        """An idle connection to ``origin`` still good to use, or a new one; with every
        connection busy, wait (at most the ``pool`` timeout) for one to be free."""
        deadline: float | None = None
        while True:
            conn = self._idle_to(origin)
            if conn is not None:
                return conn
            if self._room():
                self._free -= 1
                try:
                    return await self._connect(origin, timeouts)
                except BaseException:
                    self._free += 1
                    self._changed.unpark_all()
                    raise
            if deadline is None:
                deadline = _deadline(timeouts, "pool")
            with trio.move_on_at(deadline) as waited:
                await self._changed.park()
            if waited.cancelled_caught:
                raise httpx.PoolTimeout("timed out")

    def _idle_to(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection to ``origin``, closing stale ones."""
        idle = self._idle
        now = time.monotonic()
        for conn in idle[::-1]:
            if conn.origin != origin:
                continue
            idle.remove(conn)
            if now - conn.idle_since > self._expiry or conn.closed_by_server():
                self._close(conn)
                continue
            return conn
        return None

    def _room(self) -> bool:
        """Whether one more connection may open, closing an idle one if that makes room."""
        if self._free <= 0 and self._idle:
            self._close(self._idle.pop(0))
        return self._free > 0

    async def _connect(self, origin: Origin, timeouts: dict[str, float | None]) -> _Connection:
        scheme, host, port = origin
        name = host.decode("ascii")
        context = await self._tls_context() if scheme == b"https" else None
        if context is not None:
            context.set_alpn_protocols(["http/1.1"])  # as httpcore, which offers no h2 either
        tcp: trio.SocketStream | None = None
        try:
            with trio.fail_at(_deadline(timeouts, "connect")):
                tcp = await trio.open_tcp_stream(name, port)
                if context is None:
                    return _Connection(origin, tcp)
                tls = trio.SSLStream(tcp, context, server_hostname=name, https_compatible=True)
                await tls.do_handshake()
                return _Connection(origin, tls)
        except BaseException as exc:
            if tcp is not None:  # a failed or cancelled handshake: the socket goes too
                tcp.socket.close()
            if isinstance(exc, trio.TooSlowError):
                raise httpx.ConnectTimeout("timed out") from None
            if isinstance(exc, OSError | trio.BrokenResourceError):
                raise httpx.ConnectError(str(exc)) from exc
            raise

    async def _finished(self, conn: _Connection) -> None:
        """A response was closed: keep its connection for the next request, or close it."""
        self._active.discard(conn)
        if not self._closed and conn.reusable():
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            if len(self._idle) > self._max_idle:
                self._close(self._idle.pop(0))
            elif self._changed:
                self._changed.unpark_all()
        else:
            self._close(conn)

    def _close(self, conn: _Connection) -> None:
        conn.close()
        self._free += 1
        if self._changed:
            self._changed.unpark_all()

    async def _delegate(self, request: httpx.Request) -> httpx.Response:
        if self._fallback is None:
            self._fallback = await self._make_fallback()
        return await self._fallback.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every connection (a response still streaming fails to read on)."""
        self._closed = True
        for conn in [*self._idle, *self._active]:
            conn.close()
        self._idle.clear()
        self._active.clear()
        if self._fallback is not None:
            with trio.CancelScope(shield=True):
                await self._fallback.aclose()
