"""What every streaming provider shares: the attempt loop, POST, status, SSE.

A non-200 answer becomes the right provider error (retryable or final) with
the provider's own hint; a 200 answer that is not an event stream (an HTML
page, plain JSON: a wrong base URL) is a final error naming its content type;
a 200 event stream is read as server-sent events under the idle timeout and
the attempt's overall deadline (``RetryPolicy.attempt_timeout_s``), and
whatever is left after the consumer stops (the bytes after the end marker) is
drained so the connection goes back to the pool.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing, asynccontextmanager, suppress
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs
import httpx
import orjson
import trio

from claw_runtime.errors import ProviderHTTPError, ProviderStreamError
from claw_runtime.http.clients import direct_http11, direct_transport
from claw_runtime.providers.base import (
    ModelRequest,
    ProviderSettings,
    RetryPolicy,
    StreamComplete,
    StreamEvent,
)
from claw_runtime.providers.retry import classify_http_error, stream_with_retries
from claw_runtime.providers.sse import ServerSentEvent, drain, iter_sse

if TYPE_CHECKING:
    from claw_runtime.http.transport import Origin, RequestHead

__all__ = ["StreamState", "StreamingProvider", "open_event_stream"]


_httpx_log = logging.getLogger("httpx")
"""Where httpx's client logs each request (at INFO); the direct path logs the same line."""

BASE_URL_VARS = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
"""The env var that says where each built-in provider's server is (for error hints)."""


def _over_deadline(policy: RetryPolicy) -> ProviderStreamError:
    return ProviderStreamError(
        f"the model attempt did not finish within {policy.attempt_timeout_s:g} s "
        "(attemptTimeoutS): the server kept the response open without ending it"
    )


async def _not_an_event_stream(
    r: httpx.Response, content_type: str, provider: str
) -> ProviderHTTPError:
    """The final error for a 200 answer that is not ``text/event-stream``, in one line."""
    head = b""
    with trio.move_on_after(2.0):
        async for piece in r.aiter_bytes():
            head += piece
            if len(head) >= 120:
                break
    snippet = " ".join(head[:120].decode("utf-8", "replace").split())
    where = BASE_URL_VARS.get(provider, "the provider's base URL")
    return ProviderHTTPError(
        f"{provider}: the model server answered 200 with {content_type}, not an event stream: "
        f"is {where} right?" + (f" (the body starts: {snippet!r})" if snippet else ""),
        status_code=200,
    )


@asynccontextmanager
async def open_event_stream(
    http: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    policy: RetryPolicy,
    provider: str,
    key_hint: str,
) -> AsyncIterator[AsyncGenerator[ServerSentEvent, None]]:
    """``async with open_event_stream(...) as events: async for sse in events: ...``

    The attempt's deadline (``policy.attempt_timeout_s``) bounds the wait for
    the response headers and every read after it; past it the attempt fails
    with ``ProviderStreamError`` (retried like any broken stream).

    Raises:
        RetryableError / ProviderHTTPError: the server answered with an error
            status, or with 200 and a body that is not an event stream (final).
        ProviderStreamError: silent past the idle timeout, or past the attempt deadline.
    """
    deadline = trio.current_time() + policy.attempt_timeout_s
    with trio.CancelScope(deadline=deadline) as sending:  # ``fail_at`` without its wrapper
        r = await _send(http, url, content, headers, policy)
    if sending.cancelled_caught:
        raise _over_deadline(policy)
    try:
        if r.status_code != 200:
            body = (await r.aread()).decode("utf-8", "replace")
            raise classify_http_error(
                r.status_code, body, r.headers, provider=provider, key_hint=key_hint
            )
        content_type = r.headers.get("content-type", "")
        if content_type and not content_type.lower().startswith("text/event-stream"):
            raise await _not_an_event_stream(r, content_type.split(";")[0].strip(), provider)
        events = iter_sse(
            _body(r),
            idle_timeout=policy.idle_timeout_s,
            deadline=deadline,
            past_deadline=partial(_over_deadline, policy),
        )
        async with aclosing(events):
            yield events
            # The message already ended: what trails it does not matter. A body the
            # transport already has whole needs no reading (its connection is reusable).
            if not _received_whole(r):
                with suppress(ProviderStreamError):
                    await drain(events)
    finally:
        await r.aclose()


async def _send(
    http: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: dict[str, str],
    policy: RetryPolicy,
) -> httpx.Response:
    """POST, the response's body left to stream.

    A model turn's HTTP is most of a session's CPU when many sessions share a
    process, so a client the runtime made gets the request built as ``send``
    would build it (the client's default headers, ours replacing those of the
    same name, ``Host`` first and ``Content-Length`` last) and handed straight
    to its transport (``direct_transport``): as a head made once per endpoint
    and set of headers, and the body, when the transport is the runtime's own
    HTTP/1.1 one (``direct_http11``; an ``httpx.Request`` costs more to build
    than the rest of sending it), else as an ``httpx.Request``. Any other
    client gets ``send(stream=True)``.
    """
    timeout = {"connect": policy.connect_timeout_s, "read": None, "write": 60.0, "pool": 60.0}
    transport = direct_transport(http)
    if transport is None:
        request = http.build_request(
            "POST", url, content=content, headers=headers, timeout=httpx.Timeout(**timeout)
        )
        return await http.send(request, stream=True)
    http11 = direct_http11(transport)
    try:
        made = _head(url, tuple(http.headers.raw), tuple(headers.items())) if http11 else None
    except httpx.LocalProtocolError as exc:  # a header that cannot be sent
        exc.request = _request(http, url, content, headers, timeout)
        raise
    if http11 is not None and made is not None:
        origin, head = made
        try:
            response = await http11.send(origin, head.sized(len(content)), content, timeout)
        except httpx.RequestError as exc:
            exc.request = _request(http, url, content, headers, timeout)  # as send does
            raise
    else:
        request = _request(http, url, content, headers, timeout)
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request
            raise
        response.request = request
    if "set-cookie" in response.headers:
        response.request = _request(http, url, content, headers, timeout)
        http.cookies.extract_cookies(response)  # kept, so the next request goes through send
    if _httpx_log.isEnabledFor(logging.INFO):
        _httpx_log.info(
            'HTTP Request: %s %s "%s %d %s"',
            "POST",
            _parsed(url),
            response.http_version,
            response.status_code,
            response.reason_phrase,
        )
    return response


def _merged(
    client_headers: Iterable[tuple[bytes, bytes]], headers: Iterable[tuple[str, str]]
) -> list[tuple[bytes, bytes]]:
    """The client's default headers, then ours, replacing those of the same name."""
    pairs = [(k.encode("ascii"), v.encode("utf-8")) for k, v in headers]
    ours = {name.lower() for name, _ in pairs}
    return [(k, v) for k, v in client_headers if k.lower() not in ours] + pairs


def _request(
    http: httpx.AsyncClient,
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: dict[str, float | None],
) -> httpx.Request:
    """The request ``send`` would build (with the client's defaults)."""
    return httpx.Request(
        "POST",
        _parsed(url),
        content=content,
        headers=_merged(http.headers.raw, headers.items()),
        extensions={"timeout": timeout},
    )


_OWN_HEADERS = (b"host", b"content-length", b"transfer-encoding", b"upgrade")
"""Headers that make a request's head other than the common case (httpx builds it then)."""


@functools.lru_cache(maxsize=64)
def _head(
    url: str, client_headers: tuple[tuple[bytes, bytes], ...], headers: tuple[tuple[str, str], ...]
) -> tuple[Origin, RequestHead] | None:
    """Where a POST to ``url`` goes and its head without ``Content-Length``, as
    ``httpx.Request`` and the transport would make them, made once for each
    endpoint and set of headers (they repeat from request to request); None
    for headers that frame the body or name the host themselves."""
    from claw_runtime.http.transport import RequestHead

    merged = _merged(client_headers, headers)
    if any(name.lower() in _OWN_HEADERS for name, _ in merged):
        return None
    parsed = _parsed(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    head = RequestHead(b"POST", parsed.raw_path, [(b"Host", parsed.netloc), *merged])
    return (parsed.raw_scheme, parsed.raw_host, port), head


@functools.lru_cache(maxsize=64)
def _parsed(url: str) -> httpx.URL:
    """A provider's endpoint, parsed once (an ``httpx.URL`` is immutable; parsing it
    is half the cost of building a request)."""
    return httpx.URL(url)


def _received_whole(r: httpx.Response) -> bool:
    """Whether the response's body has arrived to its end (the runtime's transport
    says so: ``complete``; for any other stream, not known)."""
    return getattr(r.stream, "complete", False) is True


def _body(r: httpx.Response) -> AsyncIterator[bytes]:
    """The response's bytes: as sent when not content-encoded (the transport's own
    stream, one step from the socket), else decoded by httpx."""
    if "content-encoding" in r.headers:
        return r.aiter_bytes()
    assert isinstance(r.stream, httpx.AsyncByteStream)
    return aiter(r.stream)


class StreamState(Protocol):
    """What a provider accumulates while a response streams."""

    finished: bool
    """Set when the end marker arrived (``message_stop``, ``[DONE]``)."""

    def complete(self) -> StreamComplete:
        """The finished message; raises ProviderStreamError if the stream was incomplete."""
        ...


S = TypeVar("S", bound=StreamState)


@attrs.define(eq=False)
class StreamingProvider(Generic[S]):
    """The attempt loop every SSE provider shares; subclasses speak their protocol.

    A subclass says where to POST (:meth:`endpoint`), what to send
    (:meth:`build_body`, :meth:`headers`) and how to read one SSE ``data`` field
    into its state (:meth:`handle`). Retries, the idle timeout, connection reuse
    and "nothing from a broken attempt escapes" live here once.
    """

    settings: ProviderSettings
    http: httpx.AsyncClient
    rng: random.Random = attrs.field(factory=random.Random)

    name = "provider"
    key_hint = "the API key"

    def endpoint(self) -> str:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        raise NotImplementedError

    def encode_body(self, request: ModelRequest) -> bytes:
        """The body as sent: :meth:`build_body` as JSON (a subclass may join kept pieces)."""
        return orjson.dumps(self.build_body(request))

    def new_state(self, request: ModelRequest) -> S:
        raise NotImplementedError

    def handle(self, data: str, state: S) -> list[StreamEvent]:
        raise NotImplementedError

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """One response, retried within the policy (see ``claw_runtime.providers.base``)."""
        return stream_with_retries(partial(self._attempt, request), self.settings.retry, self.rng)

    async def _attempt(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        state = self.new_state(request)
        async with open_event_stream(
            self.http,
            self.endpoint(),
            content=self.encode_body(request),
            headers=self.headers(),
            policy=self.settings.retry,
            provider=self.name,
            key_hint=self.key_hint,
        ) as events:
            async for sse in events:
                for event in self.handle(sse.data, state):
                    yield event
                if state.finished:
                    break
        yield state.complete()
