"""``claw mcp list|get|add|remove``, ``--mcp-config`` with a Streamable HTTP server the test
starts, ``claw doctor``'s MCP lines, and ``claw mcp serve`` driven by the SDK's own client."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import trio

from claw_runtime.testing.fake_server import open_fake_model_server
from claw_runtime.testing.script import Script, ToolCallSpec, Turn

from _harness import claw_env, run_claw

FIXTURES = Path(__file__).parent / "fixtures" / "mcp"


def _out(result: Any) -> str:
    return str(result.stdout.decode())


async def test_add_list_get_remove_a_stdio_server(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    env = claw_env(tmp_path)
    added = await run_claw(
        ["mcp", "add", "time", sys.executable, "--", "-m", "mcp_server_time"], project, env
    )
    assert added.returncode == 0, added.stderr.decode()
    saved = json.loads((tmp_path / "claw-home" / "mcp.json").read_text())
    entry = saved["projects"][str(project.resolve())]["mcpServers"]["time"]
    assert entry == {"command": sys.executable, "args": ["-m", "mcp_server_time"]}
    listed = await run_claw(["mcp", "list"], project, env)
    assert listed.returncode == 0, listed.stderr.decode()
    assert "time: stdio:" in _out(listed) and "connected (2 tools)" in _out(listed)
    got = await run_claw(["mcp", "get", "time"], project, env)
    assert "scope: local" in _out(got)
    assert "tool: mcp__time__get_current_time" in _out(got)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "No MCP servers" in _out(await run_claw(["mcp", "list"], elsewhere, env))
    removed = await run_claw(["mcp", "remove", "time"], project, env)
    assert removed.returncode == 0, removed.stderr.decode()
    assert "No MCP servers" in _out(await run_claw(["mcp", "list"], project, env))
    again = await run_claw(["mcp", "remove", "time"], project, env)
    assert again.returncode == 1 and again.stderr.decode().count("\n") == 1
    web = await run_claw(
        ["mcp", "add", "--transport", "http", "web", "http://127.0.0.1:9/mcp", "-H", "X-A: b"],
        project,
        env,
    )
    assert web.returncode == 0, web.stderr.decode()
    saved = json.loads((tmp_path / "claw-home" / "mcp.json").read_text())
    assert saved["projects"][str(project.resolve())]["mcpServers"]["web"] == {
        "type": "http",
        "url": "http://127.0.0.1:9/mcp",
        "headers": {"X-A": "b"},
    }
    down = await run_claw(["mcp", "list"], project, env)
    assert down.stdout.decode().count("\n") == 1 and "web: http:" in _out(down)
    assert "failed" in _out(down) and down.stderr.decode() == ""


async def test_add_to_the_project_and_list_shows_a_failing_server_in_one_line(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    env = claw_env(tmp_path)
    added = await run_claw(
        ["mcp", "add", "-s", "project", "-e", "A=1", "broken", str(tmp_path / "nope")],
        project,
        env,
    )
    assert added.returncode == 0, added.stderr.decode()
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["broken"]
    assert entry == {"command": str(tmp_path / "nope"), "args": [], "env": {"A": "1"}}
    untrusted = await run_claw(["mcp", "list"], project, env)
    assert "not started: the project is not trusted" in _out(untrusted)
    trusted = await run_claw(["mcp", "list", "--trust"], project, env)
    (line,) = [line for line in _out(trusted).splitlines() if line.startswith("broken:")]
    assert "failed: command not found" in line
    doctor = await run_claw(["doctor"], project, env)
    assert doctor.returncode == 0, doctor.stderr.decode()
    text = _out(doctor)
    assert "MCP servers:" in text
    assert "broken" in text and "failed: command not found" in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _http_server(token: str, transport: str = "http") -> AsyncIterator[str]:
    """The fixture server on a free port, as a subprocess; yields its URL once it answers."""
    port = _free_port()
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, str(FIXTURES / "http_server.py"), str(port), token, transport],
                check=False,
            )
        )
        with trio.fail_after(30):
            while True:
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.05)
                    continue
                await stream.aclose()
                break
        try:
            yield f"http://127.0.0.1:{port}/{'sse' if transport == 'sse' else 'mcp'}"
        finally:
            process.terminate()


async def test_a_streamable_http_server_from_mcp_config_with_headers(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    script = Script(
        [
            Turn.call(ToolCallSpec("mcp__web__add", {"a": 2, "b": 40})),
            Turn.say("the answer is known"),
            Turn.say("fine without it"),
        ]
    )
    async with _http_server("s3cret") as url, open_fake_model_server(script) as server:
        config = tmp_path / "servers.json"
        config.write_text(
            json.dumps(
                {
                    "mcpServers": {
                        "web": {
                            "type": "http",
                            "url": url,
                            "headers": {"X-Test-Token": "${WEB_TOKEN}"},
                        }
                    }
                }
            )
        )
        result = await run_claw(
            ["-p", "add", "--mcp-config", str(config), "--allowed-tools", "mcp__web__add"],
            project,
            claw_env(tmp_path, server, WEB_TOKEN="s3cret"),
        )
        assert result.returncode == 0, result.stderr.decode()
        results = [
            b
            for m in server.requests[1].body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        (answer,) = results
        assert not answer.get("is_error"), answer
        assert "2 + 40 = 42" in json.dumps(answer)
        # The server refuses a wrong token, and has nothing at another path: one line
        # each, naming the status and the URL, and the run goes on without them.
        lost_url = url.replace("/mcp", "/nothing-here")
        lost = tmp_path / "lost.json"
        lost.write_text(
            json.dumps(
                {
                    "mcpServers": {
                        "lost": {
                            "type": "http",
                            "url": lost_url,
                            "headers": {"X-Test-Token": "s3cret"},
                        }
                    }
                }
            )
        )
        wrong = await run_claw(
            ["-p", "hi", "--mcp-config", str(config), "--mcp-config", str(lost)],
            project,
            claw_env(tmp_path, server, WEB_TOKEN="wrong"),
        )
    assert wrong.returncode == 0
    lines = wrong.stderr.decode().splitlines()
    (line,) = [line for line in lines if "MCP server web failed" in line]
    assert (
        line == f"claw: warning: MCP server web failed to start: HTTP 401 Unauthorized from {url}"
    )
    (line,) = [line for line in lines if "MCP server lost failed" in line]
    assert line == (
        f"claw: warning: MCP server lost failed to start: HTTP 404 Not Found from {lost_url}"
    )


async def test_claw_mcp_serve_through_the_sdk_client(tmp_path: Path) -> None:
    from mcp import Client, StdioServerParameters

    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("served by claw\n")
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.json").write_text(
        json.dumps({"permissions": {"deny": ["Read(secret.txt)"]}})
    )
    (project / "secret.txt").write_text("do not tell\n")
    env = claw_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "claw_runtime", "mcp", "serve"], env=env, cwd=project
    )
    with trio.fail_after(60):
        async with Client(params) as client:
            listed = await client.list_tools()
            names = {t.name for t in listed.tools}
            assert {"Read", "Write", "Bash"} <= names
            read = await client.call_tool("Read", {"file_path": str(project / "notes.txt")})
            assert not read.is_error
            assert "served by claw" in read.content[0].text  # type: ignore[union-attr]
            denied = await client.call_tool("Read", {"file_path": str(project / "secret.txt")})
            assert denied.is_error and "do not tell" not in str(denied.content)
            write = await client.call_tool(
                "Write", {"file_path": str(project / "new.txt"), "content": "x"}
            )
            assert write.is_error  # default mode: a write asks, and nobody can answer
    assert not (project / "new.txt").exists()


async def test_server_prompts_are_slash_commands_and_resources_are_tools(tmp_path: Path) -> None:
    import claw_runtime

    project = tmp_path / "project"
    project.mkdir()
    script = Script(
        [
            Turn.say("Hello Ada!"),
            Turn.call(
                ToolCallSpec("ReadMcpResourceTool", {"server": "web", "uri": "note://readme"})
            ),
            Turn.say("read it"),
        ]
    )
    async with _http_server("tok") as url, open_fake_model_server(script) as server:
        home = tmp_path / "claw-home"
        home.mkdir()
        (home / "settings.json").write_text(
            json.dumps(
                {
                    "mcpServers": {
                        "web": {"type": "http", "url": url, "headers": {"X-Test-Token": "tok"}}
                    },
                    "permissions": {"allow": ["ReadMcpResourceTool"]},
                }
            )
        )
        environ = claw_env(tmp_path, server)
        with trio.fail_after(60):
            async with (
                claw_runtime.open_runtime(cwd=project, environ=environ) as runtime,
                runtime.open_session(cwd=project, persist=False) as session,
            ):
                table = await session.commands()
                assert "mcp__web__greet" in table.commands
                greeted = await session.run("/mcp__web__greet Ada")
                read = await session.run("what does the readme say?")
        sent = server.requests[0].body["messages"][0]["content"][0]["text"]
        result = [
            b
            for m in server.requests[2].body["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ][-1]
    assert greeted.result == "Hello Ada!" and "Please greet Ada warmly." in sent
    assert read.result == "read it"
    assert not result.get("is_error") and "This is the readme resource." in json.dumps(result)


async def test_an_sse_server(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    script = Script([Turn.call(ToolCallSpec("mcp__old__add", {"a": 1, "b": 1})), Turn.say("2")])
    async with _http_server("t", "sse") as url, open_fake_model_server(script) as server:
        config = tmp_path / "servers.json"
        entry = {"type": "sse", "url": url, "headers": {"X-Test-Token": "t"}}
        config.write_text(json.dumps({"mcpServers": {"old": entry}}))
        result = await run_claw(
            ["-p", "add", "--mcp-config", str(config), "--allowed-tools", "mcp__old"],
            project,
            claw_env(tmp_path, server),
        )
        assert result.returncode == 0, result.stderr.decode()
        assert "1 + 1 = 2" in json.dumps(server.requests[1].body["messages"])


async def test_claw_mcp_serve_over_http(tmp_path: Path) -> None:
    from mcp import Client

    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("over http\n")
    port = _free_port()
    env = claw_env(tmp_path)
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, "-m", "claw_runtime", "mcp", "serve", "--http", str(port)],
                cwd=project,
                env=env,
                check=False,
            )
        )
        try:
            with trio.fail_after(60):
                while True:
                    try:
                        await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                        break
                    except OSError:
                        await trio.sleep(0.05)
                async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                    read = await client.call_tool("Read", {"file_path": str(project / "notes.txt")})
        finally:
            process.terminate()
    assert not read.is_error and "over http" in str(read.content)
