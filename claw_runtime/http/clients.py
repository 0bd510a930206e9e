"""The runtime's HTTP clients: one per session by default, one TLS context for all.

httpx's connection pool re-examines every waiting request against every
connection each time one of them changes state. One ``AsyncClient`` shared by a
thousand sessions, each with a model request open, therefore spends its time in
that bookkeeping, and the CPU each session costs grows with the number of
sessions (docs/performance.md, "Many sessions in one process"). So each session
gets its own client, whose pool holds the session's one or two connections,
closed when the session ends. ``runtime.http`` stays the shared client for work
outside a session.

The settings (``"http"``, :class:`~claw_runtime.config.settings.HttpSettings`):

* ``clientPerSession`` (default ``true``): ``false`` gives every session the
  shared client, as claw did before;
* ``maxInFlight`` (default none): at most this many requests in flight in the
  whole runtime, each holding its place from sending until its response is
  closed (a stream's end); the others wait their turn, first come first served.

Building a verifying TLS context (loading the CA bundle) costs ~30 ms, so it is
built once per runtime, in a worker thread, by the first request to an
``https://`` URL, and shared by every client; requests to ``http://`` (a model
server on loopback) never build it. With proxy variables set (``HTTPS_PROXY``,
``NO_PROXY``...), requests go through httpx's own proxy handling, as before.

Each client sends its requests through ``claw_runtime.http.transport``: HTTP/1.1
on trio, responses parsed by httptools (llhttp, in C), as httpx's default
transport does through httpcore and h11, for a fraction of the CPU per request
(what remains of a thousand sessions' CPU is mostly HTTP; see docs/performance.md).

A transport given to :func:`open_http_clients` (tests) serves every client, and
is closed once, with the runtime.
"""

from __future__ import annotations

import ssl
import urllib.request
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import httpx
import trio

from claw_runtime.config.settings import HttpSettings

if TYPE_CHECKING:
    from claw_runtime.http.transport import Http11Transport

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClawClient",
    "HttpClients",
    "direct_http11",
    "direct_transport",
    "open_http_clients",
]

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=60.0, pool=60.0)
"""No read timeout: a model may think for minutes (providers set their own idle timeout)."""


@attrs.define(eq=False)
class _TlsContexts:
    """The runtime's SSL contexts, each built the first time it is needed."""

    _verifying: ssl.SSLContext | None = None
    _building: trio.Lock = attrs.field(factory=trio.Lock)
    _never_used: ssl.SSLContext | None = None

    async def verifying(self) -> ssl.SSLContext:
        """The context every ``https://`` connection uses (CA bundle as httpx loads it)."""
        if self._verifying is None:
            async with self._building:
                if self._verifying is None:  # another task may have built it meanwhile
                    self._verifying = await trio.to_thread.run_sync(httpx.create_ssl_context)
        return self._verifying

    def never_used(self) -> ssl.SSLContext:
        """What the ``http://`` pools hold, since httpx wants one: it trusts no certificate,
        so a TLS connection through it could only fail (none is ever made)."""
        if self._never_used is None:
            self._never_used = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self._never_used


class _LazyTransport(httpx.AsyncBaseTransport):
    """The HTTP/1.1 transport of ``claw_runtime.http.transport``, imported and made on
    first use (a command that sends no request never loads httptools)."""

    def __init__(self, contexts: _TlsContexts) -> None:
        self._contexts = contexts
        self._transport: Http11Transport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.http11().handle_async_request(request)

    def http11(self) -> Http11Transport:
        """The transport itself, made now if need be."""
        if self._transport is None:
            from claw_runtime.http.transport import Http11Transport

            self._transport = Http11Transport(self._contexts.verifying, self._httpx_transports)
        return self._transport

    async def _httpx_transports(self) -> httpx.AsyncBaseTransport:
        return _HttpxTransports(self._contexts)

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


class _HttpxTransports(httpx.AsyncBaseTransport):
    """httpx's own transports, made on first use: one for ``http://``, one for
    ``https://`` (the only one that needs the verifying context). They serve what
    the HTTP/1.1 transport hands over (upgrades, ``CONNECT``, trace extensions)."""

    def __init__(self, contexts: _TlsContexts) -> None:
        self._contexts = contexts
        self._plain: httpx.AsyncHTTPTransport | None = None
        self._secure: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._secure is None:
                context = await self._contexts.verifying()
                if self._secure is None:
                    self._secure = httpx.AsyncHTTPTransport(verify=context)
            transport = self._secure
        else:
            if self._plain is None:
                self._plain = httpx.AsyncHTTPTransport(verify=self._contexts.never_used())
            transport = self._plain
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._plain, self._secure):
            if transport is not None:
                await transport.aclose()


class _ThroughProxies(httpx.AsyncBaseTransport):
    """With proxy variables set: a client that reads them, as httpx does by default
    (made on first use, so the context is still built only when needed)."""

    def __init__(self, contexts: _TlsContexts) -> None:
        self._contexts = contexts
        self._client: httpx.AsyncClient | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._client is None:
            context = await self._contexts.verifying()
            if self._client is None:
                self._client = httpx.AsyncClient(verify=context)
        return await self._client.send(request, stream=True)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class _Borrowed(httpx.AsyncBaseTransport):
    """The runtime's transport, used by a session's client but closed only by the runtime."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._transport.handle_async_request(request)


class _Capped(httpx.AsyncBaseTransport):
    """Each request waits for a place (``maxInFlight``) and holds it until its
    response is closed."""

    def __init__(self, transport: httpx.AsyncBaseTransport, places: trio.Semaphore) -> None:
        self._transport = transport
        self._places = places

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._places.acquire()
        try:
            response = await self._transport.handle_async_request(request)
        except BaseException:
            self._places.release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _HoldsPlace(response.stream, self._places)
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class _HoldsPlace(httpx.AsyncByteStream):
    """A response body that gives its request's place back when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, places: trio.Semaphore) -> None:
        self._stream = stream
        self._places: trio.Semaphore | None = places

    def __aiter__(self) -> AsyncIterator[bytes]:
        return aiter(self._stream)

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._places is not None:
                self._places.release()
                self._places = None


class ClawClient(httpx.AsyncClient):
    """httpx's client as the runtime makes it: it knows its transport, so that a
    model request may go straight to it (:func:`direct_transport`)."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, timeout: httpx.Timeout) -> None:
        super().__init__(transport=transport, timeout=timeout)
        self.claw_transport = transport


def direct_transport(client: httpx.AsyncClient) -> httpx.AsyncBaseTransport | None:
    """The transport ``client.send`` would hand a request to, when handing it there
    directly does all ``send`` would: a client the runtime made, open, with no
    cookies, auth, query parameters or event hooks. None otherwise.

    What ``send`` adds around the transport (building the request from the
    client's defaults, the auth and redirect steps, a cookie jar read for every
    response) costs about a sixth of a streamed model request's CPU; the
    providers take this path for their requests (``providers/_http.py``), and
    fall back to ``send`` for any other client.
    """
    if (
        type(client) is not ClawClient
        or client.is_closed
        or client.cookies
        or client.auth is not None
        or client.params
        or client.event_hooks["request"]
        or client.event_hooks["response"]
    ):
        return None
    return client.claw_transport


def direct_http11(transport: httpx.AsyncBaseTransport) -> Http11Transport | None:
    """The HTTP/1.1 transport behind a client's own (:func:`direct_transport`), when a
    request may be handed to it as a head and a body (``Http11Transport.send``),
    with no ``httpx.Request`` built: a client the runtime made with no proxies, no
    ``maxInFlight`` cap and no transport of the tests'. None otherwise."""
    if type(transport) is _LazyTransport:
        return transport.http11()
    return None


@attrs.define(eq=False)
class HttpClients:
    """A runtime's HTTP clients: the shared one and each session's own.

    Build it with :func:`open_http_clients`, which closes whatever is still
    open when the runtime ends.
    """

    settings: HttpSettings
    timeout: httpx.Timeout
    _injected: httpx.AsyncBaseTransport | None
    _contexts: _TlsContexts = attrs.field(factory=_TlsContexts)
    _places: trio.Semaphore | None = None
    _proxied: bool = False
    _open: weakref.WeakSet[httpx.AsyncClient] = attrs.field(factory=weakref.WeakSet)
    shared: httpx.AsyncClient = attrs.field(init=False)
    """The runtime's own client (``runtime.http``): tools and providers made outside a session."""

    def __attrs_post_init__(self) -> None:
        if self.settings.max_in_flight is not None:
            self._places = trio.Semaphore(self.settings.max_in_flight)
        self._proxied = self._injected is None and bool(urllib.request.getproxies())
        self.shared = self._client(self._injected)

    def for_session(self) -> httpx.AsyncClient:
        """The client a new session uses: its own (``clientPerSession``, the default),
        or the shared one. Give it back with :meth:`release` when the session ends."""
        if not self.settings.client_per_session:
            return self.shared
        client = self._client(_Borrowed(self._injected) if self._injected is not None else None)
        self._open.add(client)
        return client

    async def release(self, client: httpx.AsyncClient) -> None:
        """Close a session's client and its connections (the shared one stays open)."""
        if client is not self.shared:
            self._open.discard(client)
            await client.aclose()

    async def aclose(self) -> None:
        """Close every client still open, the shared one last."""
        for client in list(self._open):
            await client.aclose()
        await self.shared.aclose()

    def _client(self, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
        if transport is None:
            transport = (
                _ThroughProxies(self._contexts) if self._proxied else _LazyTransport(self._contexts)
            )
        if self._places is not None:
            transport = _Capped(transport, self._places)
        return ClawClient(transport=transport, timeout=self.timeout)


@asynccontextmanager
async def open_http_clients(
    settings: HttpSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[HttpClients]:
    """The runtime's clients for the duration of the block; all closed at its end.

    Args:
        transport: serves every request instead of the network (tests); closed at the end.
    """
    clients = HttpClients(settings, DEFAULT_TIMEOUT, transport)
    try:
        yield clients
    finally:
        with trio.CancelScope(shield=True):
            await clients.aclose()
