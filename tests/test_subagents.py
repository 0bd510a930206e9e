"""Sub-agents end to end: the Task tool, through real sessions, against the fake model.

Every test scripts the main conversation and its sub-agents' conversations
with :func:`claw_runtime.testing.script.by_conversation` (a request is routed by
its first user message), runs a real session on a real runtime, and checks what
the model server received, the files on disk, the events and the processes.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime import hookimpl, tool
from claw_runtime.config.settings import Settings, SubagentSettings
from claw_runtime.events import Event, SubagentFinished, SubagentStarted, TurnFinished
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.session import Session
from claw_runtime.sessions.transcript import read_transcript
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer
from claw_runtime.testing.script import _first_user_text, by_conversation
from claw_runtime.tooling import SessionState

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


def settings_from(data: dict[str, Any]) -> Settings:
    """Settings from a settings file's JSON shape."""
    from claw_runtime.config.settings import _converter

    settings: Settings = _converter().structure(data, Settings)
    return settings


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


def _three_children_at_once(slow: dict[str, Any]) -> dict[str, list[Turn]]:
    """Routes: the main job calls three ``Task`` at once; each child answers ``slow``ly."""
    return {
        "main job": [
            Turn.call(task("child alpha"), task("child beta"), task("child gamma")),
            Turn.say("all done"),
        ],
        "child alpha": [Turn.say("alpha answer", **slow)],
        "child beta": [Turn.say("beta answer", **slow)],
        "child gamma": [Turn.say("gamma answer", **slow)],
    }


async def test_task_calls_in_one_message_run_concurrently(tmp_path: Path) -> None:
    """Three sub-agents whose answers each take 1 s overlap: all three are asked at once.

    (Real time: a session under trio's autojump clock stalls before its first
    request, so overlap is shown with the times the fake server received each request.)
    """
    slow = {"delay_s": 0.2}  # 5 pauses between the 6 events of an answer: 1 s each
    routes = _three_children_at_once(slow)
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


async def test_task_calls_overlap_on_trio_s_clock(tmp_path: Path, mock_clock: Any) -> None:
    """The same on trio's mock clock: three sub-agents whose answers take 10 s each take
    10 s of trio time together, not 30.

    The clock jumps only once the process has been idle for 20 ms of real time (the
    ``autojump_clock`` fixture's threshold of 0 would jump past every deadline while
    a worker thread reads the project's files).
    """
    mock_clock.autojump_threshold = 0.02
    slow = {"delay_s": 2.0}  # 5 pauses of 2 s between the 6 events of an answer
    routes = _three_children_at_once(slow)
    async with world(tmp_path, routes) as w:
        start = trio.current_time()
        _, result = await run_session(w, "main job")
        elapsed = trio.current_time() - start
    assert result.result == "all done"
    assert 10 <= elapsed < 15, f"three 10 s sub-agents took {elapsed:.1f} s of trio time"


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


# --------------------------------------------------------------------- plugins


def crashy_plugins(seen: list[str]) -> list[tuple[str, object]]:
    @tool(name="Peek", read_only=True)
    async def peek(key: str) -> str:
        """Look at something."""
        return f"peeked {key}"

    class Tools:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(peek)

    class Crashy:
        @hookimpl
        def pre_tool_use(self, call: ToolCall, session: SessionState) -> None:
            if call.name != "Peek":
                return
            seen.append(call.input["key"])
            if call.input["key"] == "boom":
                raise RuntimeError("the plugin broke")

    return [("peek-tools", Tools()), ("crashy", Crashy())]


def peek(key: str) -> ToolCallSpec:
    return ToolCallSpec("Peek", {"key": key})


async def test_a_plugin_crashing_inside_one_sub_agent_is_disabled_there_only(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    routes = {
        "main job": [
            Turn.call(task("child crash"), task("child calm")),
            Turn.call(peek("main")),
            Turn.say("main done"),
        ],
        "child crash": [Turn.call(peek("boom")), Turn.call(peek("after")), Turn.say("crash ok")],
        # Asks only once the other child's plugin has crashed (its answer takes 1 s).
        "child calm": [Turn.call(peek("calm"), delay_s=0.2), Turn.say("calm ok")],
    }
    async with world(tmp_path, routes, plugins=crashy_plugins(seen)) as w:
        _, result = await run_session(w, "main job")
        assert w.runtime.host.is_active("crashy")
        [error] = [e for e in w.runtime.host.errors if e.plugin == "crashy"]
    assert result.result == "main done"
    assert seen.index("boom") < seen.index("calm")
    assert "after" not in seen  # skipped inside the child where it crashed
    assert "calm" in seen and "main" in seen  # still called everywhere else
    assert "sub-agent" in error.reason and "the plugin broke" in error.reason
    [_, after_crash, _] = w.requests_of("child crash")
    assert text_of(results_in(after_crash)[0]) == "peeked boom"


# -------------------------------------------------------------------- worktrees


def git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


async def test_worktree_isolation_keeps_parallel_edits_on_their_own_branches(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "file.txt").write_text("base\n")
    git(project, "add", "file.txt")
    git(project, "commit", "-q", "-m", "base")

    def edit(text: str) -> list[Turn]:
        read = ToolCallSpec("Read", {"file_path": "file.txt"})
        change = {"file_path": "file.txt", "old_string": "base", "new_string": text}
        return [Turn.call(read), Turn.call(ToolCallSpec("Edit", change))]

    routes = {
        "main job": [
            Turn.call(
                task("child A edits", isolation="worktree"),
                task("child B edits", isolation="worktree"),
                task("child C reads", isolation="worktree"),
            ),
            Turn.say("main done"),
        ],
        "child A edits": [*edit("from-A"), Turn.say("A done")],
        "child B edits": [*edit("from-B"), Turn.say("B done")],
        "child C reads": [Turn.say("C changed nothing")],
    }
    async with world(tmp_path, routes) as w:
        _, result = await run_session(w, "main job", permission_mode="acceptEdits")
    assert result.result == "main done"
    assert (project / "file.txt").read_text() == "base\n"
    assert git(project, "status", "--porcelain") == ""
    [_, last] = w.requests_of("main job")
    texts = [text_of(b) for b in results_in(last)]
    branches = [re.search(r"branch (claw/agent-\w+)", t) for t in texts]
    assert branches[0] and branches[1] and branches[2] is None, texts
    contents = {git(project, "show", f"{b.group(1)}:file.txt") for b in branches[:2] if b}
    assert contents == {"from-A\n", "from-B\n"}
    listed = git(project, "branch", "--format=%(refname:short)", "--list", "claw/*").split()
    assert sorted(listed) == sorted(b.group(1) for b in branches[:2] if b)  # C's was removed
    assert len(git(project, "worktree", "list").splitlines()) == 3


async def test_worktree_isolation_outside_a_repository_is_an_error_result(
    tmp_path: Path,
) -> None:
    routes = {
        "main job": [Turn.call(task("child wt", isolation="worktree")), Turn.say("main done")],
    }
    async with world(tmp_path, routes) as w:
        await run_session(w, "main job")
    [_, last] = w.requests_of("main job")
    [block] = results_in(last)
    assert block["is_error"] and "git repository" in text_of(block)


# ------------------------------------------------------------------------ hooks


def command(line: str) -> dict[str, str]:
    return {"type": "command", "command": line}


async def test_subagent_start_and_stop_command_hooks_get_claude_code_payloads(
    tmp_path: Path,
) -> None:
    log = tmp_path / "hooks.jsonl"
    context = '{"hookSpecificOutput": {"additionalContext": "the magic word is plover"}}'
    hooks = {
        "SubagentStart": [
            {
                "matcher": "Explore",
                "hooks": [
                    {"type": "command", "command": f"cat >> {log}; echo >> {log}; echo '{context}'"}
                ],
            }
        ],
        "SubagentStop": [{"hooks": [command(f"cat >> {log}; echo >> {log}")]}],
        "PreToolUse": [{"matcher": "Agent", "hooks": [command(f"echo agent-hook >> {log}")]}],
    }
    settings = settings_from({"hooks": hooks})
    routes = {
        "main job": [Turn.call(task("child explorer", agent="Explore")), Turn.say("main done")],
        "child explorer": [Turn.say("explored")],
    }
    async with world(tmp_path, routes, settings) as w:
        session, _ = await run_session(w, "main job")
    lines = log.read_text().splitlines()
    assert lines[0] == "agent-hook"  # a matcher naming Agent matches the Task tool
    start, stop = (json.loads(line) for line in lines[1:] if line.strip())
    assert start["hook_event_name"] == "SubagentStart" and start["agent_type"] == "Explore"
    assert stop["hook_event_name"] == "SubagentStop" and stop["agent_id"] == start["agent_id"]
    assert stop["last_assistant_message"] == "explored"
    side = Path(stop["agent_transcript_path"])
    assert side.name == f"agent-{start['agent_id']}.jsonl" and side.exists()
    assert stop["transcript_path"] == str(session.transcript.path)
    [body] = w.requests_of("child explorer")
    assert "the magic word is plover" in str(body["system"])
    assert start["permission_mode"] == "plan"  # Explore's own mode


# ---------------------------------------------------------------- Agent alias


async def test_agent_is_the_task_tool_and_task_rules_name_agent_types(tmp_path: Path) -> None:
    settings = settings_from({"permissions": {"deny": ["Agent(Plan)"]}})
    routes = {
        "main job": [
            Turn.call(
                ToolCallSpec("Agent", {"description": "x", "prompt": "child via agent"}),
                task("child planner", agent="Plan"),
            ),
            Turn.say("main done"),
        ],
        "child via agent": [Turn.say("agent answer")],
    }
    async with world(tmp_path, routes, settings) as w:
        await run_session(w, "main job")
    [first, _] = w.requests_of("main job")
    names = [t["name"] for t in first["tools"]]
    assert "Task" in names and "Agent" not in names  # offered once
    [_, last] = w.requests_of("main job")
    via_agent, planner = results_in(last)
    assert text_of(via_agent) == "agent answer"
    assert planner["is_error"] and "Agent(Plan)" in text_of(planner)
    assert w.requests_of("child planner") == []


async def test_python_hooks_see_sub_agents_and_plugins_register_agent_types(
    tmp_path: Path,
) -> None:
    from claw_runtime.agents import AgentDefinition

    calls: list[tuple[str, str, str]] = []

    class Plugin:
        @hookimpl
        def register_agents(self, register: Callable[[AgentDefinition], None]) -> None:
            register(
                AgentDefinition(
                    name="py-agent",
                    description="A plugin's reader.",
                    system_prompt="You are the plugin's reader.",
                    tools=("Read",),
                )
            )

        @hookimpl
        def subagent_start(self, agent: str, agent_id: str, description: str) -> str:
            calls.append(("start", agent, description))
            return "context from a plugin"

        @hookimpl
        def subagent_stop(self, agent: str, result: str, transcript_path: str) -> None:
            calls.append(("stop", agent, result))

    routes = {
        "main job": [Turn.call(task("child py", agent="py-agent")), Turn.say("main done")],
        "child py": [Turn.say("py answer")],
    }
    async with world(tmp_path, routes, plugins=[("agent-plugin", Plugin())]) as w:
        await run_session(w, "main job")
    assert calls == [("start", "py-agent", "child py"), ("stop", "py-agent", "py answer")]
    [body] = w.requests_of("child py")
    assert [t["name"] for t in body["tools"]] == ["Read"]
    system = str(body["system"])
    assert "You are the plugin's reader." in system and "context from a plugin" in system
    [first, _] = w.requests_of("main job")
    assert "- py-agent: A plugin's reader." in str(first["system"])  # the model is told


# ------------------------------------------------------------ approvals, nesting


async def test_concurrent_sub_agents_ask_for_approval_one_at_a_time(tmp_path: Path) -> None:
    from claw_runtime.loop import Approval

    asked: list[str] = []
    active = [0, 0]  # now, most at once

    async def approve(call: ToolCall, reason: str) -> Approval:
        active[0] += 1
        active[1] = max(active)
        asked.append(reason)
        await trio.sleep(0.2)
        active[0] -= 1
        return Approval(allowed=True)

    def touch(name: str) -> Turn:
        return Turn.call(ToolCallSpec("Bash", {"command": f"touch {name}"}))

    routes = {
        "main job": [Turn.call(task("child one"), task("child two")), Turn.say("main done")],
        "child one": [touch("one"), Turn.say("one done")],
        "child two": [touch("two"), Turn.say("two done")],
    }
    async with world(tmp_path, routes) as w:
        _, result = await run_session(w, "main job", approver=approve)
    assert result.result == "main done"
    assert len(asked) == 2 and active[1] == 1
    assert all(reason.startswith("[sub-agent general-purpose]") for reason in asked)
    assert (w.project / "one").exists() and (w.project / "two").exists()


async def test_a_nested_sub_agents_events_name_its_parent(tmp_path: Path) -> None:
    routes = {
        "main job": [Turn.call(task("child outer")), Turn.say("main done")],
        "child outer": [Turn.call(task("grandchild inner")), Turn.say("outer done")],
        "grandchild inner": [Turn.say("inner done")],
    }
    async with world(tmp_path, routes) as w:
        _, result = await run_session(w, "main job")
    assert result.result == "main done"
    started = {e.description: e for e in w.events if isinstance(e, SubagentStarted)}
    outer, inner = started["child outer"], started["grandchild inner"]
    assert outer.parent_agent is None and inner.parent_agent == outer.agent_id
    inner_turns = [
        e for e in w.events if isinstance(e, TurnFinished) and e.agent_id == inner.agent_id
    ]
    assert len(inner_turns) == 1 and inner_turns[0].parent_agent == outer.agent_id
    [_, outer_last] = w.requests_of("child outer")
    assert text_of(results_in(outer_last)[0]) == "inner done"


async def test_the_terminal_shows_sub_agent_steps_not_their_text(tmp_path: Path) -> None:
    import io

    from claw_runtime.cli.live import LiveRenderer

    routes = {
        "main job": [Turn.call(task("child one", agent="Explore")), Turn.say("main answer")],
        "child one": [Turn.call(ToolCallSpec("Glob", {"pattern": "*.md"})), Turn.say("secret")],
    }
    async with world(tmp_path, routes) as w:
        await run_session(w, "main job")
    out = io.StringIO()
    renderer = LiveRenderer(out, plain=True)
    for event in w.events:
        renderer.handle(event)
    shown = out.getvalue()
    [started] = [e for e in w.events if isinstance(e, SubagentStarted)]
    tag = f"[{(started.agent_id or '')[:6]}]"
    assert f"↳ {tag} Explore: child one (started)" in shown
    assert f"↳ {tag} Glob(*.md)" in shown
    assert f"↳ {tag} Explore completed (2 turns)" in shown
    assert "main answer" in shown and "secret" not in shown.replace("⎿ secret", "")
