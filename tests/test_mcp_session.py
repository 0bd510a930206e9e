"""MCP servers in a session: ``readOnlyHint`` and concurrency, what ``session_started``
says about the servers, and a project's ``.mcp.json`` waiting for trust at a terminal.

Servers are real subprocesses (``tests/fixtures/mcp/readonly_server.py``, the SDK's
own server over stdio; ``misbehaving_server.py``); the model is the fake one on
loopback; runs go through the real CLI, or a real runtime and session in-process
where the test answers permission questions itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio

import claw_runtime
from claw_runtime.executor import Approval
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

from _harness import claw_env, run_claw

FIXTURES = Path(__file__).parent / "fixtures" / "mcp"
READ_ONLY = {"command": sys.executable, "args": [str(FIXTURES / "readonly_server.py")]}


def _user_settings(tmp_path: Path, data: dict[str, Any]) -> None:
    home = tmp_path / "claw-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.json").write_text(json.dumps(data))


def _results(server: FakeModelServer) -> dict[str, dict[str, Any]]:
    """tool_use_id -> the tool_result the model received."""
    seen: dict[str, dict[str, Any]] = {}
    for request in server.requests:
        for message in request.body["messages"]:
            if isinstance(message["content"], list):
                for block in message["content"]:
                    if block.get("type") == "tool_result":
                        seen.setdefault(block["tool_use_id"], block)
    return seen


def _text(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def _meetings(server: FakeModelServer) -> list[dict[str, Any]]:
    """What each ``meet`` call answered, in the order the model asked for them."""
    answers = [b for b in _results(server).values() if '"met"' in _text(b)]
    return [json.loads(_text(b)) for b in answers]


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
    (peek,) = [r for r in _results(server).values() if "peek" in _text(r) or r.get("is_error")]
    assert peek["is_error"] and "peeked" not in _text(peek)
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
