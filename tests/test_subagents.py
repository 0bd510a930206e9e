"""Sub-agents end to end: the Task tool, through real sessions, against the fake model.

Every test scripts the main conversation and its sub-agents' conversations
with :func:`claw_runtime.testing.script.by_conversation` (a request is routed by
its first user message), runs a real session on a real runtime, and checks what
the model server received, the files on disk, the events and the processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.events import Event, SubagentFinished, SubagentStarted, TurnFinished
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.session import Session
from claw_runtime.sessions.transcript import read_transcript
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer
from claw_runtime.testing.script import by_conversation

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
        from claw_runtime.testing.script import _first_user_text

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
