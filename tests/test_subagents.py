"""Sub-agents end to end: the Task tool, through real sessions, against the fake model.

Every test scripts the main conversation and its sub-agents' conversations
with :func:`claw_runtime.testing.script.by_conversation` (a request is routed by
its first user message), runs a real session on a real runtime, and checks what
the model server received, the files on disk, the events and the processes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.config.settings import Settings, SubagentSettings
from claw_runtime.events import Event, SubagentFinished, SubagentStarted, TurnFinished
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.session import Session
from claw_runtime.sessions.transcript import read_transcript
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer
from claw_runtime.testing.script import _first_user_text, by_conversation

from _harness import processes_with

MODEL = "claude-sonnet-4-5"
EXTRA_ENV: dict[str, str] = {}


def task(prompt: str, agent: str = "general-purpose", **extra: Any) -> ToolCallSpec:
    return ToolCallSpec(
        "Task", {"description": prompt[:20], "prompt": prompt, "subagent_type": agent, **extra}
    )


@attrs.define
class World:
    server: FakeModelServer
    runtime: Runtime
    project: Path
    home: Path
    events: list[Event] = attrs.field(factory=list)

    def requests_of(self, marker: str) -> list[dict[str, Any]]:
        """The request bodies of the conversation whose first user message holds ``marker``."""
        return [r.body for r in self.server.requests if marker in _first_user_text(r.body)]


def last_request_time(w: World) -> float:
    return w.server.requests[-1].received_at


def results_in(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of a request's last message."""
    return [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"]


def text_of(block: dict[str, Any]) -> str:
    content = block["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


@asynccontextmanager
async def world(
    tmp_path: Path,
    routes: Mapping[str, Sequence[Turn]],
    settings: Settings | None = None,
    plugins: Sequence[tuple[str, object]] = (),
    responder: Callable[[dict[str, Any]], Turn] | None = None,
) -> AsyncIterator[World]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    home = tmp_path / "home"
    script = Script(responder=responder or by_conversation(routes))
    async with open_fake_model_server(script) as server:
        environ = {
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "HOME": str(home),
            "CLAW_CONFIG_DIR": str(tmp_path / "claw-home"),
            "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **EXTRA_ENV,
        }
        async with open_runtime(
            settings or Settings(), environ=environ, no_plugins=True, extra_plugins=plugins
        ) as runtime:
            yield World(server, runtime, project, home)


async def run_session(w: World, prompt: str, **options: Any) -> tuple[Session, Any]:
    async with (
        w.runtime.open_session(cwd=w.project, model=MODEL, **options) as session,
        trio.open_nursery() as nursery,
    ):
        with session.events(policy="block", buffer=100_000) as events:

            async def collect() -> None:
                async for event in events:
                    w.events.append(event)

            nursery.start_soon(collect)
            with trio.fail_after(300):
                result = await session.run(prompt)
            nursery.cancel_scope.cancel()
    return session, result


# ------------------------------------------------------------------ concurrency


async def test_task_calls_in_one_message_run_concurrently(tmp_path: Path) -> None:
    """Three sub-agents whose answers each take 1 s overlap: all three are asked at once.

    (Real time: a session under trio's autojump clock stalls before its first
    request, so overlap is shown with the times the fake server received each request.)
    """
    slow = {"delay_s": 0.2}  # 5 pauses between the 6 events of an answer: 1 s each
    routes = {
        "main job": [
            Turn.call(task("child alpha"), task("child beta"), task("child gamma")),
            Turn.say("all done"),
        ],
        "child alpha": [Turn.say("alpha answer", **slow)],
        "child beta": [Turn.say("beta answer", **slow)],
        "child gamma": [Turn.say("gamma answer", **slow)],
    }
    async with world(tmp_path, routes) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "all done"
    asked = [
        r.received_at
        for r in w.server.requests
        if any(k in str(r.body["messages"][0]) for k in ("alpha", "beta", "gamma"))
    ]
    assert len(asked) == 3
    assert max(asked) - min(asked) < 0.5, "a sub-agent was only asked after another answered"
    assert last_request_time(w) - min(asked) < 2.5, "three 1 s sub-agents did not overlap"
    [_, second] = w.requests_of("main job")
    texts = [text_of(b) for b in results_in(second)]
    assert texts == ["alpha answer", "beta answer", "gamma answer"]
    assert not any(b.get("is_error") for b in results_in(second))
    # Each child had a fresh conversation: one user message, its own prompt.
    for name in ("alpha", "beta", "gamma"):
        [body] = w.requests_of(f"child {name}")
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert "sub-agent of claw" in str(body["system"])


async def test_sub_agent_events_carry_its_id_and_transcript_is_a_sidechain(
    tmp_path: Path,
) -> None:
    routes = {
        "main job": [Turn.call(task("child one")), Turn.say("done")],
        "child one": [Turn.say("one answer")],
    }
    async with world(tmp_path, routes) as w:
        session, _ = await run_session(w, "main job")
    started = [e for e in w.events if isinstance(e, SubagentStarted)]
    finished = [e for e in w.events if isinstance(e, SubagentFinished)]
    assert len(started) == 1 and len(finished) == 1
    agent_id = started[0].agent_id
    assert agent_id and started[0].parent_agent is None
    assert finished[0].status == "completed" and finished[0].result == "one answer"
    child_turns = [e for e in w.events if isinstance(e, TurnFinished) and e.agent_id == agent_id]
    main_turns = [e for e in w.events if isinstance(e, TurnFinished) and e.agent_id is None]
    assert len(child_turns) == 1 and len(main_turns) == 2
    assert all(e.session_id == session.id for e in w.events)
    # The session's file holds the main conversation only; the child's is a sidechain.
    main_path = Path(session.transcript.path or "")
    main_lines = [r for r in read_transcript(main_path) if r["type"] in ("user", "assistant")]
    assert len(main_lines) == 4 and not any(r["isSidechain"] for r in main_lines)
    side = main_path.parent / session.id / "subagents" / f"agent-{agent_id}.jsonl"
    side_lines = [r for r in read_transcript(side) if r["type"] in ("user", "assistant")]
    assert len(side_lines) == 2
    assert all(r["isSidechain"] and r["agentId"] == agent_id for r in side_lines)
    assert all(r["sessionId"] == session.id for r in side_lines)


# ------------------------------------------------------------------- background


def _background_main(body: dict[str, Any]) -> Turn:
    """The main conversation of the background test: start, wait, read, finish."""
    messages = body["messages"]
    position = sum(1 for m in messages if m["role"] == "assistant")
    if position == 0:
        return Turn.call(task("bg child", run_in_background=True))
    if position == 1:
        started = text_of(results_in(body)[0])
        agent_id = re.search(r"background agent (\w+)", started)
        assert agent_id is not None, started
        return Turn.call(ToolCallSpec("TaskOutput", {"task_id": agent_id.group(1)}))
    if position == 2:
        return Turn.call(ToolCallSpec("Bash", {"command": "true"}))
    return Turn.say("main done")


async def test_a_background_sub_agent_returns_at_once_and_taskoutput_reads_it(
    tmp_path: Path,
) -> None:
    routes: dict[str, Sequence[Turn]] = {"bg child": [Turn.say("bg answer", delay_s=0.1)]}
    child = by_conversation(routes)

    def respond(body: dict[str, Any]) -> Turn:
        return _background_main(body) if "main" in str(body["messages"][0]) else child(body)

    async with world(tmp_path, routes, responder=respond) as w:
        _, result = await run_session(w, "main job", allowed_tools=["Bash(true)"])
    assert result.result == "main done"
    main = [r.body for r in w.server.requests if "main" in str(r.body["messages"][0])]
    started = text_of(results_in(main[1])[0])
    assert "Started background agent" in started and "bg answer" not in started
    output = text_of(results_in(main[2])[0])
    assert "Status: completed" in output and "bg answer" in output
    # TaskOutput read it: no completion notice is added after that.
    assert "<system-reminder>" not in str(main[3]["messages"][-1])


async def test_a_finished_background_sub_agent_is_announced_to_the_model(
    tmp_path: Path,
) -> None:
    def main_turns(body: dict[str, Any]) -> Turn:
        position = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if position == 0:
            return Turn.call(task("bg child", run_in_background=True))
        if position == 1:  # the child answers meanwhile
            return Turn.call(ToolCallSpec("Bash", {"command": "sleep 1.5"}))
        return Turn.say("main done")

    child = by_conversation({"bg child": [Turn.say("bg answer")]})

    def respond(body: dict[str, Any]) -> Turn:
        return main_turns(body) if "main" in str(body["messages"][0]) else child(body)

    async with world(tmp_path, {}, responder=respond) as w:
        _, result = await run_session(w, "main job", allowed_tools=["Bash(sleep:*)"])
    assert result.result == "main done"
    main = [r.body for r in w.server.requests if "main" in str(r.body["messages"][0])]
    last = main[2]["messages"][-1]["content"]
    reminders = [b["text"] for b in last if b.get("type") == "text"]
    assert len(reminders) == 1 and "<system-reminder>" in reminders[0]
    assert "completed" in reminders[0] and "bg answer" in reminders[0]
    assert last[0]["type"] == "tool_result"  # results first, as the API requires


# ---------------------------------------------------------------------- limits


async def test_a_task_call_beyond_the_maximum_depth_is_an_error_result(tmp_path: Path) -> None:
    routes = {
        "main job": [Turn.call(task("child level one")), Turn.say("main done")],
        "child level one": [Turn.call(task("grandchild")), Turn.say("child done")],
    }
    settings = Settings(subagents=SubagentSettings(max_depth=1))
    async with world(tmp_path, routes, settings) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "main done"
    assert w.requests_of("grandchild") == []  # never started
    [_, second] = w.requests_of("child level one")
    [refusal] = results_in(second)
    assert refusal["is_error"] and "subagents.maxDepth" in text_of(refusal)
    [_, main_last] = w.requests_of("main job")
    assert text_of(results_in(main_last)[0]) == "child done"


async def test_sub_agents_beyond_the_concurrency_limit_wait_for_a_slot(tmp_path: Path) -> None:
    slow = {"delay_s": 0.1}  # each answer takes 0.5 s
    names = ["one", "two", "three", "four"]
    routes: dict[str, Sequence[Turn]] = {
        "main job": [Turn.call(*(task(f"child {n}") for n in names)), Turn.say("main done")],
        **{f"child {n}": [Turn.say(f"{n} answer", **slow)] for n in names},
    }
    settings = Settings(subagents=SubagentSettings(max_concurrent=2))
    async with world(tmp_path, routes, settings) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "main done"
    asked = sorted(
        r.received_at for r in w.server.requests if _first_user_text(r.body).startswith("child")
    )
    assert len(asked) == 4
    # Two at once, then the other two once a slot was free (after a 0.5 s answer).
    assert asked[1] - asked[0] < 0.3 and asked[2] - asked[0] > 0.4
    [_, last] = w.requests_of("main job")
    assert [text_of(b) for b in results_in(last)] == [f"{n} answer" for n in names]


async def test_a_failing_sub_agent_is_an_error_result_and_its_sibling_finishes(
    tmp_path: Path,
) -> None:
    routes = {
        "main job": [Turn.call(task("child broken"), task("child fine")), Turn.say("main done")],
        "child broken": [Turn.fail(status=400, error_message="bad request from the model")],
        "child fine": [Turn.say("fine answer", delay_s=0.05)],
    }
    async with world(tmp_path, routes) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "main done"
    [_, last] = w.requests_of("main job")
    broken, fine = results_in(last)
    assert broken["is_error"] and "failed" in text_of(broken)
    assert not fine.get("is_error") and text_of(fine) == "fine answer"
    statuses = {e.agent_type + e.status for e in w.events if isinstance(e, SubagentFinished)}
    assert statuses == {"general-purposefailed", "general-purposecompleted"}


async def test_a_sub_agent_over_its_time_budget_is_stopped_with_an_error(tmp_path: Path) -> None:
    routes = {
        "main job": [Turn.call(task("child slow"), task("child quick")), Turn.say("main done")],
        "child slow": [Turn.say("too late", delay_s=1.0)],  # 5 s
        "child quick": [Turn.say("quick answer")],
    }
    settings = Settings(subagents=SubagentSettings(timeout_s=1.0))
    async with world(tmp_path, routes, settings) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "main done"
    [_, last] = w.requests_of("main job")
    slow, quick = results_in(last)
    assert slow["is_error"] and "subagents.timeoutS" in text_of(slow)
    assert text_of(quick) == "quick answer"


async def test_cancelling_the_parent_stops_its_sub_agents_and_their_processes(
    tmp_path: Path,
) -> None:
    marker = "4242.125"  # sleep's own command line shows it
    routes = {
        "main job": [Turn.call(task("child sleeper"), task("child other")), Turn.say("never")],
        "child sleeper": [Turn.call(ToolCallSpec("Bash", {"command": f"sleep {marker}"}))],
        "child other": [Turn.call(ToolCallSpec("Bash", {"command": f"sleep {marker}"}))],
    }
    async with world(tmp_path, routes) as w:
        async with w.runtime.open_session(
            cwd=w.project, model=MODEL, allowed_tools=["Bash(sleep:*)"]
        ) as session:
            outcome: list[Any] = []

            async def run() -> None:
                outcome.append(await session.run("main job"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run)
                with trio.fail_after(30):
                    while len(processes_with(marker)) < 2:
                        await trio.sleep(0.05)
                session.cancel()
            with trio.fail_after(10):
                while processes_with(marker):
                    await trio.sleep(0.05)
        assert outcome[0].stop_reason == "cancelled"
    assert processes_with(marker) == []
    finished = [e for e in w.events if isinstance(e, SubagentFinished)]
    assert finished == [] or all(e.status == "cancelled" for e in finished)
