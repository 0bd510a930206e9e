"""Model attempts end: an overall deadline beside the idle timeout, and 200s that are not SSE.

Real HTTP to the fake model server on loopback; time is trio's virtual clock
(``autojump_clock``), so a server trickling ``: ping`` for minutes costs nothing.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from claw_runtime.config.settings import HttpSettings, load_settings
from claw_runtime.errors import ConfigError, ProviderHTTPError, RetriesExhausted
from claw_runtime.http.clients import direct_http11, direct_transport, open_http_clients
from claw_runtime.models import Message
from claw_runtime.providers import anthropic, openai
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    ProviderOverrides,
    RetryPolicy,
    StreamComplete,
    StreamEvent,
    StreamRetry,
)
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

PROTOCOLS = ["anthropic", "openai"]
BASE_URL_VAR = {"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL"}
REQUEST = ModelRequest(model="claude-sonnet-4-5", messages=(Message.user("hi"),))


CLIENTS = ["runtime", "httpx"]
"""The runtime's own client (its transport bounds each read of the stream itself) and a
plain ``httpx.AsyncClient`` (the stream reader bounds each read with a cancel scope)."""


@asynccontextmanager
async def _client(kind: str) -> AsyncIterator[httpx.AsyncClient]:
    if kind == "httpx":
        async with httpx.AsyncClient() as http:
            yield http
        return
    async with open_http_clients(HttpSettings()) as clients:
        http = clients.for_session()
        assert direct_http11(direct_transport(http)) is not None  # the bounded path
        yield http


@asynccontextmanager
async def provider_for(
    protocol: str, turns: Sequence[Turn], policy: RetryPolicy, client: str = "httpx"
) -> AsyncIterator[tuple[Provider, FakeModelServer]]:
    async with open_fake_model_server(Script(list(turns))) as server, _client(client) as http:
        overrides = ProviderOverrides(retry=policy)
        if protocol == "anthropic":
            settings = anthropic.resolve_settings(
                overrides, {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
            )
            yield anthropic.AnthropicProvider(settings, http, random.Random(1)), server
        else:
            settings = openai.resolve_settings(
                overrides, {"OPENAI_BASE_URL": server.base_url + "/v1", "OPENAI_API_KEY": "k"}
            )
            yield openai.OpenAIProvider(settings, http, random.Random(1)), server


async def collect(provider: Provider) -> list[StreamEvent]:
    return [event async for event in provider.stream(REQUEST)]


TRICKLE = Turn.say("never finishes").with_fault(keepalive_s=1.0)
POLICY = RetryPolicy(
    max_retries=1, initial_delay_s=2.0, jitter=0.0, idle_timeout_s=5.0, attempt_timeout_s=30.0
)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_server_trickling_keepalives_forever_hits_the_attempt_deadline(
    protocol: str, client: str, autojump_clock: trio.testing.MockClock
) -> None:
    turns = [TRICKLE, TRICKLE]
    async with provider_for(protocol, turns, POLICY, client) as (provider, server):
        start = trio.current_time()
        with pytest.raises(RetriesExhausted) as caught:
            await collect(provider)
        elapsed = trio.current_time() - start
    # Two attempts of 30 s each and a 2 s backoff; the 5 s idle timeout never fired.
    assert elapsed == pytest.approx(62.0, abs=0.5)
    assert len(server.requests) == 2
    assert "did not finish within 30 s (attemptTimeoutS)" in str(caught.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_attempt_over_its_deadline_is_retried_and_the_next_one_counts(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with provider_for(protocol, [TRICKLE, Turn.say("finally")], POLICY) as (provider, _):
        events = await collect(provider)
    [retry] = [e for e in events if isinstance(e, StreamRetry)]
    assert "did not finish within 30 s" in retry.reason
    assert isinstance(events[-1], StreamComplete) and events[-1].message.text == "finally"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_stream_silent_past_the_idle_timeout_is_retried(
    protocol: str, client: str, autojump_clock: trio.testing.MockClock
) -> None:
    silent = Turn.say("stalls").with_fault(stall_s=6.0)  # 6 s without a byte; idle: 5 s
    turns = [silent, Turn.say("after")]
    async with provider_for(protocol, turns, POLICY, client) as (provider, server):
        start = trio.current_time()
        events = await collect(provider)
        elapsed = trio.current_time() - start
    [retry] = [e for e in events if isinstance(e, StreamRetry)]
    assert "went silent for 5 s" in retry.reason
    assert isinstance(events[-1], StreamComplete) and events[-1].message.text == "after"
    assert elapsed == pytest.approx(7.0, abs=0.5)  # 5 s of silence, then the 2 s backoff
    assert len(server.requests) == 2


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_slow_but_steady_answer_within_the_deadline_completes(
    protocol: str, client: str, autojump_clock: trio.testing.MockClock
) -> None:
    # 2 s between events is under the idle timeout; the whole answer (~20 s) under 30 s.
    turn = Turn.say("a b c d e", chunk_size=2, delay_s=2.0)
    async with provider_for(protocol, [turn], POLICY, client) as (provider, _):
        events = await collect(provider)
    assert not any(isinstance(e, StreamRetry) for e in events)
    assert isinstance(events[-1], StreamComplete) and events[-1].message.text == "a b c d e"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=utf-8", "<html><body><h1>Welcome to nginx!</h1></body></html>"),
        ("application/json", '{"object": "list", "data": []}'),
    ],
)
async def test_a_200_that_is_not_an_event_stream_is_one_final_error(
    protocol: str, content_type: str, body: str
) -> None:
    turn = Turn.fail(content_type=content_type, body=body)
    async with provider_for(protocol, [turn, Turn.say("never")], POLICY) as (provider, server):
        with pytest.raises(ProviderHTTPError) as caught:
            await collect(provider)
    message = str(caught.value)
    bare = content_type.split(";")[0]
    assert f"answered 200 with {bare}, not an event stream" in message
    assert f"is {BASE_URL_VAR[protocol]} right?" in message
    assert "\n" not in message
    assert len(server.requests) == 1  # not retried


async def test_the_timeouts_are_settings(tmp_path: Path) -> None:
    overrides = {"providers": {"anthropic": {"idleTimeoutS": 7, "attemptTimeoutS": 45.5}}}
    env = {"HOME": str(tmp_path / "home"), "CLAW_CONFIG_DIR": str(tmp_path / "claw")}
    loaded = load_settings(tmp_path, cli_overrides=overrides, environ=env, home=tmp_path / "home")
    environ = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    async with open_runtime(loaded.settings, environ=environ, no_plugins=True) as runtime:
        _, settings = runtime.provider_settings("anthropic")
    assert (settings.retry.idle_timeout_s, settings.retry.attempt_timeout_s) == (7.0, 45.5)
    assert settings.retry.max_retries == RetryPolicy().max_retries
    async with open_runtime(
        load_settings(tmp_path, environ=env, home=tmp_path / "home").settings,
        environ=environ,
        no_plugins=True,
    ) as runtime:
        _, default = runtime.provider_settings("anthropic")
    assert (default.retry.idle_timeout_s, default.retry.attempt_timeout_s) == (90.0, 600.0)


@pytest.mark.parametrize("value", [0, -1])
def test_timeouts_must_be_positive(tmp_path: Path, value: int) -> None:
    overrides = {"providers": {"openai": {"attemptTimeoutS": value}}}
    with pytest.raises(ConfigError, match="attemptTimeoutS"):
        load_settings(
            tmp_path,
            cli_overrides=overrides,
            environ={"HOME": str(tmp_path / "home"), "CLAW_CONFIG_DIR": str(tmp_path / "c")},
            home=tmp_path / "home",
        )
