"""The provider contract: how the agent loop talks to any model API.

A provider turns a :class:`ModelRequest` into an async stream of
:data:`StreamEvent` values. Deltas arrive as the bytes do, for live rendering;
the one event the loop acts on is the final :class:`StreamComplete`, which
carries the whole assistant message. Retries happen inside ``stream``: a failed
attempt yields :class:`StreamRetry` (everything streamed before it is void) and
starts again, so a partial response can never leak a tool call into the loop.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Protocol, TypeAlias

import attrs
import httpx

from claw_runtime.models import Message, StopReason, ToolSpec, Usage

__all__ = [
    "ModelRequest",
    "Provider",
    "ProviderFactory",
    "ProviderOverrides",
    "ProviderSettings",
    "RetryPolicy",
    "StreamComplete",
    "StreamEvent",
    "StreamRetry",
    "StreamTextDelta",
    "StreamThinkingDelta",
]


@attrs.frozen(kw_only=True)
class ModelRequest:
    """One call to the model: everything it needs to produce the next message."""

    model: str
    messages: tuple[Message, ...]
    system: str = ""
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 8192
    thinking_budget: int | None = None
    temperature: float | None = None


@attrs.frozen(kw_only=True)
class StreamTextDelta:
    text: str


@attrs.frozen(kw_only=True)
class StreamThinkingDelta:
    text: str


@attrs.frozen(kw_only=True)
class StreamRetry:
    """The attempt failed; the next one starts after ``delay_s``. Discard partial output."""

    attempt: int
    reason: str
    delay_s: float


@attrs.frozen(kw_only=True)
class StreamComplete:
    """The response finished with its end marker; ``message`` is complete and valid."""

    message: Message
    stop_reason: StopReason | None
    usage: Usage
    model: str
    truncated_tool_calls: tuple[str, ...] = ()
    """Names of tool calls cut off by ``max_tokens`` before their input was complete.

    They are left out of ``message`` (a call with half its input must not run,
    and must not go back to the API as if it were whole); the text before them stays.
    """


StreamEvent: TypeAlias = StreamTextDelta | StreamThinkingDelta | StreamRetry | StreamComplete


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently a provider retries a failed attempt.

    ``idle_timeout_s`` bounds the silence between two chunks of a stream;
    ``attempt_timeout_s`` bounds one whole attempt, from the request to the end
    marker (a server trickling keep-alive bytes never trips the idle timeout);
    ``max_retry_after_s`` caps how long a server's ``retry-after`` may make us wait.
    Both timeouts are settings: ``providers.<name>.idleTimeoutS`` / ``attemptTimeoutS``.
    """

    max_retries: int = 4
    initial_delay_s: float = 0.5
    max_delay_s: float = 20.0
    max_retry_after_s: float = 60.0
    jitter: float = 0.25
    idle_timeout_s: float = 90.0
    attempt_timeout_s: float = 600.0
    connect_timeout_s: float = 10.0


@attrs.frozen(kw_only=True)
class ProviderSettings:
    """What a provider is configured with (from settings, env vars and flags)."""

    model: str
    api_key: str | None = None
    auth_token: str | None = None
    base_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    extra_headers: tuple[tuple[str, str], ...] = ()
    prompt_caching: bool = True
    """Mark cache breakpoints in requests (Anthropic); off with ``DISABLE_PROMPT_CACHING=1``."""


@attrs.frozen(kw_only=True)
class ProviderOverrides:
    """What settings and CLI flags say about the provider; None means "not said"."""

    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    retry: RetryPolicy | None = None
    prompt_caching: bool | None = None


class Provider(Protocol):
    """A model API the loop can stream from."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream one response, retrying inside; end with ``StreamComplete`` or raise.

        Raises:
            ProviderHTTPError: a status retrying cannot fix (400, 401, 403, 413, spend limit).
            RetriesExhausted: every attempt failed.
        """
        ...


@attrs.frozen(kw_only=True)
class ProviderFactory:
    """What ``register_providers`` registers: a name and a way to build the provider.

    ``resolve_settings`` combines what settings and flags said (they win) with the
    provider's own env vars (``ANTHROPIC_API_KEY``...) and defaults, and raises
    ``ProviderConfigError`` naming exactly what to set when nothing usable is configured.
    """

    name: str
    create: Callable[[ProviderSettings, httpx.AsyncClient], Provider]
    resolve_settings: Callable[[ProviderOverrides, Mapping[str, str]], ProviderSettings]
    description: str = ""
