"""``claw -c``, ``-r``, ``--fork-session`` and ``--session-id`` through the real CLI.

Each test runs ``claw`` in a subprocess against the fake model on loopback and
judges by what the model is sent next and what the session files hold.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

from _harness import claw_env, run_claw, start_claw

FIXTURES = Path(__file__).parent / "fixtures" / "sessions"


def _session_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "claw-home" / "projects").glob("*/*.jsonl"))


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    """Each request message as plain text (tool results and calls by their kind)."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append(content)
            continue
        parts = []
        for block in content:
            if block["type"] == "text":
                parts.append(block["text"])
            else:
                parts.append(f"<{block['type']}>")
        out.append(" ".join(parts))
    return out


async def test_continue_resumes_the_latest_session_in_its_own_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    script = Script([Turn.say("the code word is heron"), Turn.say("you said: heron")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        first = await run_claw(["-p", "remember heron"], project, env)
        second = await run_claw(["-c", "-p", "what was the word?"], project, env)
        sent = server.requests[1].body["messages"]
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert _texts(sent) == ["remember heron", "the code word is heron", "what was the word?"]
    [path] = _session_files(tmp_path)  # the same session, the same file
    kinds = [r["type"] for r in _records(path)]
    assert kinds == ["user", "assistant", "result", "user", "assistant", "result"]
    assert second.stdout.decode().strip() == "you said: heron"


async def test_continue_without_a_session_says_how_to_start_one(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("never")])) as server:
        done = await run_claw(["-c", "-p", "hi"], tmp_path, claw_env(tmp_path, server))
        assert server.requests == []
    assert done.returncode == 1
    [line] = done.stderr.decode().strip().splitlines()
    assert "no session to continue" in line and "claw -p" in line


async def test_fork_copies_the_history_into_a_new_session_and_leaves_the_old_one(
    tmp_path: Path,
) -> None:
    script = Script([Turn.say("first answer"), Turn.say("forked answer")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        await run_claw(["-p", "start"], tmp_path, env)
        [original] = _session_files(tmp_path)
        before = original.read_bytes()
        forked = await run_claw(
            ["-r", original.stem[:8], "--fork-session", "-p", "go on"], tmp_path, env
        )
        sent = server.requests[1].body["messages"]
    assert forked.returncode == 0, forked.stderr
    assert _texts(sent) == ["start", "first answer", "go on"]
    assert original.read_bytes() == before  # the original is untouched
    [new] = [p for p in _session_files(tmp_path) if p != original]
    records = _records(new)
    assert {r.get("sessionId") for r in records if r["type"] != "result"} == {new.stem}
    assert [r["type"] for r in records] == ["user", "assistant", "user", "assistant", "result"]


async def test_session_id_names_the_new_session_and_is_never_reused(tmp_path: Path) -> None:
    chosen = str(uuid.uuid4())
    async with open_fake_model_server(Script([Turn.say("one"), Turn.say("two")])) as server:
        env = claw_env(tmp_path, server)
        done = await run_claw(["--session-id", chosen, "-p", "hi"], tmp_path, env)
        again = await run_claw(["--session-id", chosen, "-p", "hi"], tmp_path, env)
        bad = await run_claw(["--session-id", "not-a-uuid", "-p", "hi"], tmp_path, env)
        assert len(server.requests) == 1
    assert done.returncode == 0 and [p.stem for p in _session_files(tmp_path)] == [chosen]
    assert again.returncode == 1 and b"already in use" in again.stderr
    assert bad.returncode == 2 and b"--session-id must be a UUID" in bad.stderr


async def test_a_line_torn_by_kill_9_is_skipped_and_the_next_record_starts_fresh(
    tmp_path: Path,
) -> None:
    script = Script([Turn.say("a long first answer " * 20), Turn.say("still here")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        await run_claw(["-p", "first"], tmp_path, env)
        [path] = _session_files(tmp_path)
        # What kill -9 in the middle of writing the result line leaves on disk:
        data = path.read_bytes()
        last_start = data.rstrip(b"\n").rfind(b"\n") + 1
        path.write_bytes(data[: last_start + 40])
        resumed = await run_claw(["-c", "-p", "again"], tmp_path, env)
        sent = server.requests[1].body["messages"]
    assert resumed.returncode == 0, resumed.stderr
    assert b"cut off mid-write" in resumed.stderr
    assert _texts(sent) == ["first", "a long first answer " * 20, "again"]
    lines = path.read_bytes().splitlines()
    assert len(lines[2]) == 40  # the torn line, kept as it was
    for line in lines[3:]:  # every later record is whole, on its own line
        json.loads(line)
    assert [json.loads(line)["type"] for line in lines[3:]] == ["user", "assistant", "result"]


async def test_a_run_killed_mid_tool_resumes_with_an_aborted_result(tmp_path: Path) -> None:
    started = tmp_path / "tool-started"
    marker = f"claw-killed-{os.getpid()}-{time.monotonic_ns()}"
    slow = ToolCallSpec("Bash", {"command": f"touch {started}; sleep 300 # {marker}"})
    script = Script([Turn.call(slow), Turn.say("picked up after the crash")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        process = await start_claw(
            ["-p", "run it", "--allowed-tools", "Bash"], tmp_path, env, start_new_session=True
        )
        try:
            with trio.fail_after(30):
                while not started.exists():
                    await trio.sleep(0.05)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the whole terminal session dies
            await process.wait()
        [path] = _session_files(tmp_path)
        assert [r["type"] for r in _records(path)] == ["user", "assistant"]
        resumed = await run_claw(["-c", "-p", "what happened?"], tmp_path, env)
        sent = server.requests[1].body["messages"]
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.decode().strip() == "picked up after the crash"
    tool_use = sent[1]["content"][-1]
    [aborted] = [b for b in sent[2]["content"] if b["type"] == "tool_result"]
    assert tool_use["type"] == "tool_use" and aborted["tool_use_id"] == tool_use["id"]
    assert aborted["is_error"] is True
    assert sent[-1]["content"][-1]["text"] == "what happened?"


async def test_resuming_a_claude_code_session_file(tmp_path: Path) -> None:
    copied = tmp_path / "from-claude-code.jsonl"
    shutil.copy(FIXTURES / "claude-code-killed-mid-tool.jsonl", copied)
    async with open_fake_model_server(Script([Turn.say("continuing your session")])) as server:
        env = claw_env(tmp_path, server)
        done = await run_claw(["-r", str(copied), "-p", "carry on"], tmp_path, env)
        sent = server.requests[0].body["messages"]
    assert done.returncode == 0, done.stderr
    roles = [m["role"] for m in sent]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant", "user", "user"]
    first_answer = sent[1]["content"]  # three lines sharing message.id, merged
    assert [b["type"] for b in first_answer] == ["thinking", "text", "tool_use"]
    assert first_answer[0]["signature"] == "EqQBCkYIBxgCKkD+sig=="  # byte-exact
    [aborted] = sent[-2]["content"]  # killed mid-tool: the Edit gets an aborted result
    assert aborted["type"] == "tool_result" and aborted["is_error"]
    assert aborted["tool_use_id"] == sent[-3]["content"][-1]["id"]
    assert sent[-1]["content"][-1]["text"] == "carry on"
    # claw writes its own file under the same session id; the original is untouched
    [own] = _session_files(tmp_path)
    assert own.stem == "7c1f0b8e-5a2d-4e3f-9b61-2d4c8e9f0a11"
    assert copied.read_bytes() == (FIXTURES / "claude-code-killed-mid-tool.jsonl").read_bytes()
