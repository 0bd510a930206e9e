"""Retries shared by every provider: which failures to retry, how long to wait.

Retried: connection errors and timeouts, HTTP 408, 409, 429 (unless it is a
spend or quota limit), 5xx and 529 (overloaded), and broken streams (no end
marker, an ``error`` event after 200, invalid SSE or JSON, silence past the idle
timeout). Not retried: 400, 401, 403, 404, 413 and spend-limit 429s; they
raise :class:`~claw_runtime.errors.ProviderHTTPError` with one line that says
what happened and what to do.

Waits grow exponentially with jitter; a server's ``retry-after-ms`` or
``retry-after`` (seconds or an HTTP date) is honoured up to a cap.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing

import httpx
import trio

from claw_runtime.errors import (
    ProviderError,
    ProviderHTTPError,
    ProviderStreamError,
    RetriesExhausted,
)
from claw_runtime.logs import get_logger
from claw_runtime.providers.base import RetryPolicy, StreamEvent, StreamRetry

__all__ = [
    "RetryableError",
    "backoff_delay",
    "classify_http_error",
    "parse_retry_after",
    "stream_with_retries",
]

log = get_logger(__name__)

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_SPEND_LIMIT_MARKERS = (
    "insufficient_quota",
    "credit balance",
    "billing",
    "spend limit",
    "spending limit",
    "exceeded your current quota",
)


class RetryableError(ProviderError):
    """A failed attempt that another attempt may fix."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait as the server asked, from ``retry-after-ms`` or ``retry-after``."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def backoff_delay(
    policy: RetryPolicy, attempt: int, retry_after: float | None, rng: random.Random
) -> float:
    """How long to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
    if retry_after is not None:
        return min(retry_after, policy.max_retry_after_s)
    base = min(policy.max_delay_s, policy.initial_delay_s * float(2**attempt))
    return max(0.0, base * (1.0 + policy.jitter * (2.0 * rng.random() - 1.0)))


def _error_message(body: str) -> str:
    try:
        import orjson

        data = orjson.loads(body)
    except ValueError:
        return body.strip()[:200]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return body.strip()[:200]


def classify_http_error(
    status: int, body: str, headers: Mapping[str, str], *, provider: str, key_hint: str
) -> ProviderError:
    """The error to raise for a non-200 answer: retryable or final, with a clear message."""
    detail = _error_message(body)
    lowered = body.lower()
    if status == 429 and any(marker in lowered for marker in _SPEND_LIMIT_MARKERS):
        return ProviderHTTPError(
            f"{provider}: spend or quota limit reached (HTTP 429): {detail}. "
            "Add credit or raise the limit in your account; retrying will not help.",
            status_code=status,
        )
    if status in RETRYABLE_STATUS or status >= 500:
        return RetryableError(
            f"{provider} answered HTTP {status}: {detail}",
            retry_after=parse_retry_after(headers),
        )
    hints = {
        400: "the request was rejected",
        401: f"authentication failed: check {key_hint}",
        403: f"permission denied: check that {key_hint} may use this model",
        404: "not found: check the model name and the base URL",
        413: "the request is too large: shorten the conversation or the files read",
    }
    hint = hints.get(status, "the request failed")
    return ProviderHTTPError(f"{provider}: {hint} (HTTP {status}): {detail}", status_code=status)


def _reason(error: BaseException) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    if isinstance(error, httpx.TransportError):
        return f"connection failed ({type(error).__name__}: {error})"
    return str(error)


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[StreamEvent, None]],
    policy: RetryPolicy,
    rng: random.Random,
) -> AsyncGenerator[StreamEvent, None]:
    """Run ``attempt`` until one completes, yielding a ``StreamRetry`` between failures.

    Raises:
        ProviderHTTPError: a final status; not retried.
        RetriesExhausted: every attempt failed; ``__cause__`` is the last failure.
    """
    for number in range(policy.max_retries + 1):
        try:
            async with aclosing(attempt()) as events:
                async for event in events:
                    yield event
            return
        except (RetryableError, ProviderStreamError, httpx.TransportError) as error:
            if number == policy.max_retries:
                raise RetriesExhausted(
                    f"the model failed {number + 1} times; last error: {_reason(error)}"
                ) from error
            retry_after = error.retry_after if isinstance(error, RetryableError) else None
            delay = backoff_delay(policy, number, retry_after, rng)
            log.info(
                "model attempt failed", attempt=number + 1, reason=_reason(error), delay_s=delay
            )
            yield StreamRetry(attempt=number + 1, reason=_reason(error), delay_s=delay)
            await trio.sleep(delay)
