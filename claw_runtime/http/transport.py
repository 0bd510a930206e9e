"""HTTP/1.1 for the runtime's clients: httptools (llhttp) on trio streams, under httpx's API.

httpx is the HTTP library; this is the transport under a session's
``AsyncClient`` (the seam httpx documents: ``AsyncBaseTransport``). It does what
httpx's default transport asks of httpcore, for the one or two connections a
session's client holds, without httpcore's layers (the pool's request queue, a
connection wrapper, a lock, a trace context and a cancel scope around every
read and write). The model requests are most of a session's CPU when a
thousand sessions share a process (docs/performance.md, "Many sessions in one
process"), so the work per request is kept small:

* responses are parsed by ``httptools``, the C binding of llhttp that uvicorn
  uses: status line, headers, chunked decoding and the message's end in C,
  handed to a few callbacks. h11 (what httpcore uses) does the same in Python,
  with a regex per header, and was about a quarter of a streamed request's CPU;
* the request head is written here, validated as h11 validates it (a header
  name must be a token; a value, the method and the target may not hold CR,
  LF, NUL or other whitespace than inner spaces and tabs: a header cannot be
  smuggled into the head), with one regex over the whole head, not one per
  header;
* a read of the socket is one scheduler step, and a cancel scope is made only
  when the request has a read timeout.

A command that makes one request also skips importing httpcore (~40 ms).

What it does as httpcore does (httpx's defaults: HTTP/1.1, ``Limits()``):

* keep-alive connections per origin, reused only when the previous response was
  read to its end (and neither side said ``Connection: close``), closed when
  idle past ``keepalive_expiry`` or when the server closed them (the socket
  reads as ready while idle);
* at most ``max_connections`` connections; a request that finds none waits
  ``pool`` seconds (then ``httpx.PoolTimeout``), closing an idle connection to
  another origin to make room;
* the ``connect``, ``read``, ``write`` and ``pool`` timeouts of each request
  (``request.extensions["timeout"]``), as httpx's timeout exceptions;
* a write error is kept quiet until the response is read, since servers may
  answer and close before reading the whole request;
* bodies framed by ``Content-Length``, chunked, or read to the connection's
  close; informational (1xx) responses skipped; a response head larger than
  100 KiB refused;
* failures as httpx's exceptions (``ConnectError``, ``ReadError``,
  ``RemoteProtocolError`` for a malformed or cut-short response,
  ``LocalProtocolError`` for a request that cannot be sent), with httpcore's
  messages where httpcore makes its own (a parser's own words differ).

What it does not do is handed to httpx's default transport, built when first
needed: ``CONNECT`` and protocol upgrades (``Upgrade:`` requests), which claw
does not send, and requests with a ``trace`` or ``sni_hostname`` extension.
Proxies never reach it: httpx routes proxied URLs to its own proxy transports.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence

import httptools
import httpx
import trio

__all__ = ["DEFAULT_LIMITS", "Http11Transport", "Origin", "RequestHead", "Timeouts"]

READ_NUM_BYTES = 64 * 1024
"""Bytes asked of the socket per read (as httpcore)."""
MAX_HEAD_SIZE = 100 * 1024
"""Largest response head accepted (as httpcore's limit on what h11 may buffer)."""
_DELEGATED_EXTENSIONS = ("trace", "sni_hostname")
_NO_TIMEOUT: dict[str, float | None] = {}
DEFAULT_LIMITS = httpx.Limits()
"""httpx's own defaults: 100 connections, 20 kept alive, for 5 s."""
HTTP_11 = b"HTTP/1.1"
HTTP_10 = b"HTTP/1.0"

Timeouts = dict[str, float | None]
"""``connect``, ``read``, ``write``, ``pool``: seconds, or None for no limit."""
Origin = tuple[bytes, bytes, int]
"""Scheme, host, port."""

# h11's grammar (h11/_abnf.py): a token; a field value is visible characters
# (anything but NUL and whitespace) with single runs of spaces and tabs inside.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_VCHAR = rb"[^\x00\s]"
_VALUE = rb"(?:" + _VCHAR + rb"+(?:[ \t]+" + _VCHAR + rb"+)*)?"
_HEAD_RE = re.compile(
    _TOKEN + rb" " + _VCHAR + rb"+ HTTP/1\.1\r\n(?:" + _TOKEN + rb": " + _VALUE + rb"\r\n)*\r\n"
)
"""A whole request head, as written below: one match checks every header."""
_NAME_RE = re.compile(_TOKEN)
_VALUE_RE = re.compile(_VALUE)


def _deadline(timeouts: Timeouts, which: str) -> float:
    """The trio deadline for one operation (inf: none)."""
    seconds = timeouts.get(which)
    return math.inf if seconds is None else trio.current_time() + seconds


# ---------------------------------------------------------------- the request


class RequestHead:
    """A request's head as bytes, with what framing and reuse need to know of it."""

    __slots__ = ("chunked", "close", "data", "head_only", "length", "upgrade")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """Raises ``httpx.LocalProtocolError`` for a head h11 would refuse to send."""
        length: int | None = None
        chunked = close = has_host = upgrade = False
        lines = [method, b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            if len(name) == 4 and name.lower() == b"host":  # first, as h11 writes it
                if has_host:
                    raise httpx.LocalProtocolError("Found multiple Host: headers")
                lines[4:4] = [name, b": ", value, b"\r\n"]
                has_host = True
                continue
            lines += (name, b": ", value, b"\r\n")
            if len(name) in (7, 10, 14, 17):
                lowered = name.lower()
                if lowered == b"upgrade":
                    upgrade = True
                elif lowered == b"content-length":
                    length = _content_length(value, length)
                elif lowered == b"transfer-encoding":
                    chunked = _transfer_encoding(value, chunked)
                elif lowered == b"connection":
                    close = close or b"close" in value.lower()
        lines.append(b"\r\n")
        data = b"".join(lines)
        if _HEAD_RE.fullmatch(data) is None or data.count(b"\n") != len(headers) + 2:
            _refuse(method, target, headers)
        if not has_host:
            raise httpx.LocalProtocolError("Missing mandatory Host: header")
        self.data = data
        self.length = length
        self.chunked = chunked
        self.close = close
        self.head_only = method == b"HEAD"
        """The response will have no body, whatever its head says."""
        self.upgrade = upgrade

    def sized(self, length: int) -> RequestHead:
        """This head with ``Content-Length: length`` added last (as httpx adds it), for
        a head made once and sent with many bodies. It must have no framing header."""
        assert self.length is None and not self.chunked
        head = object.__new__(RequestHead)
        head.data = b"%bContent-Length: %d\r\n\r\n" % (self.data[:-2], length)
        head.length = length
        head.chunked = False
        head.close = self.close
        head.head_only = self.head_only
        head.upgrade = self.upgrade
        return head


def _content_length(value: bytes, seen: int | None) -> int:
    lengths = {part.strip() for part in value.split(b",")}
    if len(lengths) != 1:
        raise httpx.LocalProtocolError("conflicting Content-Length headers")
    text = lengths.pop()
    if not text.isdigit() or not text.isascii() or len(text) > 20:
        raise httpx.LocalProtocolError("bad Content-Length")
    if seen is not None and seen != int(text):
        raise httpx.LocalProtocolError("conflicting Content-Length headers")
    return int(text)


def _transfer_encoding(value: bytes, seen: bool) -> bool:
    if seen:
        raise httpx.LocalProtocolError("multiple Transfer-Encoding headers")
    if value.lower() != b"chunked":
        raise httpx.LocalProtocolError("Only Transfer-Encoding: chunked is supported")
    return True


def _refuse(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Name what made the head invalid, in h11's words."""
    if _NAME_RE.fullmatch(method) is None:
        raise httpx.LocalProtocolError(f"Illegal method characters {method!r}")
    if re.fullmatch(_VCHAR + rb"+", target) is None:
        raise httpx.LocalProtocolError(f"Illegal target characters {target!r}")
    for name, value in headers:
        if _NAME_RE.fullmatch(name) is None:
            raise httpx.LocalProtocolError(f"Illegal header name {name!r}")
        if _VALUE_RE.fullmatch(value) is None:
            raise httpx.LocalProtocolError(f"Illegal header value {value!r}")
    raise httpx.LocalProtocolError("Illegal request head")  # not reached: each part was checked


def _framed(chunk: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


def _too_little(sent: int, length: int) -> httpx.LocalProtocolError:
    return httpx.LocalProtocolError(
        f"Too little data for declared Content-Length ({sent} of {length} bytes)"
    )


_TOO_MUCH = "Too much data for declared Content-Length"


# --------------------------------------------------------------- a connection


class _Connection:
    """One HTTP/1.1 connection: a trio stream and the parser of its responses.

    The parser's callbacks (``on_*``) fill in the response being read: its
    status and headers, the body's pieces not yet handed on, and whether it
    ended. Exactly one exchange is in progress at a time.
    """

    __slots__ = (
        "close_after",
        "complete",
        "extra",
        "head_bytes",
        "head_done",
        "headers",
        "idle_since",
        "informational",
        "origin",
        "parser",
        "pieces",
        "reason",
        "received",
        "status",
        "stream",
        "version",
    )

    def __init__(self, origin: Origin, stream: trio.abc.Stream) -> None:
        self.origin = origin
        self.stream = stream
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = 0.0
        self.close_after = False
        """The request said ``Connection: close``, or nothing may follow this response."""
        self.begin()

    def begin(self) -> None:
        """Ready for the next response."""
        self.headers: list[tuple[bytes, bytes]] = []
        self.pieces: list[bytes] = []
        self.status = 0
        self.reason = b""
        self.version = HTTP_11
        self.head_bytes = 0
        self.received = 0
        self.head_done = self.complete = self.extra = self.informational = False

    # The parser's callbacks.

    def on_message_begin(self) -> None:
        if self.complete:  # bytes past the end of the response: nothing may follow it
            self.extra = True

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if status < 200:  # informational: the final response follows
            self.informational = True
            self.headers = []
            return
        self.status = status
        if self.parser.get_http_version() != "1.1":
            self.version = HTTP_10
            self.close_after = True  # as h11: no keep-alive before HTTP/1.1
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        if body and not self.complete:
            self.pieces.append(body)
            self.received += len(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        if not self.complete:
            self.complete = True
            if not self.parser.should_keep_alive():
                self.close_after = True

    # Reading.

    async def read_head(self, timeouts: Timeouts) -> None:
        """Read until the final response's head has arrived (it may bring body too)."""
        while not self.head_done:
            data = await self.read(_deadline(timeouts, "read"))
            if not data:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.head_bytes += len(data)
            self.feed(data)
            if not self.head_done and self.head_bytes > MAX_HEAD_SIZE:
                raise httpx.RemoteProtocolError("Receive buffer too long")

    async def read_body(self, timeouts: Timeouts) -> None:
        """Read once more of the body, or find its end."""
        await self.read_body_until(_deadline(timeouts, "read"))

    async def read_body_until(self, deadline: float) -> None:
        """Read once more of the body, or find its end, waiting until ``deadline`` at most."""
        data = await self.read(deadline)
        if data:
            self.feed(data)
        else:
            self.end_of_stream()

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if not self.complete:
                raise httpx.RemoteProtocolError("unexpected protocol upgrade") from None
            self.extra = True
        except httptools.HttpParserError as exc:
            if not self.complete:
                raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
            self.extra = True  # what follows the response is not HTTP: it ended all the same

    def end_of_stream(self) -> None:
        """The server closed the connection: the end of a body read to the close, or a
        cut-short one (as h11 says it)."""
        if self.complete:
            return
        length: bytes | None = None
        chunked = False
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == b"content-length":
                length = value
            elif lowered == b"transfer-encoding":
                chunked = value.lower().rstrip().endswith(b"chunked")
        if chunked:
            detail = "incomplete chunked read"
        elif length is not None:
            detail = f"received {self.received} bytes, expected {int(length.strip())}"
        else:  # read to the close: the close is its end
            self.complete = self.close_after = True
            return
        raise httpx.RemoteProtocolError(
            f"peer closed connection without sending complete message body: {detail}"
        )

    def reusable(self) -> bool:
        """The exchange ended cleanly: the next request may use this connection."""
        if self.complete and not (self.close_after or self.extra):
            self.begin()
            return True
        return False

    # The socket.

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

    async def write(self, data: bytes | Sequence[bytes], deadline: float) -> None:
        """Send ``data``: bytes, or pieces sent as one write (a request's head and body
        are not first copied into one buffer; see :func:`_whole`)."""
        try:
            await self._send([data] if isinstance(data, bytes) else data, deadline)
        except trio.TooSlowError:
            raise httpx.WriteTimeout("timed out") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise httpx.WriteError(str(exc)) from exc

    async def _send(self, pieces: Sequence[bytes], deadline: float) -> None:
        stream = self.stream
        if not isinstance(stream, trio.SocketStream):
            with trio.fail_at(deadline):
                await stream.send_all(b"".join(pieces))
            return
        # Plain TCP: a request usually fits the socket's buffer at once, so the
        # write timeout's cancel scope is made only when the socket is full, and
        # the read that follows is the scheduling point (trio's ``send_all``
        # yields after every send).
        await trio.lowlevel.checkpoint_if_cancelled()
        views = [memoryview(piece) for piece in pieces if piece]
        while views:
            fd = stream.socket.fileno()
            if fd < 0:
                raise trio.ClosedResourceError("the connection was closed")
            try:
                views = _unsent(views, os.writev(fd, views))
            except BlockingIOError:
                with trio.fail_at(deadline):
                    await trio.lowlevel.wait_writable(fd)
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from exc

    def close(self) -> None:
        """Close at once, as ``trio.aclose_forcefully`` would (no TLS goodbye)."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        assert isinstance(stream, trio.SocketStream)
        stream.socket.close()


class _ResponseBody(httpx.AsyncByteStream):
    """A response's body, read from its connection; closing it gives the connection
    back (read to its end) or closes it (anything else: cut short, failed, cancelled).

    Each step hands on what one read of the socket brought (the pieces of a
    chunked body joined), so a streamed answer takes one step per arrival.
    """

    def __init__(self, transport: Http11Transport, conn: _Connection, timeouts: Timeouts) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._timeouts = timeouts
        self._idle: float | None = None
        self._until = math.inf

    def bound_reads(self, idle: float, until: float = math.inf) -> None:
        """From now on, wait at most ``idle`` seconds for each arrival and never past
        ``until`` (the trio clock): ``httpx.ReadTimeout`` otherwise.

        The event-stream reader's bounds, kept here so that they cost something
        only when the socket is waited on: most steps of a streamed answer hand
        on bytes that already arrived (see ``claw_runtime.providers.sse``).
        """
        self._idle, self._until = idle, until

    @property
    def complete(self) -> bool:
        """The whole body has arrived (some may be left to read): closing the stream
        gives its connection back, with nothing more to read."""
        return self._conn is not None and self._conn.complete

    def __aiter__(self) -> _ResponseBody:
        # An iterator, not an async generator: one left part-read when its reader
        # fails needs no finalizing (its connection is closed by ``aclose``).
        return self

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        while True:
            pieces = conn.pieces
            if pieces:
                conn.pieces = []
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if conn.complete:
                raise StopAsyncIteration
            if self._idle is None:
                await conn.read_body(self._timeouts)
            else:
                await conn.read_body_until(min(trio.current_time() + self._idle, self._until))

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._transport._finished(conn)


# ------------------------------------------------------------- the transport


class Http11Transport(httpx.AsyncBaseTransport):
    """httpx's transport for one client: HTTP/1.1 over httptools and trio (see the module).

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
        url = request.url
        head = RequestHead(request.method.encode("ascii"), url.raw_path, request.headers.raw)
        if (
            head.upgrade
            or request.method == "CONNECT"
            or any(key in request.extensions for key in _DELEGATED_EXTENSIONS)
        ):
            if self._closed:
                raise RuntimeError("the transport is closed")
            return await self._delegate(request)
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        stream = request.stream
        body: bytes | AsyncIterable[bytes]
        if isinstance(stream, httpx.ByteStream):  # the body is known: one write
            body = request.content
        else:
            assert isinstance(stream, httpx.AsyncByteStream)
            body = stream
        timeouts: Timeouts = request.extensions.get("timeout", _NO_TIMEOUT)
        return await self.send(origin, head, body, timeouts)

    async def send(
        self,
        origin: Origin,
        head: RequestHead,
        body: bytes | AsyncIterable[bytes],
        timeouts: Timeouts,
    ) -> httpx.Response:
        """Send one request (``head``, then ``body``) to ``origin``; the response's body
        is left to stream. What ``handle_async_request`` does past its ``httpx.Request``,
        for a caller that has the head's parts at hand (``providers/_http.py``)."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        conn = await self._connection(origin, timeouts)
        self._active.add(conn)
        try:
            await self._exchange(conn, head, body, timeouts)
        except BaseException:
            self._active.discard(conn)
            self._close(conn)
            raise
        headers = conn.headers
        return httpx.Response(
            conn.status,
            # The encoding said, so that httpx need not find it (decoding every header)
            # at each lookup, as it does when it was not.
            headers=httpx.Headers(headers, "ascii" if _ascii(headers) else None),
            stream=_ResponseBody(self, conn, timeouts),
            extensions={"http_version": conn.version, "reason_phrase": conn.reason},
        )

    async def _exchange(
        self,
        conn: _Connection,
        head: RequestHead,
        body: bytes | AsyncIterable[bytes],
        timeouts: Timeouts,
    ) -> None:
        """Send the request and read the response's head."""
        conn.close_after = head.close
        try:
            if isinstance(body, bytes):
                await conn.write(_whole(head, body), _deadline(timeouts, "write"))
            else:
                await conn.write(head.data, _deadline(timeouts, "write"))
                await _write_stream(conn, head, body, timeouts)
        except httpx.WriteError:
            # Servers may answer and close before reading the whole request: read on.
            pass
        await conn.read_head(timeouts)
        if head.head_only:  # what the parser may take for a body belongs to no response
            conn.pieces = []
            conn.complete = conn.close_after = True

    async def _connection(self, origin: Origin, timeouts: Timeouts) -> _Connection:
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
        if not idle:
            return None
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

    async def _connect(self, origin: Origin, timeouts: Timeouts) -> _Connection:
        scheme, host, port = origin
        name = host.decode("ascii")
        context = await self._tls_context() if scheme == b"https" else None
        if context is not None:
            context.set_alpn_protocols(["http/1.1"])  # as httpcore, which offers no h2 either
        tcp: trio.SocketStream | None = None
        try:
            with trio.fail_at(_deadline(timeouts, "connect")):
                tcp = await _open_tcp(name, port)
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


async def _open_tcp(host: str, port: int) -> trio.SocketStream:
    """A TCP connection; to an IP address written as such (a model server on
    loopback, a local model), without trio's resolver and happy-eyeballs nursery,
    which cost more CPU than the connection itself."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return await trio.open_tcp_stream(host, port)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


def _ascii(headers: list[tuple[bytes, bytes]]) -> bool:
    return b"".join([b"".join(pair) for pair in headers]).isascii()


def _whole(head: RequestHead, body: bytes) -> list[bytes]:
    """Head and body as the pieces of one write, framed as the head declares.

    Not joined: late in a long conversation a model request's body is 200 KB,
    and a buffer that size, bigger than any before it, is fresh memory from the
    system, paid for in page faults.
    """
    if head.chunked:
        return [head.data, _framed(body), b"0\r\n\r\n"] if body else [head.data, b"0\r\n\r\n"]
    length = head.length or 0
    if len(body) > length:
        raise httpx.LocalProtocolError(_TOO_MUCH)
    if len(body) < length:
        raise _too_little(len(body), length)
    return [head.data, body]


def _unsent(views: list[memoryview], sent: int) -> list[memoryview]:
    """What is left of ``views`` once their first ``sent`` bytes went out."""
    for index, view in enumerate(views):
        if sent < len(view):
            return [view[sent:], *views[index + 1 :]]
        sent -= len(view)
    return []


async def _write_stream(
    conn: _Connection, head: RequestHead, body: AsyncIterable[bytes], timeouts: Timeouts
) -> None:
    """A streamed request body: chunked, or as many bytes as ``Content-Length`` says."""
    sent = 0
    length = head.length or 0
    async for chunk in body:
        if not chunk:
            continue
        if head.chunked:
            await conn.write(_framed(chunk), _deadline(timeouts, "write"))
            continue
        sent += len(chunk)
        if sent > length:
            raise httpx.LocalProtocolError(_TOO_MUCH)
        await conn.write(chunk, _deadline(timeouts, "write"))
    if head.chunked:
        await conn.write(b"0\r\n\r\n", _deadline(timeouts, "write"))
    elif sent < length:
        raise _too_little(sent, length)
