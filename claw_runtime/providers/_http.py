"""The HTTP half every streaming provider shares: POST, check the status, read SSE.

A non-200 answer becomes the right provider error (retryable or final) with
the provider's own hint; a 200 answer is read as server-sent events under the
idle timeout, and whatever is left after the consumer stops (the bytes after
the end marker) is drained so the connection goes back to the pool.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager

import httpx

from claw_runtime.providers.base import RetryPolicy
from claw_runtime.providers.retry import classify_http_error
from claw_runtime.providers.sse import ServerSentEvent, drain, iter_sse

__all__ = ["open_event_stream"]


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
