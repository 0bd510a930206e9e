"""The runtime's HTTP/1.1 transport (httptools on trio) behaves as httpx's default one.

Each test runs a small HTTP server on loopback (port 0, h11, started with
``await nursery.start``) whose behaviour per request the test chooses, and talks
to it through an ``httpx.AsyncClient`` over :class:`Http11Transport`: connections
reused or not, timeouts, limits and failures as httpx's own exceptions. Time is
trio's virtual clock where a test waits; a ``fail_after`` bounds every test.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import h11
import httpx
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from claw_runtime.http.transport import DEFAULT_LIMITS, Http11Transport, _unsent

Handler = Callable[[trio.SocketStream, h11.Connection, h11.Request, bytes], Awaitable[bool]]
"""Answers one request; returns whether the connection stays open for the next."""


@attrs.define(eq=False)
class Server:
    url: str
    connections: int = 0
    requests: list[tuple[h11.Request, bytes]] = attrs.field(factory=list)


async def _send(stream: trio.SocketStream, conn: h11.Connection, *events: h11.Event) -> None:
    await stream.send_all(b"".join(conn.send(e) or b"" for e in events))


async def answer(body: bytes, stream: trio.SocketStream, conn: h11.Connection) -> bool:
    headers = [("content-length", str(len(body)))]
    await _send(stream, conn, h11.Response(status_code=200, headers=headers), h11.Data(data=body))
    await _send(stream, conn, h11.EndOfMessage())
    return True


async def _read_request(
    stream: trio.SocketStream, conn: h11.Connection
) -> tuple[h11.Request, bytes] | None:
    request, body = None, b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            if not data and conn.their_state is h11.IDLE:
                return None
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, body
        elif isinstance(event, h11.ConnectionClosed):
            return None


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Server]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    server = Server(url=f"http://127.0.0.1:{listener.socket.getsockname()[1]}")

    async def connection(stream: trio.SocketStream) -> None:
        server.connections += 1
        conn = h11.Connection(h11.SERVER)
        with contextlib.suppress(trio.BrokenResourceError):  # the client may hang up
            await _serve_connection(stream, conn)

    async def _serve_connection(stream: trio.SocketStream, conn: h11.Connection) -> None:
        async with stream:
            while True:
                got = await _read_request(stream, conn)
                if got is None:
                    return
                server.requests.append(got)
                if not await handler(stream, conn, *got):
                    return
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.serve_listeners, connection, [listener]))
        yield server
        nursery.cancel_scope.cancel()


async def _no_tls() -> ssl.SSLContext:
    raise AssertionError("no https here")


@asynccontextmanager
async def client(
    limits: httpx.Limits = DEFAULT_LIMITS, fallback: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    async def make_fallback() -> httpx.AsyncBaseTransport:
        assert fallback is not None, "nothing should be handed over"
        return fallback

    transport = Http11Transport(_no_tls, make_fallback, limits)
    async with httpx.AsyncClient(transport=transport) as http:
        yield http


async def echo(stream: trio.SocketStream, conn: h11.Connection, r: h11.Request, b: bytes) -> bool:
    return await answer(r.method + b" " + r.target + b" " + b, stream, conn)


async def test_requests_share_one_kept_alive_connection() -> None:
    with trio.fail_after(10):
        async with serving(echo) as server, client() as http:
            first = await http.post(server.url + "/a?q=1", content=b"one")
            second = await http.get(server.url + "/b")
    assert (first.status_code, first.content) == (200, b"POST /a?q=1 one")
    assert second.content == b"GET /b "
    assert first.http_version == "HTTP/1.1"
    assert server.connections == 1
    sent = dict(server.requests[0][0].headers)
    assert sent[b"host"] == server.url.removeprefix("http://").encode()
    assert sent[b"content-length"] == b"3"
    assert sent[b"user-agent"].startswith(b"python-httpx/")


async def test_a_host_name_is_resolved_and_an_ip_address_is_not() -> None:
    with trio.fail_after(10):
        async with serving(echo) as server, client() as http:
            by_name = server.url.replace("127.0.0.1", "localhost")
            assert (await http.get(by_name + "/n")).content == b"GET /n "
            assert (await http.get(server.url + "/a")).content == b"GET /a "
    assert server.connections == 2  # one connection per origin


async def test_a_response_not_read_to_its_end_closes_its_connection() -> None:
    async def long(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        return await answer(b"x" * 1_000_000, stream, conn)

    with trio.fail_after(10):
        async with serving(long) as server, client() as http:
            async with http.stream("GET", server.url) as response:
                await anext(response.aiter_raw())
            assert len((await http.get(server.url)).content) == 1_000_000
            assert len((await http.get(server.url)).content) == 1_000_000
    assert server.connections == 2  # the cut-short one, then one kept alive


async def test_a_cancelled_response_closes_its_connection() -> None:
    async def stall(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        if len(server.requests) == 1:
            headers = [("transfer-encoding", "chunked")]
            await _send(stream, conn, h11.Response(status_code=200, headers=headers))
            await _send(stream, conn, h11.Data(data=b"first"))
            await trio.sleep_forever()
        return await answer(b"ok", stream, conn)

    with trio.fail_after(10):
        async with serving(stall) as server, client() as http:
            with trio.move_on_after(0.2):
                async with http.stream("GET", server.url) as response:
                    async for _ in response.aiter_raw():
                        pass
            assert (await http.get(server.url)).content == b"ok"
    assert server.connections == 2


async def test_closing_the_transport_ends_a_response_still_being_read() -> None:
    async def stall(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        headers = [("transfer-encoding", "chunked")]
        await _send(stream, conn, h11.Response(status_code=200, headers=headers))
        await _send(stream, conn, h11.Data(data=b"first"))
        await trio.sleep_forever()
        return False

    with trio.fail_after(10):
        async with serving(stall) as server:
            transport = Http11Transport(_no_tls, _no_fallback)
            http = httpx.AsyncClient(transport=transport)
            async with http.stream("GET", server.url) as response:
                body = response.aiter_raw()
                assert await anext(body) == b"first"
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(transport.aclose)  # while the next read waits
                    with pytest.raises(httpx.ReadError):
                        await anext(body)
            await http.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_used() -> None:
    async def once(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        await answer(b"ok", stream, conn)
        return False  # closes the connection after answering, without saying so

    with trio.fail_after(10):
        async with serving(once) as server, client() as http:
            assert (await http.get(server.url)).content == b"ok"
            await trio.sleep(0.1)  # the close reaches the client
            assert (await http.get(server.url)).content == b"ok"
    assert server.connections == 2


async def test_failures_are_httpx_exceptions() -> None:
    async def hang_up(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        if len(server.requests) == 2:  # half a body, then gone
            headers = [("content-length", "10")]
            await _send(stream, conn, h11.Response(status_code=200, headers=headers))
            await _send(stream, conn, h11.Data(data=b"half"))
        return False

    with trio.fail_after(10):
        async with serving(hang_up) as server, client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.get(server.url)
            with pytest.raises(
                httpx.RemoteProtocolError, match="without sending complete message body"
            ):
                await http.get(server.url)
        listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
        port = listener.socket.getsockname()[1]
        await listener.aclose()  # nothing listens there any more
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")


async def test_timeouts_are_httpx_timeouts(autojump_clock: trio.testing.MockClock) -> None:
    async def slow(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        await trio.sleep(60)
        return await answer(b"late", stream, conn)

    with trio.fail_after(300):
        async with serving(slow) as server, client() as http:
            start = trio.current_time()
            with pytest.raises(httpx.ReadTimeout):
                await http.get(server.url, timeout=httpx.Timeout(5.0))
            assert trio.current_time() - start == pytest.approx(5.0)
            response = await http.get(server.url, timeout=httpx.Timeout(5.0, read=None))
            assert response.content == b"late"


async def test_the_connection_limit_queues_requests_up_to_the_pool_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def slow(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        await trio.sleep(10)
        return await answer(b"ok", stream, conn)

    one = httpx.Limits(max_connections=1)
    finished: list[float] = []
    with trio.fail_after(300):
        async with serving(slow) as server, client(one) as http:

            async def get() -> None:
                response = await http.get(server.url, timeout=httpx.Timeout(None, pool=15.0))
                assert response.content == b"ok"
                finished.append(trio.current_time())

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(get)
                nursery.start_soon(get)
            assert [t - start for t in finished] == pytest.approx([10.0, 20.0])
            async with trio.open_nursery() as nursery:
                nursery.start_soon(get)
                await trio.sleep(1)
                with pytest.raises(httpx.PoolTimeout):
                    await http.get(server.url, timeout=httpx.Timeout(None, pool=2.0))
    assert server.connections == 1


async def test_a_streamed_request_body_goes_chunked() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"cd"):
            yield piece

    with trio.fail_after(10):
        async with serving(echo) as server, client() as http:
            response = await http.post(server.url, content=parts())
    assert response.content == b"POST / abcd"
    assert dict(server.requests[0][0].headers)[b"transfer-encoding"] == b"chunked"


async def test_informational_responses_are_skipped() -> None:
    async def continues(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        await _send(stream, conn, h11.InformationalResponse(status_code=103, headers=[]))
        return await answer(b"final", stream, conn)

    with trio.fail_after(10):
        async with serving(continues) as server, client() as http:
            response = await http.get(server.url)
    assert (response.status_code, response.content) == (200, b"final")


async def test_upgrades_are_handed_to_the_fallback() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(101)

    with trio.fail_after(10):
        async with client(fallback=httpx.MockTransport(handler)) as http:
            response = await http.get("http://127.0.0.1:1/", headers={"upgrade": "websocket"})
    assert response.status_code == 101
    assert len(seen) == 1


async def test_a_header_that_would_smuggle_another_is_refused_before_sending() -> None:
    with trio.fail_after(10):
        async with serving(echo) as server, client() as http:
            for name, value in [
                ("x-ok", "a\r\nx-evil: 1"),
                ("x-ok", "a\nb"),
                ("x-ok", "a\x00b"),
                ("x-ok", " leading"),
                ("x evil", "a"),
                ("x-evil\r\nx", "a"),
            ]:
                with pytest.raises(httpx.LocalProtocolError, match="Illegal header"):
                    await http.get(server.url, headers={name: value})
            fine = await http.get(server.url, headers={"x-ok": "a b\tc \xe9".encode("latin-1")})
    assert fine.content == b"GET / "
    assert len(server.requests) == 1  # nothing refused reached the server
    assert dict(server.requests[0][0].headers)[b"x-ok"] == "a b\tc \xe9".encode("latin-1")


async def test_the_request_head_is_the_one_httpx_default_transport_writes() -> None:
    """Byte for byte, header order and case included (h11 puts Host first)."""
    heads: list[bytes] = []

    async def record(stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"body"):
            data += await stream.receive_some(65536)
        heads.append(data)
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await stream.aclose()

    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}/v1/x?q=1"
    headers = [("X-Api-Key", "k"), ("Content-Type", "a/b"), ("accept", "text/event-stream")]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(trio.serve_listeners, record, [listener]))
            async with httpx.AsyncClient() as default, client() as ours:
                for http in (default, ours):
                    response = await http.post(url, content=b"body", headers=headers)
                    assert response.content == b"ok"
            nursery.cancel_scope.cancel()
    assert heads[0] == heads[1]
    assert heads[1].startswith(b"POST /v1/x?q=1 HTTP/1.1\r\nHost: 127.0.0.1:")


async def test_bodies_read_to_the_close_head_responses_and_connection_close() -> None:
    async def raw(
        stream: trio.SocketStream, conn: h11.Connection, r: h11.Request, _: bytes
    ) -> bool:
        if r.target == b"/eof":  # HTTP/1.0, no length: the body ends with the connection
            await stream.send_all(b"HTTP/1.0 200 OK\r\n\r\nto the end")
            return False
        if r.target == b"/head":  # a length, and no body since it answers HEAD
            head = h11.Response(status_code=200, headers=[("content-length", "99")])
            await _send(stream, conn, head, h11.EndOfMessage())
            return True
        return await answer(b"ok", stream, conn)

    with trio.fail_after(10):
        async with serving(raw) as server, client() as http:
            response = await http.get(server.url + "/eof")
            assert (response.content, response.http_version) == (b"to the end", "HTTP/1.0")
            response = await http.head(server.url + "/head")
            assert (response.headers["content-length"], response.content) == ("99", b"")
            response = await http.get(server.url, headers={"connection": "close"})
            assert response.content == b"ok"
            assert (await http.get(server.url)).content == b"ok"
            assert (await http.get(server.url)).content == b"ok"
    # /eof, HEAD and "Connection: close" each end their connection; the last two share one.
    assert server.connections == 4


async def test_bytes_past_the_end_of_a_response_keep_its_connection_from_reuse() -> None:
    async def chatty(stream: trio.SocketStream, conn: h11.Connection, *_: object) -> bool:
        if len(server.requests) == 1:  # what no request asked for follows the answer
            await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 2")
            await trio.sleep_forever()
        return await answer(b"ok", stream, conn)

    with trio.fail_after(10):
        async with serving(chatty) as server, client() as http:
            assert (await http.get(server.url)).content == b"ok"
            assert (await http.get(server.url)).content == b"ok"
    assert server.connections == 2


async def test_a_response_head_past_the_limit_is_refused() -> None:
    async def huge(stream: trio.SocketStream, *_: object) -> bool:
        await stream.send_all(b"HTTP/1.1 200 OK\r\n" + b"x-filler: " + b"a" * 200_000)
        await trio.sleep_forever()
        return False

    with trio.fail_after(10):
        async with serving(huge) as server, client() as http:
            with pytest.raises(httpx.RemoteProtocolError, match="Receive buffer too long"):
                await http.get(server.url)


async def test_a_malformed_response_is_a_remote_protocol_error() -> None:
    async def garbage(stream: trio.SocketStream, *_: object) -> bool:
        await stream.send_all(b"SPDY/9 200 OK\r\n\r\n")
        return False

    with trio.fail_after(10):
        async with serving(garbage) as server, client() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(server.url)


# ------------------------------------------------------------------------ TLS


def _certificates() -> tuple[bytes, bytes, bytes]:
    """A CA (PEM) and a certificate and key it signed for 127.0.0.1 (PEM)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)

    def name(text: str) -> object:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + day)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca.public_bytes(pem), cert.public_bytes(pem), key_pem


async def test_https_is_tls_over_the_same_connections(tmp_path: Path) -> None:
    ca, cert, key = _certificates()
    (tmp_path / "cert.pem").write_bytes(cert + key)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "cert.pem")
    trusting = ssl.create_default_context(cadata=ca.decode())
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    connections = 0

    async def serve_one(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        tls = trio.SSLStream(stream, server_context, server_side=True)
        conn = h11.Connection(h11.SERVER)
        with contextlib.suppress(trio.BrokenResourceError):
            while (got := await _read_request(tls, conn)) is not None:  # type: ignore[arg-type]
                await echo(tls, conn, *got)  # type: ignore[arg-type]
                conn.start_next_cycle()

    async def context() -> ssl.SSLContext:
        return trusting

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(trio.serve_listeners, serve_one, [listener]))
            transport = Http11Transport(context, _no_fallback)
            async with httpx.AsyncClient(transport=transport) as http:
                for _ in range(2):
                    response = await http.get(f"https://127.0.0.1:{port}/secure")
                    assert response.content == b"GET /secure "
            strangers = Http11Transport(_default_context, _no_fallback)
            async with httpx.AsyncClient(transport=strangers) as http:
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"https://127.0.0.1:{port}/")
            nursery.cancel_scope.cancel()
    assert connections == 2  # both requests on one connection, then the refused one


async def _default_context() -> ssl.SSLContext:
    return ssl.create_default_context()


async def _no_fallback() -> httpx.AsyncBaseTransport:
    raise AssertionError("nothing should be handed over")


async def test_a_body_bigger_than_the_socket_buffers_arrives_whole_and_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Head and body go out as pieces of one ``writev``, not joined first; a full socket
    leaves part of a piece to send once it drains."""
    writes: list[int] = []
    writev = os.writev

    def counted(fd: int, buffers: list[memoryview]) -> int:
        sent = writev(fd, buffers)
        writes.append(sent)
        return sent

    monkeypatch.setattr(os, "writev", counted)
    body = bytes(range(256)) * (64 * 1024)  # 16 MB
    with trio.fail_after(60):
        async with serving(echo) as server, client() as http:
            response = await http.post(f"{server.url}/big", content=body)
    assert server.requests[0][1] == body
    assert response.content == b"POST /big " + body
    assert len(writes) > 1 and sum(writes) > len(body)  # partial writes, head included


@given(st.lists(st.binary(max_size=40), max_size=6), st.data())
def test_what_is_left_to_send_after_a_partial_write(
    pieces: list[bytes], data: st.DataObject
) -> None:
    whole = b"".join(pieces)
    sent = data.draw(st.integers(0, len(whole)))
    left = _unsent([memoryview(p) for p in pieces if p], sent)
    assert b"".join(left) == whole[sent:]
    assert all(left)  # no empty piece left to write
