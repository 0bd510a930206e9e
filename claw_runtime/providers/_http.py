"""What every streaming provider shares: the attempt loop, POST, status, SSE.

A non-200 answer becomes the right provider error (retryable or final) with
the provider's own hint; a 200 answer is read as server-sent events under the
idle timeout, and whatever is left after the consumer stops (the bytes after
the end marker) is drained so the connection goes back to the pool.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import attrs
import httpx
import orjson

from claw_runtime.providers.base import (
    ModelRequest,
    ProviderSettings,
    RetryPolicy,
    StreamComplete,
    StreamEvent,
)
from claw_runtime.providers.retry import classify_http_error, stream_with_retries
from claw_runtime.providers.sse import ServerSentEvent, drain, iter_sse

__all__ = ["StreamState", "StreamingProvider", "open_event_stream"]


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

    Raises:
        RetryableError / ProviderHTTPError: the server answered with an error status.
    """
    timeout = httpx.Timeout(policy.connect_timeout_s, read=None, write=60.0, pool=60.0)
    async with http.stream("POST", url, content=content, headers=headers, timeout=timeout) as r:
        if r.status_code != 200:
            body = (await r.aread()).decode("utf-8", "replace")
            raise classify_http_error(
                r.status_code, body, r.headers, provider=provider, key_hint=key_hint
            )
        events = iter_sse(r.aiter_bytes(), idle_timeout=policy.idle_timeout_s)
        async with aclosing(events):
            yield events
            await drain(events)


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
            content=orjson.dumps(self.build_body(request)),
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
