"""WebFetch against a real HTTP server on loopback, and TodoWrite's session list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import h11
import httpx
import pytest
import trio

from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.todo_write import todo_write
from claw_runtime.tools.web_fetch import web_fetch

PAGES: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {
    "/page": (
        200,
        [("content-type", "text/html; charset=utf-8")],
        b"<html><head><style>p{}</style></head><body><h1>Title</h1><p>Some <b>bold</b> text.</p>"
        b"<script>alert(1)</script></body></html>",
    ),
    "/plain": (200, [("content-type", "text/plain")], "caf\u00e9 plain".encode()),
    "/same-host": (302, [("location", "/plain")], b""),
    "/binary": (200, [("content-type", "image/png")], b"\x89PNG\r\n"),
    "/huge": (200, [("content-type", "text/plain")], b"x" * (11 * 1024 * 1024)),
}


async def _serve(stream: trio.SocketStream, other_host: str) -> None:
    conn = h11.Connection(h11.SERVER)
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
            continue
        if isinstance(event, h11.Request):
            target = event.target.decode()
            if target == "/other-host":
                status, headers, body = 301, [("location", f"http://{other_host}/plain")], b""
            else:
                status, headers, body = PAGES.get(target, (404, [], b"missing"))
        if isinstance(event, h11.EndOfMessage):
            break
        if isinstance(event, h11.ConnectionClosed):
            return
    headers = [*headers, ("content-length", str(len(body))), ("connection", "close")]
    try:
        await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)))
        await stream.send_all(conn.send(h11.Data(data=body)))
        await stream.send_all(conn.send(h11.EndOfMessage()))
    except trio.BrokenResourceError:
        pass  # the client stopped reading (the size cap): that is the point
    await stream.aclose()


@pytest.fixture
async def site(nursery: trio.Nursery) -> AsyncIterator[str]:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    nursery.start_soon(
        trio.serve_listeners, partial(_serve, other_host=f"localhost:{port}"), listeners
    )
    yield f"http://127.0.0.1:{port}"


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ToolContext]:
    async with httpx.AsyncClient() as http:
        yield ToolContext(session=SessionState(session_id="w", cwd=tmp_path), http=http)


async def fetch(ctx: ToolContext, url: str) -> tuple[bool, str]:
    result = await web_fetch.invoke({"url": url, "prompt": "what is it?"}, ctx)
    return result.is_error, result.text


async def test_html_becomes_markdown_without_scripts(site: str, ctx: ToolContext) -> None:
    is_error, text = await fetch(ctx, f"{site}/page")
    assert not is_error
    assert text.startswith(f"Prompt: what is it?\nURL: {site}/page")
    assert "# Title" in text and "Some **bold** text." in text
    assert "alert(1)" not in text


async def test_same_host_redirects_are_followed_other_hosts_reported(
    site: str, ctx: ToolContext
) -> None:
    is_error, text = await fetch(ctx, f"{site}/same-host")
    assert not is_error and "café plain" in text and f"URL: {site}/plain" in text
    is_error, text = await fetch(ctx, f"{site}/other-host")
    assert is_error and "redirects to another host: http://localhost:" in text


async def test_refusals_and_limits(site: str, ctx: ToolContext) -> None:
    assert (await fetch(ctx, f"{site}/binary")) == (
        True,
        f"{site}/binary is image/png, not text; WebFetch returns text and HTML only.",
    )
    is_error, text = await fetch(ctx, f"{site}/missing")
    assert is_error and "HTTP 404" in text
    is_error, text = await fetch(ctx, f"{site}/huge")
    assert not is_error and "[page cut at 10 MB]" in text and "output truncated" in text
    is_error, text = await fetch(ctx, "ftp://example.com/x")
    assert is_error and "Not a fetchable URL" in text
    is_error, text = await fetch(ctx, "http://127.0.0.1:9/")
    assert is_error and "ConnectError" in text


async def test_todo_write_replaces_the_session_list(ctx: ToolContext) -> None:
    todos = [
        {"content": "Run the tests", "status": "completed", "activeForm": "Running the tests"},
        {"content": "Fix the bug", "status": "in_progress", "activeForm": "Fixing the bug"},
        {"content": "Write docs", "status": "pending", "activeForm": "Writing docs"},
    ]
    result = await todo_write.invoke({"todos": todos}, ctx)
    assert result.text.splitlines() == [
        "Todo list updated: 1/3 completed.",
        "[x] Run the tests",
        "[~] Fix the bug",
        "[ ] Write docs",
    ]
    assert [t.status for t in ctx.session.todos] == ["completed", "in_progress", "pending"]
    two_active = [dict(t, status="in_progress") for t in todos[:2]]
    warned = await todo_write.invoke({"todos": two_active}, ctx)
    assert "keep exactly one in progress" in warned.text
    bad = await todo_write.invoke(
        {"todos": [{"content": "x", "status": "done", "activeForm": "x"}]}, ctx
    )
    assert bad.is_error and "status" in bad.text
