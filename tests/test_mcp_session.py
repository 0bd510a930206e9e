"""MCP servers in a session: ``readOnlyHint`` and concurrency, what ``session_started``
says about the servers, and a project's ``.mcp.json`` waiting for trust at a terminal.

Servers are real subprocesses (``tests/fixtures/mcp/readonly_server.py``, the SDK's
own server over stdio; ``misbehaving_server.py``); the model is the fake one on
loopback; runs go through the real CLI, or a real runtime and session in-process
where the test answers permission questions itself.
"""

from __future__ import annotations

import json
import os
import pty
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import claw_runtime
from claw_runtime.executor import Approval
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

from _harness import claw_env, fake_server_in_thread, received_tool_results, result_text, run_claw

FIXTURES = Path(__file__).parent / "fixtures" / "mcp"
READ_ONLY = {"command": sys.executable, "args": [str(FIXTURES / "readonly_server.py")]}


def _user_settings(tmp_path: Path, data: dict[str, Any]) -> None:
    home = tmp_path / "claw-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(json.dumps(data))


def _meetings(server: FakeModelServer) -> list[dict[str, Any]]:
    """What each ``meet`` call answered, in the order the model asked for them."""
    answers = [b for b in received_tool_results(server).values() if '"met"' in result_text(b)]
    return [json.loads(result_text(b)) for b in answers]


def _overlapped(first: dict[str, Any], second: dict[str, Any]) -> bool:
    return bool(first["start"] < second["end"] and second["start"] < first["end"])


# ------------------------------------------------------------------ readOnlyHint


async def test_read_only_mcp_calls_of_one_message_overlap_and_still_need_permission(
    tmp_path: Path,
) -> None:
    """Two allowed ``readOnlyHint`` calls run at once; a third, allowed by no rule, is
    refused headless although the server calls it read-only."""
    project = tmp_path / "project"
    project.mkdir()
    _user_settings(
        tmp_path, {"mcpServers": {"ro": READ_ONLY}, "permissions": {"allow": ["mcp__ro__meet"]}}
    )
    script = Script(
        [
            Turn.call(
                ToolCallSpec("mcp__ro__meet", {"name": "a"}),
                ToolCallSpec("mcp__ro__meet", {"name": "b"}),
                ToolCallSpec("mcp__ro__peek", {}),
            ),
            Turn.say("done"),
        ]
    )
    async with open_fake_model_server(script) as server:
        result = await run_claw(
            ["-p", "go", "--output-format", "json"], project, claw_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr.decode()
    a, b = _meetings(server)
    assert (a["name"], b["name"]) == ("a", "b")
    assert a["met"] and b["met"], (a, b)
    assert _overlapped(a, b), (a, b)
    (peek,) = [
        r
        for r in received_tool_results(server).values()
        if "peek" in result_text(r) or r.get("is_error")
    ]
    assert peek["is_error"] and "peeked" not in result_text(peek)
    last = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert [d["tool_name"] for d in last["permission_denials"]] == ["mcp__ro__peek"]


async def test_concurrent_read_only_calls_ask_one_at_a_time_and_yes_always_covers_the_other(
    tmp_path: Path,
) -> None:
    """No rule allows ``meet``: the first call's question is answered "yes, always"
    while the second waits its turn, so the second is not asked at all, and they
    still run at the same time."""
    _user_settings(tmp_path, {"mcpServers": {"ro": READ_ONLY}})
    script = Script(
        [
            Turn.call(
                ToolCallSpec("mcp__ro__meet", {"name": "a"}),
                ToolCallSpec("mcp__ro__meet", {"name": "b"}),
            ),
            Turn.say("done"),
        ]
    )
    asked: list[str] = []
    asking = 0
    overlapping_questions = False

    async def approve(call: ToolCall, reason: str) -> Approval:
        nonlocal asking, overlapping_questions
        asking += 1
        overlapping_questions = overlapping_questions or asking > 1
        asked.append(call.name)
        await trio.sleep(0.3)  # a person takes a moment to answer
        asking -= 1
        return Approval(allowed=True, remember_rule="mcp__ro__meet")

    with trio.fail_after(60):
        async with open_fake_model_server(script) as server:
            environ = claw_env(tmp_path, server)
            async with (
                claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as rt,
                rt.open_session(cwd=tmp_path, persist=False, approver=approve) as session,
            ):
                outcome = await session.run("go")
            assert outcome.result == "done", outcome
    assert not overlapping_questions
    assert asked == ["mcp__ro__meet"]
    a, b = _meetings(server)
    assert a["met"] and b["met"] and _overlapped(a, b), (a, b)


# ---------------------------------------------------------------- session_started


async def test_stream_json_starts_with_the_mcp_servers_their_status_and_their_tools(
    tmp_path: Path,
) -> None:
    """``session_started`` waits for the servers: one connected (its tools listed), one
    failed; it is still the first line. Without servers it lists none."""
    project = tmp_path / "project"
    project.mkdir()
    broken = {"command": str(tmp_path / "no-such-server")}
    _user_settings(tmp_path, {"mcpServers": {"ro": READ_ONLY, "broken": broken}})
    async with open_fake_model_server(Script([Turn.say("hi"), Turn.say("hi")])) as server:
        result = await run_claw(
            ["-p", "hi", "--output-format", "stream-json"], project, claw_env(tmp_path, server)
        )
        assert result.returncode == 0, result.stderr.decode()
        first = json.loads(result.stdout.decode().splitlines()[0])
        _user_settings(tmp_path, {})
        plain = await run_claw(
            ["-p", "hi", "--output-format", "stream-json"], project, claw_env(tmp_path, server)
        )
    assert first["type"] == "session_started"
    assert first["mcp_servers"] == [
        {"name": "ro", "status": "connected"},
        {"name": "broken", "status": "failed"},
    ]
    assert {"mcp__ro__meet", "mcp__ro__peek", "mcp__ro__poke", "Read"} <= set(first["tools"])
    assert first["tools"] == sorted(first["tools"])
    assert {t["name"] for t in server.requests[0].body["tools"]} >= {"mcp__ro__meet"}
    types = [json.loads(line)["type"] for line in result.stdout.decode().splitlines()]
    assert types.count("session_started") == 1 and "task_state" in types
    assert plain.returncode == 0, plain.stderr.decode()
    first = json.loads(plain.stdout.decode().splitlines()[0])
    assert first["type"] == "session_started"
    assert first["mcp_servers"] == [] and "Read" in first["tools"]
    assert not any(name.startswith("mcp__") for name in first["tools"])


# ------------------------------------------------------------------------- trust

MISBEHAVING = FIXTURES / "misbehaving_server.py"


def _project_with_mcp_json(tmp_path: Path) -> Path:
    """A project whose only claim is a ``.mcp.json`` server; the user allows its tools."""
    project = tmp_path / "project"
    project.mkdir()
    starts = tmp_path / "starts.txt"
    server = {
        "command": sys.executable,
        "args": [str(MISBEHAVING)],
        "env": {"MISBEHAVE_STARTS": str(starts)},
    }
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"proj": server}}))
    _user_settings(tmp_path, {"permissions": {"allow": ["mcp__proj"]}})
    return project


def _echo_script() -> Script:
    return Script(
        [Turn.call(ToolCallSpec("mcp__proj__echo", {"text": "from the project"})), Turn.say("done")]
    )


@pytest.mark.parametrize("answer", ["y", "n"])
async def test_at_a_terminal_a_projects_mcp_json_asks_for_trust_and_yes_starts_it_now(
    tmp_path: Path, answer: str
) -> None:
    """Nothing but ``.mcp.json`` to trust: the question is asked; yes starts the server in
    this very run (the model gets its tool and its answer), no leaves it unstarted."""
    project = _project_with_mcp_json(tmp_path)
    async with open_fake_model_server(_echo_script()) as server:
        leader, follower = pty.openpty()
        os.write(leader, f"{answer}\n".encode())  # typed ahead: the trust question
        with trio.fail_after(60):
            result = await trio.run_process(
                [sys.executable, "-m", "claw_runtime", "-p", "go", "--no-session"],
                cwd=project,
                stdin=follower,
                stderr=follower,
                capture_stdout=True,
                env=claw_env(tmp_path, server),
                check=False,
            )
        os.close(follower)
        shown = _read_all(leader)
    assert result.returncode == 0, shown
    assert "Trust this folder? [y/N]" in shown
    assert f"{project / '.mcp.json'}: mcpServers (proj)" in shown
    (echo,) = received_tool_results(server).values()
    tools = {t["name"] for t in server.requests[0].body["tools"]}
    stored = tmp_path / "claw-home" / "trusted-projects.json"
    if answer == "y":
        assert "mcp__proj__echo" in tools
        assert not echo.get("is_error") and result_text(echo) == "from the project"
        assert json.loads(stored.read_text()) == [str(project.resolve())]
    else:
        assert "mcp__proj__echo" not in tools and echo["is_error"]
        assert not (tmp_path / "starts.txt").exists() and not stored.exists()
        assert "(proj) were not started" in shown and "claw trust" in shown


async def test_headless_a_projects_mcp_json_is_one_line_and_never_started(
    tmp_path: Path,
) -> None:
    project = _project_with_mcp_json(tmp_path)
    async with open_fake_model_server(_echo_script()) as server:
        result = await run_claw(["-p", "go"], project, claw_env(tmp_path, server))
    assert result.returncode == 0, result.stderr.decode()
    err = result.stderr.decode()
    assert "Trust this folder" not in err
    (line,) = [line for line in err.splitlines() if "proj" in line]
    assert "were not started" in line and "claw trust" in line
    assert not (tmp_path / "starts.txt").exists()


def _read_all(leader: int) -> str:
    """Everything the child wrote to the terminal (it has exited)."""
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_the_interactive_terminal_asks_and_starts_the_projects_servers_in_the_session(
    tmp_path: Path,
) -> None:
    """``claw`` at a terminal: the trust question comes before the prompt; after yes the
    first prompt's session has the project's server and its tool works."""
    from test_repl import CTRL_D, STATUS_LINE, Terminal, repl_env

    project = _project_with_mcp_json(tmp_path)
    with fake_server_in_thread(_echo_script()) as server:
        claw = Terminal(project, repl_env(tmp_path, server))
        try:
            claw.expect("Trust this folder? [y/N]")
            claw.child.send("y\r")
            claw.prompt()
            claw.send_line("go")
            claw.child.expect(STATUS_LINE)
            claw.prompt()
            claw.child.send(CTRL_D)
            assert claw.exit_code() == 0
        finally:
            claw.close()
        tools = {t["name"] for t in server.requests[0].body["tools"]}
        (echo,) = received_tool_results(server).values()
    assert "mcp__proj__echo" in tools
    assert not echo.get("is_error") and result_text(echo) == "from the project"
