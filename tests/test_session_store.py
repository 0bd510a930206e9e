"""Session files read back: claw's own, Claude Code's, torn by kill -9, killed mid-tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claw_runtime.models import RawBlock, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from claw_runtime.sessions import (
    SessionNotFound,
    find_session,
    latest_session,
    list_sessions,
    load_session,
)
from claw_runtime.sessions.transcript import Transcript, transcript_path

FIXTURES = Path(__file__).parent / "fixtures" / "sessions"


def test_a_claude_code_session_file_reads_back_as_a_valid_conversation() -> None:
    loaded = load_session(FIXTURES / "claude-code-killed-mid-tool.jsonl")
    assert loaded.session_id == "7c1f0b8e-5a2d-4e3f-9b61-2d4c8e9f0a11"
    assert loaded.cwd == "/home/dev/src/shop"
    roles = [m.role for m in loaded.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant", "user"]
    first_answer = loaded.messages[1].content
    # three lines sharing message.id merged back into one message, in order
    assert isinstance(first_answer[0], ThinkingBlock)
    assert first_answer[0].signature == "EqQBCkYIBxgCKkD+sig=="
    assert isinstance(first_answer[1], TextBlock) and isinstance(first_answer[2], ToolUseBlock)
    [result] = loaded.messages[2].content
    assert isinstance(result, ToolResultBlock) and "def test_checkout" in result.text
    server_block = loaded.messages[3].content[1]
    assert isinstance(server_block, RawBlock) and server_block.kind == "server_tool_use"
    assert loaded.messages[4].text == "fix it"  # the sidechain line was skipped
    # killed mid-tool: the Edit got no result, so an aborted one is added
    [aborted] = loaded.messages[6].content
    assert isinstance(aborted, ToolResultBlock)
    assert aborted.tool_use_id == "toolu_02E" and aborted.is_error
    # the torn last line is reported, not fatal
    assert any("line 12 skipped: cut off mid-write" in w for w in loaded.warnings)
    kinds = {r.get("type") for r in loaded.records}
    assert {"summary", "file-history-snapshot"} <= kinds  # unknown record types are kept


def test_claws_own_transcript_reads_back(tmp_path: Path) -> None:
    from claw_runtime.models import Message

    path = tmp_path / "s.jsonl"
    transcript = Transcript(path, session_id="abc", cwd=str(tmp_path))
    transcript.append_message(Message.user("hello"))
    use = ToolUseBlock(id="t1", name="Read", input={"file_path": "x"})
    raw = RawBlock(data={"type": "redacted_thinking", "data": "EmwKAhgBEgy3"})
    transcript.append_message(Message(role="assistant", content=(raw, use)))
    result = ToolResultBlock(tool_use_id="t1", content=(TextBlock(text="data"),))
    transcript.append_message(Message(role="user", content=(result,)))
    transcript.append("result", result={"num_turns": 2, "total_cost_usd": 0.5})
    transcript.close()
    loaded = load_session(path)
    assert [m.role for m in loaded.messages] == ["user", "assistant", "user"]
    assert loaded.messages[1].content == (raw, use)
    assert loaded.messages[2].content == (result,)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1]["parentUuid"] == lines[0]["uuid"] and lines[0]["parentUuid"] is None


def test_listing_finding_and_latest(tmp_path: Path) -> None:
    environ = {"CLAW_CONFIG_DIR": str(tmp_path / "claw")}
    cwd = tmp_path / "project"
    cwd.mkdir()
    import os

    for number, session_id in enumerate(["aaaa-1", "aaab-2", "bbbb-3"]):
        path = transcript_path(cwd, session_id, environ)
        from claw_runtime.models import Message

        transcript = Transcript(path, session_id=session_id, cwd=str(cwd))
        transcript.append_message(Message.user(f"prompt number {number}"))
        transcript.append("result", result={"num_turns": number + 1, "total_cost_usd": 0.25})
        transcript.close()
        os.utime(path, (1_000_000 + number, 1_000_000 + number))
    listed = list_sessions(cwd, environ)
    assert [s.session_id for s in listed] == ["bbbb-3", "aaab-2", "aaaa-1"]
    assert listed[0].title == "prompt number 2" and listed[0].turns == 3
    assert listed[0].cost_usd == 0.25
    assert latest_session(cwd, environ) == listed[0].path
    assert find_session("bbbb", cwd, environ) == listed[0].path
    assert find_session(str(listed[2].path), cwd, environ) == listed[2].path
    with pytest.raises(SessionNotFound, match="matches 2 sessions"):
        find_session("aaa", cwd, environ)
    with pytest.raises(SessionNotFound, match="no session 'zzz'"):
        find_session("zzz", cwd, environ)
    assert latest_session(tmp_path, environ) is None


def test_secrets_are_masked_in_the_file_but_signed_thinking_stays_byte_exact(
    tmp_path: Path,
) -> None:
    from claw_runtime.models import Message

    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    path = tmp_path / "s.jsonl"
    transcript = Transcript(path, session_id="abc", cwd=str(tmp_path))
    thinking = ThinkingBlock(thinking=f"the token {secret} is in .env", signature="sig==")
    raw = RawBlock(data={"type": "redacted_thinking", "data": f"opaque-{secret}"})
    text = TextBlock(text=f"I found {secret} in .env")
    transcript.append_message(Message(role="assistant", content=(thinking, raw, text)))
    transcript.close()
    written = path.read_text()
    assert written.count(secret) == 2  # inside the two signed blocks only
    [line] = [json.loads(line) for line in written.splitlines()]
    assert secret not in line["message"]["content"][2]["text"]
    loaded = load_session(path)
    assert loaded.messages[0].content[:2] == (thinking, raw)


async def test_claw_sessions_lists_shows_and_exports(tmp_path: Path) -> None:
    from claw_runtime.testing import Script, Turn, open_fake_model_server

    from _harness import claw_env, run_claw

    project = tmp_path / "project"
    project.mkdir()
    async with open_fake_model_server(Script([Turn.say("the answer is 42")])) as server:
        env = claw_env(tmp_path, server)
        ran = await run_claw(["-p", "what is the answer?"], project, env)
    assert ran.returncode == 0, ran.stderr
    listed = await run_claw(["sessions"], project, env)
    [line] = listed.stdout.decode().splitlines()
    session_id = line.split()[0]
    assert "1 turns" in line and "what is the answer?" in line
    shown = await run_claw(["sessions", "show", session_id[:8]], project, env)
    assert "## User\n\nwhat is the answer?" in shown.stdout.decode()
    assert "## Assistant\n\nthe answer is 42" in shown.stdout.decode()
    exported = await run_claw(["sessions", "export", session_id, "--format", "json"], project, env)
    document = json.loads(exported.stdout)
    assert document["session_id"] == session_id
    assert [r["type"] for r in document["records"]] == ["user", "assistant", "result"]
    missing = await run_claw(["sessions", "show", "nope"], project, env)
    assert missing.returncode == 1 and b"no session 'nope'" in missing.stderr
