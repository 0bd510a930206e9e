"""HTTP clients per session, the in-flight cap, the lazy TLS context, the wire cache.

Rules (as in trio-websocket's tests): loopback only, port 0, servers started
with ``await nursery.start``, ``autojump_clock`` for anything timed, and a
``fail_after`` on the trio clock so no test can hang.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

import claw_runtime
from claw_runtime.config.settings import HttpSettings, Settings, load_settings
from claw_runtime.errors import ConfigError
from claw_runtime.http.clients import (
    DEFAULT_TIMEOUT,
    ClawClient,
    direct_transport,
    open_http_clients,
)
from claw_runtime.models import Message
from claw_runtime.providers._http import open_event_stream
from claw_runtime.providers._wire_cache import WireCache
from claw_runtime.providers.anthropic import AnthropicProvider
from claw_runtime.providers.base import ModelRequest, ProviderSettings, RetryPolicy
from claw_runtime.providers.openai import OpenAIProvider
from claw_runtime.testing import Script, Turn, open_fake_model_server
from claw_runtime.testing.script import Fault


def env_for(server_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": server_url,
        "ANTHROPIC_API_KEY": "test-key",
        "HOME": str(tmp_path / "home"),
        "CLAW_CONFIG_DIR": str(tmp_path / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"),
        "PATH": os.environ["PATH"],
    }


def write_settings(project: Path, data: dict[str, Any]) -> None:
    (project / ".claw").mkdir(exist_ok=True)
    (project / ".claw" / "settings.json").write_text(json.dumps(data))


def always_say(text: str) -> Script:
    return Script(responder=lambda body: Turn.say(text))


# ------------------------------------------------------------ clients per session


async def test_each_session_has_its_own_client_closed_when_it_ends(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with open_fake_model_server(always_say("hi")) as server:
            environ = env_for(server.base_url, tmp_path)
            async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
                async with (
                    runtime.open_session(cwd=tmp_path, persist=False) as first,
                    runtime.open_session(cwd=tmp_path, persist=False) as second,
                ):
                    clients = [first.agent.http, second.agent.http]
                    assert (await first.run("one")).result == "hi"
                    assert (await second.run("two")).result == "hi"
                    assert clients[0] is not clients[1]
                    assert runtime.http not in clients
                    assert first.agent.provider.http is clients[0]  # type: ignore[attr-defined]
                    assert not any(c.is_closed for c in clients)
                assert all(c.is_closed for c in clients)
                assert not runtime.http.is_closed
            assert runtime.http.is_closed
    assert len(server.requests) == 2


async def test_sessions_share_the_runtime_client_when_configured(tmp_path: Path) -> None:
    write_settings(tmp_path, {"http": {"clientPerSession": False}})
    with trio.fail_after(30):
        async with open_fake_model_server(always_say("hi")) as server:
            environ = env_for(server.base_url, tmp_path)
            async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
                assert runtime.settings.http == HttpSettings(client_per_session=False)
                async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                    assert session.agent.http is runtime.http
                    assert (await session.run("one")).result == "hi"
                assert not runtime.http.is_closed  # the session's end leaves it open


async def test_a_session_ended_by_an_error_or_a_cancel_still_closes_its_client(
    tmp_path: Path,
) -> None:
    script = Script(responder=lambda body: Turn.say("slow", delay_s=10.0))
    with trio.fail_after(30):
        async with open_fake_model_server(script) as server:
            environ = env_for(server.base_url, tmp_path)
            async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
                clients: list[httpx.AsyncClient] = []
                with pytest.raises(KeyError):
                    async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                        clients.append(session.agent.http)
                        raise KeyError("the caller's own error")
                with trio.move_on_after(0.5):  # cancelled mid-answer, connection open
                    async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                        clients.append(session.agent.http)
                        await session.run("hi")
                assert len(clients) == 2 and all(c.is_closed for c in clients)


# ----------------------------------------------------------------- the settings


@pytest.mark.parametrize(
    ("http", "expected"),
    [
        ({"maxInFlight": 0}, "maxInFlight must be a positive whole number, got 0"),
        ({"maxInFlight": -3}, "maxInFlight must be a positive whole number, got -3"),
        ({"maxInFlight": 2.5}, "http.maxInFlight: expected an integer, got 2.5"),
        ({"maxInFlight": "8"}, 'http.maxInFlight: expected an integer, got "8"'),
        ({"clientPerSession": "yes"}, 'http.clientPerSession: expected true or false, got "yes"'),
    ],
)
def test_a_bad_http_setting_is_one_line_naming_the_file_and_key(
    tmp_path: Path, http: dict[str, Any], expected: str
) -> None:
    write_settings(tmp_path, {"http": http})
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={}, home=tmp_path / "home", trust=True)
    message = str(caught.value)
    assert expected in message and "settings.json" in message and "\n" not in message


def test_the_http_settings_are_read(tmp_path: Path) -> None:
    assert Settings().http == HttpSettings(client_per_session=True, max_in_flight=None)
    write_settings(tmp_path, {"http": {"clientPerSession": False, "maxInFlight": 64}})
    loaded = load_settings(tmp_path, environ={}, home=tmp_path / "home", trust=True)
    assert loaded.settings.http == HttpSettings(client_per_session=False, max_in_flight=64)
    with pytest.raises(ValueError, match="maxInFlight must be a positive whole number"):
        HttpSettings(max_in_flight=0)
    write_settings(tmp_path, {"http": {"poolSize": 10}})  # unknown keys: a note, as elsewhere
    loaded = load_settings(tmp_path, environ={}, home=tmp_path / "home", trust=True)
    assert any("http.poolSize: not used by claw" in note for note in loaded.notes)


# ------------------------------------------------------------- the in-flight cap


class CountingTransport(httpx.AsyncBaseTransport):
    """Answers every request with a body that takes ``body_s`` to stream; counts how
    many requests are in flight (sent, response not yet closed) at once."""

    def __init__(self, body_s: float) -> None:
        self.body_s = body_s
        self.in_flight = 0
        self.most = 0
        self.served = 0
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert not self.closed
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.served += 1
        await trio.sleep(0.01)
        return httpx.Response(200, stream=_SlowBody(self))

    async def aclose(self) -> None:
        self.closed = True


class _SlowBody(httpx.AsyncByteStream):
    def __init__(self, transport: CountingTransport) -> None:
        self.transport = transport
        self.open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await trio.sleep(self.transport.body_s)
        yield b"done"

    async def aclose(self) -> None:
        if self.open:
            self.open = False
            self.transport.in_flight -= 1


async def test_max_in_flight_caps_requests_across_session_clients(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = CountingTransport(body_s=1.0)
    settings = HttpSettings(max_in_flight=3)
    with trio.fail_after(60):
        async with open_http_clients(settings, transport=transport) as clients:
            sessions = [clients.for_session() for _ in range(10)]
            bodies: list[bytes] = []

            async def fetch(client: httpx.AsyncClient) -> None:
                async with client.stream("GET", "http://model.test/") as response:
                    bodies.append(await response.aread())

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                for client in sessions:
                    nursery.start_soon(fetch, client)
                nursery.start_soon(fetch, clients.shared)  # the shared client counts too
            elapsed = trio.current_time() - start
            for client in sessions:
                await clients.release(client)
            assert transport.most == 3 and transport.served == 11
            assert bodies == [b"done"] * 11
            assert elapsed >= 4.0  # 11 requests of ~1 s, 3 at a time
            assert not transport.closed  # the sessions' clients only borrowed it
        assert transport.closed  # closed once, with the runtime's clients


async def test_a_failed_or_cancelled_request_gives_its_place_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with trio.fail_after(60):
        async with open_http_clients(
            HttpSettings(max_in_flight=1), transport=httpx.MockTransport(refuse)
        ) as clients:
            for _ in range(3):
                with pytest.raises(httpx.ConnectError):
                    await clients.shared.get("http://model.test/")
        slow = CountingTransport(body_s=100.0)
        async with open_http_clients(HttpSettings(max_in_flight=1), transport=slow) as clients:
            with trio.move_on_after(1.0):
                async with clients.shared.stream("GET", "http://model.test/") as response:
                    await response.aread()
            slow.body_s = 0.0
            assert (await clients.shared.get("http://model.test/")).content == b"done"


async def test_max_in_flight_holds_for_real_sessions_on_a_real_server(tmp_path: Path) -> None:
    """Six sessions at once, two requests at a time: the server sees them arrive in
    pairs, each pair after the previous answers (0.3 s each) ended."""
    arrivals: list[float] = []

    def respond(body: dict[str, Any]) -> Turn:
        arrivals.append(trio.current_time())
        return Turn.say("ok", fault=Fault(stall_s=0.3))

    write_settings(tmp_path, {"http": {"maxInFlight": 2}})
    with trio.fail_after(30):
        async with open_fake_model_server(Script(responder=respond)) as server:
            environ = env_for(server.base_url, tmp_path)
            async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
                results: list[str] = []

                async def one() -> None:
                    async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                        results.append((await session.run("hi")).result)

                async with trio.open_nursery() as nursery:
                    for _ in range(6):
                        nursery.start_soon(one)
    assert results == ["ok"] * 6
    assert len(arrivals) == 6
    # Any three requests: the third could only start once one of the first two ended.
    assert all(later - first >= 0.29 for first, later in zip(arrivals, arrivals[2:], strict=False))


# --------------------------------------------------------------- TLS and proxies


async def test_the_tls_context_is_built_once_and_only_for_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    with trio.fail_after(30):
        async with open_fake_model_server(always_say("hi")) as server:
            environ = env_for(server.base_url, tmp_path)
            async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
                for _ in range(2):
                    async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                        assert (await session.run("hi")).result == "hi"
                assert built == []  # plain http:// to the model: no TLS context at all
                async with open_http_clients(HttpSettings()) as clients:
                    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
                    port = listener.socket.getsockname()[1]
                    await listener.aclose()  # nothing listens there any more
                    for client in (clients.for_session(), clients.for_session(), clients.shared):
                        with pytest.raises(httpx.ConnectError):
                            await client.get(f"https://127.0.0.1:{port}/")
                        await clients.release(client)
                assert len(built) == 1  # built by the first https request, then shared


async def test_proxy_variables_are_still_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trio.fail_after(30):
        async with open_fake_model_server(always_say("through the proxy")) as server:
            for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("HTTP_PROXY", server.base_url)
            environ = env_for("http://model.invalid", tmp_path)
            async with (
                claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime,
                runtime.open_session(cwd=tmp_path, persist=False) as session,
            ):
                assert (await session.run("hi")).result == "through the proxy"
    assert server.requests[0].path == "http://model.invalid/v1/messages"


async def test_an_injected_transport_serves_every_session(tmp_path: Path) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        events = [
            ("message_start", {"type": "message_start", "message": {"usage": {}}}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "mocked"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=body)

    environ = env_for("http://model.test", tmp_path)
    with trio.fail_after(30):
        async with claw_runtime.open_runtime(
            cwd=tmp_path, environ=environ, transport=httpx.MockTransport(answer)
        ) as runtime:
            for _ in range(3):  # a session's end must not close the runtime's transport
                async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                    assert (await session.run("hi")).result == "mocked"
    assert seen == ["http://model.test/v1/messages"] * 3


async def _one_stream(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    """One model request through ``open_event_stream``; its stream is one ``message_stop``."""
    async with open_event_stream(
        http,
        url,
        content=b'{"model": "m"}',
        headers=headers,
        policy=RetryPolicy(),
        provider="anthropic",
        key_hint="ANTHROPIC_API_KEY",
    ) as events:
        assert [e.data async for e in events] == ['{"type": "message_stop"}']


async def test_a_model_request_sent_past_the_client_is_the_request_send_makes() -> None:
    """Providers hand a runtime client's requests straight to its transport: the
    request must be the one ``send`` builds, header case and order included."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = 'data: {"type": "message_stop"}\n\n'
        headers = {"content-type": "text/event-stream"}
        if len(seen) == 3:
            headers["set-cookie"] = "session=abc; Path=/"
        return httpx.Response(200, headers=headers, text=body)

    async def one_request(http: httpx.AsyncClient) -> None:
        headers = {"x-api-key": "k", "Accept": "text/event-stream", "content-type": "a/b"}
        await _one_stream(http, "http://model.test/v1/messages", headers)

    with trio.fail_after(10):
        plain = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        ours = ClawClient(transport=httpx.MockTransport(answer), timeout=DEFAULT_TIMEOUT)
        async with plain, ours:
            assert direct_transport(plain) is None
            assert direct_transport(ours) is not None
            await one_request(plain)
            await one_request(ours)
            await one_request(ours)  # sets a cookie: later requests go through send, to send it
            assert direct_transport(ours) is None
            await one_request(ours)
    sent, direct = seen[0], seen[1]
    assert (direct.method, direct.url, direct.content) == (sent.method, sent.url, sent.content)
    assert direct.headers.raw == sent.headers.raw
    assert direct.extensions["timeout"] == sent.extensions["timeout"]
    assert seen[3].headers["cookie"] == "session=abc"


async def test_a_model_request_on_the_wire_is_the_one_send_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A runtime client's model request is written from a head made once per endpoint
    and headers, with no ``httpx.Request``: byte for byte what ``AsyncClient.send``
    writes through httpx's own transport, and what the next request writes again."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    received: list[bytes] = []
    answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        b'20\r\ndata: {"type": "message_stop"}\n\n\r\n0\r\n\r\n'
    )

    async def serve(stream: trio.SocketStream) -> None:
        data = b""
        while True:  # each request's head and its 14-byte body, then the answer
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 14:
                got = await stream.receive_some(65536)
                if not got:
                    return
                data += got
            head, rest = data.split(b"\r\n\r\n", 1)
            received.append(head + b"\r\n\r\n" + rest[:14])
            data = rest[14:]
            await stream.send_all(answer)

    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}/v1/messages?beta=true"
    headers = {"x-api-key": "k", "Accept": "text/event-stream", "content-type": "a/b"}

    async def one_request(http: httpx.AsyncClient) -> None:
        await _one_stream(http, url, headers)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, serve, [listener])
            async with httpx.AsyncClient() as plain:
                await one_request(plain)
            async with open_http_clients(HttpSettings()) as clients:
                assert direct_transport(clients.shared) is not None
                await one_request(clients.shared)
                await one_request(clients.shared)
            nursery.cancel_scope.cancel()
    assert len(received) == 3
    assert received[1] == received[0]
    assert received[2] == received[0]
    assert received[0].startswith(b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_model_turns_share_one_connection_whatever_trails_the_end_marker(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A response that arrived whole gives its connection back at once; one whose
    body goes on after the end marker is drained first: either way the next turn
    reuses the connection."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    connections = 0
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    stop = b'20\r\ndata: {"type": "message_stop"}\n\n\r\n'
    trailer = b"e\r\n: still here\n\n\r\n"

    async def serve(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        data, served = b"", 0
        while True:
            while data.count(b"\r\n\r\n") == 0 or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
                got = await stream.receive_some(65536)
                if not got:
                    return
                data += got
            data = data.split(b"\r\n\r\n", 1)[1][2:]
            served += 1
            if served == 2:  # the end marker, then more of the body a little later
                await stream.send_all(head + stop)
                await trio.sleep(0.1)
                await stream.send_all(trailer + b"0\r\n\r\n")
            else:
                await stream.send_all(head + stop + b"0\r\n\r\n")

    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}/v1/messages"
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, serve, [listener])
            async with open_http_clients(HttpSettings()) as clients:
                for _ in range(3):
                    async with open_event_stream(
                        clients.shared,
                        url,
                        content=b"{}",
                        headers={"content-type": "application/json"},
                        policy=RetryPolicy(),
                        provider="anthropic",
                        key_hint="ANTHROPIC_API_KEY",
                    ) as events:
                        async for sse in events:
                            assert sse.data == '{"type": "message_stop"}'
                            break
            nursery.cancel_scope.cancel()
    assert connections == 1


# ------------------------------------------------------------------ the wire cache


def _conversation(number: int) -> tuple[Message, ...]:
    return (
        Message.user(f"question {number}"),
        Message.assistant(f"answer {number}"),
        Message.user(f"follow-up {number}"),
    )


@pytest.mark.parametrize("provider_class", [AnthropicProvider, OpenAIProvider])
def test_a_provider_shared_by_many_conversations_keeps_only_live_ones(
    provider_class: type[AnthropicProvider] | type[OpenAIProvider],
) -> None:
    provider = provider_class(ProviderSettings(model="m", api_key="k"), httpx.AsyncClient())
    cache = provider._wire
    live = _conversation(-1)
    provider.build_body(ModelRequest(model="m", messages=live))
    for number in range(2000):
        provider.build_body(ModelRequest(model="m", messages=_conversation(number)))
    gc.collect()
    assert len(cache) == len(live)  # the finished conversations are gone from it
    # A live conversation's messages are still converted once, not once per turn.
    converted: list[Message] = []
    real = cache._convert

    def counting(message: Message) -> Any:
        converted.append(message)
        return real(message)

    cache._convert = counting
    longer = (*live, Message.assistant("more"), Message.user("and more"))
    for _ in range(3):
        provider.build_body(ModelRequest(model="m", messages=longer))
    assert converted == list(longer[len(live) :])


def test_a_request_converts_only_the_messages_the_previous_one_did_not_have() -> None:
    converted: list[Message] = []

    def convert(message: Message) -> dict[str, Any]:
        converted.append(message)
        return {"role": message.role, "text": message.text}

    def items(wire: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        return (wire,) if wire["text"] else ()

    cache: WireCache[dict[str, Any]] = WireCache(convert)
    first = _conversation(1)
    assert cache.conversation(first, items) == [convert(m) for m in first]
    converted.clear()
    longer = (*first, Message.assistant(""), Message.user("more"))
    wire = cache.conversation(longer, items)
    assert converted == list(longer[len(first) :])  # only the new ones
    assert wire == [{"role": m.role, "text": m.text} for m in longer if m.text]
    wire.append({"role": "user", "text": "the caller's own"})  # a new list each time
    assert len(cache.conversation(longer, items)) == len(wire) - 1
    # Changed in the middle (compaction): built again, from the per-message cache.
    converted.clear()
    summary = Message.user("summary")
    compacted = (first[0], summary, *longer[3:])
    assert cache.conversation(compacted, items) == [
        {"role": m.role, "text": m.text} for m in compacted if m.text
    ]
    assert converted == [summary]


@pytest.mark.parametrize("provider_class", [AnthropicProvider, OpenAIProvider])
def test_bodies_built_from_the_previous_request_are_the_bodies_built_afresh(
    provider_class: type[AnthropicProvider] | type[OpenAIProvider],
) -> None:
    provider = provider_class(ProviderSettings(model="m", api_key="k"), httpx.AsyncClient())
    conversation: tuple[Message, ...] = ()
    for number in range(12):
        if number == 6:  # a processor rewrote the start of the conversation
            conversation = (Message.user("summary"), *conversation[3:])
        conversation = (*conversation, *_conversation(number))
        if number == 9:  # a conversation that ended and one that never met this provider
            gc.collect()
            conversation = tuple(Message(role=m.role, content=m.content) for m in conversation)
        request = ModelRequest(model="m", system="s", messages=conversation)
        fresh = provider_class(ProviderSettings(model="m", api_key="k"), httpx.AsyncClient())
        assert provider.build_body(request) == fresh.build_body(request)
