"""Both providers against the fake model server: parsing, retries, failures.

Real HTTP on loopback; timing (backoff, retry-after, idle timeouts) runs on
trio's virtual clock, so a 60 s stall costs nothing.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from claw_runtime.errors import ProviderHTTPError, ProviderStreamError, RetriesExhausted
from claw_runtime.models import (
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from claw_runtime.providers import anthropic, openai
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    ProviderOverrides,
    RetryPolicy,
    StreamComplete,
    StreamEvent,
    StreamRetry,
    StreamTextDelta,
    StreamThinkingDelta,
)
from claw_runtime.providers.pricing import ModelPrice, cost_usd, price_for
from claw_runtime.providers.retry import backoff_delay, parse_retry_after
from claw_runtime.providers.sse import ServerSentEvent, iter_sse
from claw_runtime.testing.fake_server import FakeModelServer, open_fake_model_server
from claw_runtime.testing.script import Script, ToolCallSpec, Turn

PROTOCOLS = ["anthropic", "openai"]
POLICY = RetryPolicy(
    max_retries=3, initial_delay_s=1.0, max_delay_s=8.0, jitter=0.0, idle_timeout_s=30.0
)
REQUEST = ModelRequest(
    model="claude-sonnet-4-5",
    system="be brief",
    messages=(Message.user("hi"),),
    tools=(ToolSpec(name="Read", description="read", input_schema={"type": "object"}),),
)


@asynccontextmanager
async def provider_for(
    protocol: str, turns: Sequence[Turn], policy: RetryPolicy = POLICY
) -> AsyncIterator[tuple[Provider, FakeModelServer]]:
    async with open_fake_model_server(Script(list(turns))) as server, httpx.AsyncClient() as http:
        overrides = ProviderOverrides(retry=policy)
        if protocol == "anthropic":
            settings_ = anthropic.resolve_settings(
                overrides, {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
            )
            yield anthropic.AnthropicProvider(settings_, http, random.Random(1)), server
        else:
            settings_ = openai.resolve_settings(
                overrides, {"OPENAI_BASE_URL": server.base_url + "/v1", "OPENAI_API_KEY": "k"}
            )
            yield openai.OpenAIProvider(settings_, http, random.Random(1)), server


async def collect(provider: Provider, request: ModelRequest = REQUEST) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    async for event in provider.stream(request):
        events.append(event)
    return events


def completion(events: list[StreamEvent]) -> StreamComplete:
    [done] = [e for e in events if isinstance(e, StreamComplete)]
    assert events[-1] is done
    return done


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("byte_chunk", [0, 1, 3])
async def test_text_thinking_and_tool_calls_reassemble_across_any_chunking(
    protocol: str, byte_chunk: int
) -> None:
    turn = Turn.call(
        ToolCallSpec("Read", {"file_path": "/tmp/naïve ☃.txt", "limit": 5}),
        ToolCallSpec("Grep", {"pattern": "é+"}),
        text="Héllo ☃ wörld",
        thinking="ponder ☃",
        chunk_size=2,
        byte_chunk=byte_chunk,
    )
    async with provider_for(protocol, [turn]) as (provider, _):
        events = await collect(provider)
    done = completion(events)
    assert "".join(e.text for e in events if isinstance(e, StreamTextDelta)) == "Héllo ☃ wörld"
    assert "".join(e.text for e in events if isinstance(e, StreamThinkingDelta)) == "ponder ☃"
    message = done.message
    assert message.text == "Héllo ☃ wörld"
    assert [(b.name, b.input) for b in message.tool_uses] == [
        ("Read", {"file_path": "/tmp/naïve ☃.txt", "limit": 5}),
        ("Grep", {"pattern": "é+"}),
    ]
    assert done.stop_reason == "tool_use"
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0


async def test_anthropic_thinking_signature_and_cache_usage_are_kept() -> None:
    turn = Turn.say(
        "ok",
        thinking="hmm",
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
        input_tokens=7,
        output_tokens=3,
    )
    async with provider_for("anthropic", [turn]) as (provider, _):
        done = completion(await collect(provider))
    thinking = done.message.content[0]
    assert isinstance(thinking, ThinkingBlock) and thinking.signature.startswith("fake-signature-")
    assert done.usage == Usage(
        input_tokens=7, output_tokens=3, cache_read_input_tokens=100, cache_creation_input_tokens=20
    )


async def test_openai_cached_tokens_count_as_cache_reads() -> None:
    turn = Turn.say("ok", input_tokens=50, output_tokens=4, cache_read_input_tokens=30)
    async with provider_for("openai", [turn]) as (provider, _):
        done = completion(await collect(provider))
    assert done.usage == Usage(input_tokens=20, output_tokens=4, cache_read_input_tokens=30)


async def test_anthropic_request_shape_headers_caching_and_thinking() -> None:
    history = (
        Message.user("read it"),
        Message(
            role="assistant",
            content=(
                ThinkingBlock(thinking="t", signature="sig"),
                ToolUseBlock(id="toolu_1", name="Read", input={"file_path": "a"}),
            ),
        ),
        Message(
            role="user",
            content=(
                ToolResultBlock(
                    tool_use_id="toolu_1",
                    content=(TextBlock(text="data"), ImageBlock(media_type="image/png", data="AA")),
                    is_error=False,
                ),
            ),
        ),
    )
    request = ModelRequest(
        model="claude-opus-4-5",
        system="sys",
        messages=history,
        tools=REQUEST.tools * 2,
        thinking_budget=2048,
    )
    async with provider_for("anthropic", [Turn.say("ok")]) as (provider, server):
        await collect(provider, request)
    [sent] = server.requests
    assert sent.headers["x-api-key"] == "k" and sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.body
    assert body["stream"] is True and body["model"] == "claude-opus-4-5"
    assert body["system"] == [
        {"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}
    ]
    assert "cache_control" not in body["tools"][0] and body["tools"][-1]["cache_control"] == {
        "type": "ephemeral"
    }
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "t",
        "signature": "sig",
    }
    result = body["messages"][2]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1"
    assert result["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA"},
    }


async def test_anthropic_auth_token_is_sent_as_bearer() -> None:
    async with (
        open_fake_model_server(Script([Turn.say("ok")])) as server,
        httpx.AsyncClient() as http,
    ):
        settings_ = anthropic.resolve_settings(
            ProviderOverrides(),
            {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_AUTH_TOKEN": "tok"},
        )
        await collect(anthropic.AnthropicProvider(settings_, http))
    assert server.requests[0].headers["authorization"] == "Bearer tok"
    assert "x-api-key" not in server.requests[0].headers


async def test_openai_request_maps_tool_results_to_tool_messages() -> None:
    history = (
        Message.user("go"),
        Message(
            role="assistant",
            content=(
                TextBlock(text="sure"),
                ToolUseBlock(id="call_1", name="Read", input={"a": 1}),
            ),
        ),
        Message(
            role="user",
            content=(ToolResultBlock(tool_use_id="call_1", content=(TextBlock(text="out"),)),),
        ),
    )
    async with provider_for("openai", [Turn.say("ok")]) as (provider, server):
        await collect(
            provider,
            ModelRequest(model="gpt-4o", system="sys", messages=history, tools=REQUEST.tools),
        )
    body = server.requests[0].body
    assert server.requests[0].headers["authorization"] == "Bearer k"
    assert body["stream_options"] == {"include_usage": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0] == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "Read", "arguments": '{"a":1}'},
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "out"}
    assert body["tools"][0]["function"]["name"] == "Read"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
async def test_retryable_statuses_are_retried_with_backoff(
    protocol: str, status: int, autojump_clock: trio.testing.MockClock
) -> None:
    turns = [Turn.fail(status=status), Turn.fail(status=status), Turn.say("finally")]
    async with provider_for(protocol, turns) as (provider, server):
        start = trio.current_time()
        events = await collect(provider)
        elapsed = trio.current_time() - start
    assert len(server.requests) == 3
    retries = [e for e in events if isinstance(e, StreamRetry)]
    assert [r.attempt for r in retries] == [1, 2]
    assert [r.delay_s for r in retries] == [1.0, 2.0]  # exponential, jitter off
    assert elapsed == pytest.approx(3.0, abs=0.1)
    assert completion(events).message.text == "finally"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_retry_after_headers_are_honoured_up_to_the_cap(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    policy = RetryPolicy(max_retries=3, initial_delay_s=1.0, jitter=0.0, max_retry_after_s=10.0)
    turns = [
        Turn.fail(status=429, retry_after=4),
        Turn.fail(status=529, retry_after_ms=1500),
        Turn.fail(status=503, retry_after=3600),
        Turn.say("ok"),
    ]
    async with provider_for(protocol, turns, policy) as (provider, server):
        events = await collect(provider)
    assert [e.delay_s for e in events if isinstance(e, StreamRetry)] == [4.0, 1.5, 10.0]
    assert len(server.requests) == 4


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, "rejected"),
        (401, "authentication failed"),
        (403, "permission denied"),
        (404, "not found"),
        (413, "too large"),
    ],
)
async def test_final_statuses_are_not_retried_and_say_what_to_do(
    protocol: str, status: int, expected: str
) -> None:
    async with provider_for(protocol, [Turn.fail(status=status), Turn.say("never")]) as (
        provider,
        server,
    ):
        with pytest.raises(ProviderHTTPError) as info:
            await collect(provider)
    assert len(server.requests) == 1
    assert expected in str(info.value) and f"HTTP {status}" in str(info.value)
    assert info.value.status_code == status


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_spend_limit_429_is_not_retried(protocol: str) -> None:
    fault = Turn.fail(
        status=429, error_type="insufficient_quota", error_message="You exceeded your current quota"
    )
    async with provider_for(protocol, [fault, Turn.say("never")]) as (provider, server):
        with pytest.raises(ProviderHTTPError, match="spend or quota limit"):
            await collect(provider)
    assert len(server.requests) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "fault",
    [
        {"truncate_after_events": 5},
        {"error_event": "overloaded_error"},
        {"garbage_lines": True},
        {"stall_s": 1000.0},
    ],
    ids=["truncated", "error-event", "garbage", "stall"],
)
async def test_broken_streams_are_retried_and_never_complete(
    protocol: str, fault: dict[str, Any], autojump_clock: trio.testing.MockClock
) -> None:
    broken = Turn.call(
        ToolCallSpec("Bash", {"command": "rm -rf ghost"}), text="doing it"
    ).with_fault(**fault)
    async with provider_for(protocol, [broken, Turn.say("clean")]) as (provider, server):
        events = await collect(provider)
    assert len(server.requests) == 2
    done = completion(events)
    assert done.message.text == "clean" and done.message.tool_uses == ()
    [retry] = [e for e in events if isinstance(e, StreamRetry)]
    assert retry.attempt == 1
    if "stall_s" in fault:
        assert "silent" in retry.reason


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_retries_exhausted_keeps_the_last_error(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with provider_for(protocol, [Turn.fail(status=529)] * 4) as (provider, server):
        with pytest.raises(RetriesExhausted, match="failed 4 times") as info:
            await collect(provider)
    assert len(server.requests) == 4
    assert "529" in str(info.value.__cause__)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_connection_refused_is_retried_then_exhausted(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with httpx.AsyncClient() as http:
        overrides = ProviderOverrides(retry=RetryPolicy(max_retries=2, jitter=0.0))
        env = {
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
            "ANTHROPIC_API_KEY": "k",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        }
        module = anthropic if protocol == "anthropic" else openai
        provider: Provider = (
            anthropic.AnthropicProvider if protocol == "anthropic" else openai.OpenAIProvider
        )(module.resolve_settings(overrides, env), http)
        with pytest.raises(RetriesExhausted, match="connection failed"):
            await collect(provider)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_max_tokens_mid_tool_call_completes_without_a_crash(protocol: str) -> None:
    turn = Turn.call(
        ToolCallSpec("Write", {"file_path": "x", "content": "long"}), stop_reason="max_tokens"
    )
    async with provider_for(protocol, [turn]) as (provider, _):
        done = completion(await collect(provider))
    assert done.stop_reason == "max_tokens"


def test_missing_credentials_name_the_variables() -> None:
    with pytest.raises(Exception, match=r"ANTHROPIC_API_KEY.*ANTHROPIC_AUTH_TOKEN"):
        anthropic.resolve_settings(ProviderOverrides(), {})
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        openai.resolve_settings(ProviderOverrides(), {})
    local = openai.resolve_settings(
        ProviderOverrides(), {"OPENAI_BASE_URL": "http://localhost:11434/v1"}
    )
    assert local.api_key is None  # local servers need no key


def test_retry_after_parsing_and_backoff() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert (
        parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0)
        == 10.0
    )
    assert parse_retry_after({"retry-after": "soon"}) is None
    policy = RetryPolicy(initial_delay_s=1.0, max_delay_s=5.0, jitter=0.25)
    rng = random.Random(7)
    delays = [backoff_delay(policy, n, None, rng) for n in range(6)]
    for n, delay in enumerate(delays):
        base = min(5.0, 2.0**n)
        assert base * 0.75 <= delay <= base * 1.25


def test_pricing_longest_prefix_overrides_and_unknown_models() -> None:
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_read_input_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
    )
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == pytest.approx(3 + 15 + 0.3 + 3.75)
    assert price_for("gpt-4o-mini-2024") == price_for("gpt-4o-mini")
    assert price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert price_for("my-local-llama") is None and cost_usd("my-local-llama", usage) == 0.0
    custom = {"my-local": ModelPrice(input=1, output=1, cache_write=0, cache_read=0)}
    assert cost_usd("my-local-llama", usage, custom) == 2.0


SSE_STREAM = (
    'event: message_start\r\ndata: {"a": "ü☃"}\r\n\r\n'
    ": a comment\n"
    "event: delta\ndata: line one\ndata: line two\n\n"
    "data: [DONE]\n\n"
).encode()


@given(st.lists(st.integers(min_value=1, max_value=len(SSE_STREAM) - 1), max_size=12))
@settings(max_examples=60, deadline=None)
def test_sse_parsing_is_independent_of_chunk_boundaries(cuts: list[int]) -> None:
    points = [0, *sorted(set(cuts)), len(SSE_STREAM)]
    chunks = [SSE_STREAM[a:b] for a, b in itertools.pairwise(points)]

    async def parse() -> list[ServerSentEvent]:
        async def source() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return [e async for e in iter_sse(source(), idle_timeout=5)]

    assert trio.run(parse) == [
        ServerSentEvent("message_start", '{"a": "ü☃"}'),
        ServerSentEvent("delta", "line one\nline two"),
        ServerSentEvent("message", "[DONE]"),
    ]


async def test_sse_idle_timeout_and_invalid_utf8(autojump_clock: trio.testing.MockClock) -> None:
    async def silent() -> AsyncIterator[bytes]:
        yield b"data: x\n"
        await trio.sleep(100)
        yield b"\n"

    with pytest.raises(ProviderStreamError, match="silent for 5 s"):
        [e async for e in iter_sse(silent(), idle_timeout=5)]

    async def broken() -> AsyncIterator[bytes]:
        yield b"data: \xff\xfe\n\n"

    with pytest.raises(ProviderStreamError, match="UTF-8"):
        [e async for e in iter_sse(broken(), idle_timeout=5)]


async def test_sse_reads_stop_at_the_deadline_whichever_limit_comes_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"data: x\n\n"
            await trio.sleep(4)  # never silent for the idle timeout

    start = trio.current_time()
    received = []
    with pytest.raises(RuntimeError, match="too late"):
        async for event in iter_sse(
            slow(),
            idle_timeout=5,
            deadline=start + 10,
            past_deadline=lambda: RuntimeError("too late"),
        ):
            received.append(event)
    assert len(received) == 3 and trio.current_time() == start + 10
    with pytest.raises(ProviderStreamError, match="did not finish before its deadline"):
        [e async for e in iter_sse(slow(), idle_timeout=5, deadline=trio.current_time() + 1)]
    with pytest.raises(ProviderStreamError, match="silent for 3 s"):  # the idle timeout first
        [e async for e in iter_sse(slow(), idle_timeout=3, deadline=trio.current_time() + 10)]
