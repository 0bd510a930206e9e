"""Compaction for real: long scripted sessions against the fake model on loopback, real
command hooks (shell scripts writing marker files), the session file on disk, resume,
``/compact`` through ``Session.run`` and ``claw -p``, ``/context``.

The fake server counts a request's tokens as its body's bytes / 4, so the numbers
here are deterministic: the built-in tools and system prompt are ~3,400 tokens, and
each scripted tool turn (a Bash call printing ~4,000 characters) adds ~1,100.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

import claw_runtime
from claw_runtime.config.settings import CommandHook, CompactionSettings, HookMatcher, Settings
from claw_runtime.context.compaction import SUMMARY_INTRO, SUMMARY_SYSTEM_PROMPT, choose_cut
from claw_runtime.events import Compacted, CompactionStarted, Event
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.models import Message, TextBlock, ToolResultBlock, ToolUseBlock
from claw_runtime.sessions.session import Session
from claw_runtime.sessions.store import load_session
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer, RecordedRequest

from _harness import claw_env, run_claw

WINDOW = 12_500
LIMIT = int(WINDOW * 0.8)
SUMMARY = "THE SUMMARY: the user wants hard work; turn files were printed."


def system_text(body: dict[str, Any]) -> str:
    return "\n".join(block.get("text", "") for block in body.get("system") or ())


def is_summary_request(request: RecordedRequest) -> bool:
    return request.path.endswith("/messages") and system_text(request.body) == (
        SUMMARY_SYSTEM_PROMPT
    )


def agent_requests(server: FakeModelServer) -> list[RecordedRequest]:
    return [
        r for r in server.requests if r.path.endswith("/messages") and not is_summary_request(r)
    ]


def without_cache_marks(value: Any) -> Any:
    """Wire JSON without ``cache_control`` (its place moves as the conversation grows)."""
    if isinstance(value, dict):
        return {k: without_cache_marks(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_cache_marks(v) for v in value]
    return value


def tokens_of(body: dict[str, Any]) -> int:
    """What the fake server counts for a request body: its bytes / 4."""
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False)) // 4 + 1


def orphan_results(messages: list[dict[str, Any]]) -> list[str]:
    """tool_result ids with no tool_use in the message just before them."""
    orphans = []
    for index, message in enumerate(messages):
        content = message["content"] if isinstance(message["content"], list) else []
        before = messages[index - 1]["content"] if index else []
        calls = {b["id"] for b in before if isinstance(b, dict) and b.get("type") == "tool_use"}
        orphans += [
            b["tool_use_id"]
            for b in content
            if b.get("type") == "tool_result" and b["tool_use_id"] not in calls
        ]
    return orphans


def worker(tool_turns: int, *, summary: Callable[[dict[str, Any]], Turn] | None = None) -> Script:
    """A model that makes ``tool_turns`` Bash calls printing big.txt, then says "all done";
    it answers summary requests with ``summary`` (default: :data:`SUMMARY`)."""
    done = {"calls": 0}

    def respond(body: dict[str, Any]) -> Turn:
        if system_text(body) == SUMMARY_SYSTEM_PROMPT:
            return summary(body) if summary else Turn.say(f"<summary>{SUMMARY}</summary>")
        done["calls"] += 1
        if done["calls"] <= tool_turns:
            command = f"echo turn-{done['calls']}; cat big.txt"
            return Turn.call(ToolCallSpec("Bash", {"command": command}))
        return Turn.say("all done")

    return Script(responder=respond)


@attrs.define
class Recorder:
    """A Python plugin: what pre_compact and session_start saw."""

    compactions: list[tuple[str, str, int]] = attrs.field(factory=list)
    sources: list[str] = attrs.field(factory=list)

    @hookimpl
    def pre_compact(self, context: Any, trigger: str, custom_instructions: str) -> None:
        self.compactions.append((trigger, custom_instructions, len(context.messages)))

    @hookimpl
    def session_start(self, session: Any, source: str) -> None:
        self.sources.append(source)


@attrs.define
class Opened:
    server: FakeModelServer
    session: Session
    recorder: Recorder
    notices: list[str]
    events: list[Event]
    tmp_path: Path

    @property
    def session_file(self) -> Path:
        return next((self.tmp_path / "claw-home" / "projects").glob("*/*.jsonl"))


def project(tmp_path: Path) -> Path:
    where = tmp_path / "project"
    where.mkdir(exist_ok=True)
    (where / "big.txt").write_text("lorem ipsum dolor sit amet " * 150)
    return where


def compaction_settings(tmp_path: Path, **options: Any) -> Settings:
    """A small window, and real command hooks: PreCompact (auto, manual) and
    SessionStart (compact) scripts that leave marks in ``tmp_path``."""
    hooks = {
        "PreCompact": [
            HookMatcher(matcher="auto", hooks=[CommandHook(command=f"cat > {tmp_path}/auto.json")]),
            HookMatcher(
                matcher="manual", hooks=[CommandHook(command=f"cat > {tmp_path}/manual.json")]
            ),
        ],
        "SessionStart": [
            HookMatcher(
                matcher="compact",
                hooks=[CommandHook(command="echo 'Context from the compact hook.'")],
            )
        ],
    }
    compaction = CompactionSettings(context_window=WINDOW, keep_recent=0.25)
    return Settings(hooks=hooks, compaction=compaction, **options)


@asynccontextmanager
async def open_session(
    tmp_path: Path, script: Script, settings: Settings, **options: Any
) -> AsyncIterator[Opened]:
    recorder = Recorder()
    notices: list[str] = []
    events: list[Event] = []
    cwd = project(tmp_path)
    async with open_fake_model_server(script) as server:
        environ = claw_env(tmp_path, server)
        async with (
            claw_runtime.open_runtime(
                settings, cwd=cwd, environ=environ, extra_plugins=[("recorder", recorder)]
            ) as runtime,
            runtime.open_session(
                cwd=cwd, permission_mode="bypassPermissions", notify=notices.append, **options
            ) as session,
            trio.open_nursery() as nursery,
        ):

            async def collect(task_status: trio.TaskStatus[None]) -> None:
                with session.events(policy="block") as stream:
                    task_status.started()
                    async for event in stream:
                        events.append(event)

            await nursery.start(collect)
            try:
                with trio.fail_after(60):
                    yield Opened(server, session, recorder, notices, events, tmp_path)
            finally:
                nursery.cancel_scope.cancel()


async def test_a_long_session_compacts_once_past_the_threshold_and_keeps_recent_turns(
    tmp_path: Path,
) -> None:
    async with open_session(tmp_path, worker(8), compaction_settings(tmp_path)) as opened:
        result = await opened.session.run("work hard")
        messages_after = list(opened.session.agent.messages)
    server, events = opened.server, opened.events
    assert result.result == "all done" and not result.is_error, result
    summaries = [i for i, r in enumerate(server.requests) if is_summary_request(r)]
    assert len(summaries) == 1, [len(r.body["messages"]) for r in server.requests]
    at = summaries[0]
    before, after = server.requests[at - 1].body, server.requests[at + 1].body

    # At the right time: the last request before it was under the threshold, and the
    # conversation it measured (that request plus the answer and its result) was over.
    started = next(e for e in events if isinstance(e, CompactionStarted))
    compacted = next(e for e in events if isinstance(e, Compacted))
    assert tokens_of(before) < LIMIT <= started.tokens
    assert (started.trigger, started.window) == ("auto", WINDOW)
    assert compacted.tokens_before == started.tokens > compacted.tokens_after
    assert tokens_of(after) < tokens_of(before)

    # The next request starts with the summary, then the recent turns verbatim.
    first = after["messages"][0]
    assert first["role"] == "user"
    assert SUMMARY in first["content"][0]["text"] and SUMMARY_INTRO in first["content"][0]["text"]
    kept = without_cache_marks(after["messages"][1:-2])  # then the newest call and result
    assert kept and kept == without_cache_marks(before["messages"][-len(kept) :])
    assert compacted.kept_messages == len(kept) + 2
    assert after["messages"][1]["role"] == "assistant"  # a whole tool turn, not half of one
    assert orphan_results(after["messages"]) == []
    assert all("work hard" not in json.dumps(m) for m in after["messages"])
    assert messages_after[0].text.startswith(SUMMARY_INTRO)

    # The summariser saw the older turns as text, with no tools to call.
    summary_body = server.requests[at].body
    assert "tools" not in summary_body
    assert "work hard" in summary_body["messages"][0]["content"][0]["text"]

    # Hooks: PreCompact (command, matcher auto), pre_compact (Python), SessionStart compact.
    payload = json.loads((tmp_path / "auto.json").read_text())
    assert payload["hook_event_name"] == "PreCompact"
    assert (payload["trigger"], payload["custom_instructions"]) == ("auto", "")
    assert payload["session_id"] == opened.session.id
    assert payload["transcript_path"] == str(opened.session_file)
    assert payload["cwd"] == str(tmp_path / "project")
    assert not (tmp_path / "manual.json").exists()
    assert [(t, c) for t, c, _ in opened.recorder.compactions] == [("auto", "")]
    assert opened.recorder.sources == ["startup", "compact"]
    assert "Context from the compact hook." in system_text(after)
    assert "Context from the compact hook." not in system_text(before)

    # The session file: Claude Code's boundary record, then the summary line.
    records = [json.loads(line) for line in opened.session_file.read_text().splitlines()]
    where = next(i for i, r in enumerate(records) if r.get("subtype") == "compact_boundary")
    boundary, summary_line = records[where], records[where + 1]
    assert boundary["type"] == "system" and boundary["content"] == "Conversation compacted"
    assert boundary["compactMetadata"]["trigger"] == "auto"
    assert boundary["compactMetadata"]["preTokens"] == started.tokens
    assert boundary["parentUuid"] is None and boundary["logicalParentUuid"]
    assert summary_line["isCompactSummary"] is True
    assert summary_line["parentUuid"] == boundary["uuid"]
    assert SUMMARY in summary_line["message"]["content"][0]["text"]
    assert sum(1 for r in records if r.get("subtype") == "compact_boundary") == 1


async def test_resume_after_compaction_sends_the_summary_and_later_turns_only(
    tmp_path: Path,
) -> None:
    async with open_session(tmp_path, worker(8), compaction_settings(tmp_path)) as opened:
        await opened.session.run("work hard")
        live = list(opened.session.agent.messages)
        path = opened.session_file
    loaded = load_session(path)
    assert loaded.messages[0].text.startswith(SUMMARY_INTRO)
    assert [m.role for m in loaded.messages] == [m.role for m in live]
    script = Script([Turn.say("resumed")])
    async with open_fake_model_server(script) as server:
        environ = claw_env(tmp_path, server)
        cwd = tmp_path / "project"
        async with (
            claw_runtime.open_runtime(
                compaction_settings(tmp_path), cwd=cwd, environ=environ
            ) as runtime,
            runtime.open_session(cwd=cwd, resume=path) as session,
        ):
            result = await session.run("carry on")
    assert result.result == "resumed"
    sent = server.requests[0].body["messages"]
    assert SUMMARY in sent[0]["content"][0]["text"]
    assert all("work hard" not in json.dumps(m) for m in sent)
    assert sent[-1]["content"][0]["text"] == "carry on"
    assert orphan_results(sent) == []
    assert len(sent) == len(live) + 1


def test_a_claude_code_file_resumes_from_its_last_boundary(tmp_path: Path) -> None:
    def line(**fields: Any) -> str:
        return json.dumps(
            {"sessionId": "cc-session", "timestamp": "2026-07-23T00:00:00Z", **fields}
        )

    path = tmp_path / "cc-session.jsonl"
    path.write_text(
        "\n".join(
            [
                line(type="user", uuid="u1", message={"role": "user", "content": "old prompt"}),
                line(
                    type="assistant",
                    uuid="a1",
                    parentUuid="u1",
                    message={"role": "assistant", "content": [{"type": "text", "text": "old"}]},
                ),
                line(
                    type="system",
                    subtype="compact_boundary",
                    uuid="c1",
                    parentUuid=None,
                    logicalParentUuid="a1",
                    content="Conversation compacted",
                    compactMetadata={"trigger": "manual", "preTokens": 2048},
                ),
                line(
                    type="user",
                    uuid="s1",
                    parentUuid="c1",
                    isCompactSummary=True,
                    isVisibleInTranscriptOnly=True,
                    message={"role": "user", "content": [{"type": "text", "text": "condensed"}]},
                ),
                line(
                    type="assistant",
                    uuid="a2",
                    parentUuid="s1",
                    message={"role": "assistant", "content": [{"type": "text", "text": "new"}]},
                ),
            ]
        )
        + "\n"
    )
    loaded = load_session(path)
    assert [(m.role, m.text) for m in loaded.messages] == [
        ("user", "condensed"),
        ("assistant", "new"),
    ]
    assert len(loaded.records) == 5 and loaded.session_id == "cc-session"


async def test_compact_command_sends_the_focus_and_runs_manual_hooks(tmp_path: Path) -> None:
    async with open_session(tmp_path, worker(3), compaction_settings(tmp_path)) as opened:
        await opened.session.run("work hard")
        done = await opened.session.run("/compact keep the API notes")
        await opened.session.run("what next?")
    assert not done.is_error and done.stop_reason == "command", done.result
    assert done.result.startswith("Compacted the conversation")
    summaries = [r for r in opened.server.requests if is_summary_request(r)]
    assert len(summaries) == 1
    assert "keep the API notes" in summaries[0].body["messages"][0]["content"][0]["text"]
    payload = json.loads((tmp_path / "manual.json").read_text())
    assert (payload["trigger"], payload["custom_instructions"]) == ("manual", "keep the API notes")
    assert not (tmp_path / "auto.json").exists()
    assert opened.recorder.compactions[0][:2] == ("manual", "keep the API notes")
    last = agent_requests(opened.server)[-1].body["messages"]
    assert SUMMARY in last[0]["content"][0]["text"] and orphan_results(last) == []
    assert last[-1]["content"][0]["text"] == "what next?"


async def test_compact_in_claw_p_continues_the_session_with_the_focus(tmp_path: Path) -> None:
    cwd = project(tmp_path)
    script = worker(2)
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        first = await run_claw(
            ["-p", "work hard", "--permission-mode", "bypassPermissions"], cwd, env
        )
        assert first.returncode == 0, first.stderr
        done = await run_claw(["-c", "-p", "/compact keep the API notes"], cwd, env)
    assert done.returncode == 0, done.stderr
    assert b"Compacted the conversation" in done.stdout
    summaries = [r for r in server.requests if is_summary_request(r)]
    assert len(summaries) == 1
    assert "keep the API notes" in summaries[0].body["messages"][0]["content"][0]["text"]
    assert "work hard" in summaries[0].body["messages"][0]["content"][0]["text"]
    session_file = next((tmp_path / "claw-home" / "projects").glob("*/*.jsonl"))
    assert load_session(session_file).messages[0].text.startswith(SUMMARY_INTRO)


async def test_a_failed_compaction_leaves_the_conversation_intact(tmp_path: Path) -> None:
    def refuse(body: dict[str, Any]) -> Turn:
        return Turn.fail(status=400, error_message="prompt is too long")

    async with open_session(
        tmp_path, worker(8, summary=refuse), compaction_settings(tmp_path)
    ) as opened:
        result = await opened.session.run("work hard")
        kept = list(opened.session.agent.messages)
        manual = await opened.session.run("/compact")
        unchanged = list(opened.session.agent.messages)
    assert result.result == "all done" and not result.is_error
    failed = [r for r in opened.server.requests if is_summary_request(r)]
    auto_failures = [n for n in opened.notices if n.startswith("auto-compaction failed")]
    assert len(failed) == len(auto_failures) + 1 >= 2  # one notice per failed attempt
    assert all("\n" not in n and "prompt is too long" in n for n in auto_failures)
    # Every request still carries the whole conversation: nothing was replaced.
    last = agent_requests(opened.server)[-1].body["messages"]
    assert "work hard" in json.dumps(last[0]) and len(last) == 17
    assert kept[0].text == "work hard" and unchanged == kept
    assert manual.is_error and "Not compacted" in manual.result and "unchanged" in manual.result
    assert "compact_boundary" not in opened.session_file.read_text()
    assert load_session(opened.session_file).messages == tuple(kept)
    assert not any(isinstance(e, Compacted) for e in opened.events)


async def test_context_lists_what_fills_the_window_with_the_exact_count(tmp_path: Path) -> None:
    settings = Settings(compaction=CompactionSettings(context_window=100_000))
    async with open_session(tmp_path, worker(2), settings) as opened:
        await opened.session.run("work hard")
        shown = await opened.session.run("/context")
    assert not shown.is_error, shown.result
    text = shown.result
    for part in (
        "Context window: claude-sonnet-4-5, 100,000 tokens; auto-compaction at 80% (80,000 tokens)",
        "System prompt",
        "base instructions",
        "Tools (",
        "Bash",
        "Messages (6)",
        "tool results",
        "tool calls",
        "Free",
    ):
        assert part in text, (part, text)
    counted = [r for r in opened.server.requests if r.path.endswith("/count_tokens")]
    assert len(counted) == 1 and "tools" in counted[0].body
    exact = tokens_of(counted[0].body)
    assert f"Exact count from anthropic: {exact:,} tokens" in text
    estimate = int(text.split("In use: ~")[1].split(" ")[0].replace(",", ""))
    assert abs(estimate - exact) < exact * 0.1  # the gauge tracks the real size


def test_the_cut_never_separates_a_call_from_its_result() -> None:
    def call(n: int) -> Message:
        return Message(role="assistant", content=(ToolUseBlock(id=f"t{n}", name="Bash"),))

    def result(n: int, size: int = 400) -> Message:
        text = TextBlock(text="x" * size)
        return Message(
            role="user", content=(ToolResultBlock(tool_use_id=f"t{n}", content=(text,)),)
        )

    conversation = [Message.user("start")]
    for n in range(6):
        conversation += [call(n), result(n)]
    conversation += [Message.assistant("done"), Message.user("next task")]
    for n in range(6, 9):
        conversation += [call(n), result(n)]
    for budget in range(0, 2_000, 7):
        cut = choose_cut(conversation, budget)
        kept = conversation[cut:]
        assert 0 < cut <= len(conversation)
        assert not kept or kept[0].role == "assistant" or kept[0].text == "next task"
        calls = {b.id for m in kept for b in m.content if isinstance(b, ToolUseBlock)}
        results = {b.tool_use_id for m in kept for b in m.content if isinstance(b, ToolResultBlock)}
        assert results <= calls, (budget, cut)
    assert choose_cut(conversation, 10_000) == 14  # a prompt boundary within reach wins
    assert choose_cut([Message.user("only")], 100) == 0  # nothing to summarise
