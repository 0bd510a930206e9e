"""The agent loop end to end: real HTTP to the fake model server on loopback.

Each test scripts the model's turns, runs :class:`Agent` on a real runtime
(plugins, scheduler, bus, httpx) and checks what the tools saw, what went
back to the model, and what the run reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from claw_runtime import hookimpl, tool
from claw_runtime.config.settings import Settings
from claw_runtime.hooks.decisions import (
    PostToolUseOutcome,
    PreToolUseDecision,
    PromptDecision,
    ToolCall,
)
from claw_runtime.loop import Agent, AgentOptions, RunResult
from claw_runtime.models import ToolResultBlock
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.providers.pricing import ModelPrice
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.transcript import Transcript, read_transcript
from claw_runtime.testing.fake_server import FakeModelServer, open_fake_model_server
from claw_runtime.testing.script import Script, ToolCallSpec, Turn

MODEL = "claude-sonnet-4-5"


class ToolLog:
    """Records what test tools saw, with trio time stamps."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.active = 0
        self.max_active = 0


def tools_plugin(log: ToolLog) -> object:
    @tool(name="Peek", read_only=True)
    async def peek(key: str, wait: float = 0.0) -> str:
        """Look at something (read-only)."""
        log.active += 1
        log.max_active = max(log.max_active, log.active)
        log.calls.append((f"peek:{key}", trio.current_time()))
        await trio.sleep(wait)
        log.active -= 1
        return f"value of {key}"

    @tool(name="Poke")
    async def poke(key: str, wait: float = 0.0) -> str:
        """Change something (mutating)."""
        log.active += 1
        log.max_active = max(log.max_active, log.active)
        log.calls.append((f"poke:{key}", trio.current_time()))
        await trio.sleep(wait)
        log.active -= 1
        return f"poked {key}"

    @tool(name="Hang", read_only=True)
    async def hang() -> str:
        """Never returns."""
        log.calls.append(("hang", trio.current_time()))
        await trio.sleep_forever()
        return ""

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            for t in (peek, poke, hang):
                register(t)

    return Plugin()


@attrs.define
class Harness:
    server: FakeModelServer
    runtime: Runtime
    log: ToolLog
    tmp_path: Path

    def agent(self, **option_changes: Any) -> Agent:
        name, settings = self.runtime.provider_settings("anthropic", model=MODEL)
        # The default mode, as users run: the test tools that change things are allowed by rule.
        option_changes.setdefault(
            "permissions",
            PermissionPolicy.from_rules("default", allow=["Poke", "Hang"], project=self.tmp_path),
        )
        options = AgentOptions(model=MODEL, **option_changes)
        session = self.runtime.new_session(self.tmp_path)
        return Agent(
            provider=self.runtime.make_provider(name, settings),
            tools=self.runtime.registry.tools,
            host=self.runtime.host,
            session=session,
            options=options,
            scheduler=self.runtime.scheduler,
            publish=self.runtime.publish,
            transcript=Transcript(self.tmp_path / "transcript.jsonl"),
            http=self.runtime.http,
        )

    async def run(self, prompt: str = "go", **option_changes: Any) -> tuple[Agent, RunResult]:
        agent = self.agent(**option_changes)
        with trio.fail_after(60):
            result = await agent.run(prompt)
        return agent, result

    def sent_messages(self, request_index: int) -> list[dict[str, Any]]:
        body: dict[str, Any] = self.server.requests[request_index].body
        messages: list[dict[str, Any]] = body["messages"]
        return messages


@pytest.fixture
def make_harness(tmp_path: Path) -> Callable[..., Any]:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def make(
        turns: Sequence[Turn], extra_plugins: Sequence[tuple[str, object]] = ()
    ) -> AsyncIterator[Harness]:
        log = ToolLog()
        plugins = [("test-tools", tools_plugin(log)), *extra_plugins]
        async with open_fake_model_server(Script(list(turns))) as server:
            environ = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
            async with open_runtime(
                Settings(), environ=environ, no_plugins=True, extra_plugins=plugins
            ) as runtime:
                yield Harness(server, runtime, log, tmp_path)

    return make


def tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message["content"] if b["type"] == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content)


async def test_text_only_turn_ends_the_run(make_harness: Any) -> None:
    async with make_harness([Turn.say("Hello there.")]) as h:
        agent, result = await h.run("hi")
    assert result.result == "Hello there."
    assert (result.is_error, result.num_turns, result.stop_reason) == (False, 1, "end_turn")
    assert result.usage.output_tokens > 0
    assert result.total_cost_usd > 0  # a priced model
    assert len(h.server.requests) == 1
    assert [m.role for m in agent.messages] == ["user", "assistant"]


async def test_tool_results_go_back_to_the_model(make_harness: Any) -> None:
    turns = [Turn.call(ToolCallSpec("Peek", {"key": "a"})), Turn.say("done")]
    async with make_harness(turns) as h:
        _, result = await h.run()
    assert result.num_turns == 2 and result.result == "done"
    second = h.sent_messages(1)
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    [block] = tool_results(second[-1])
    tool_use = next(b for b in second[1]["content"] if b["type"] == "tool_use")
    assert block["tool_use_id"] == tool_use["id"]
    assert result_text(block) == "value of a"
    assert not block.get("is_error", False)


async def test_read_only_calls_run_concurrently(make_harness: Any, autojump_clock: Any) -> None:
    calls = [ToolCallSpec("Peek", {"key": k, "wait": 5.0}) for k in "abc"]
    async with make_harness([Turn.call(*calls), Turn.say("ok")]) as h:
        start = trio.current_time()
        await h.run()
        elapsed = trio.current_time() - start
    assert h.log.max_active == 3
    assert elapsed < 6  # three 5 s calls overlapped


async def test_mutating_calls_run_one_at_a_time_in_model_order(
    make_harness: Any, autojump_clock: Any
) -> None:
    calls = [
        ToolCallSpec("Poke", {"key": "1", "wait": 3.0}),
        ToolCallSpec("Peek", {"key": "2", "wait": 1.0}),
        ToolCallSpec("Peek", {"key": "3", "wait": 1.0}),
        ToolCallSpec("Poke", {"key": "4", "wait": 0.5}),
    ]
    async with make_harness([Turn.call(*calls), Turn.say("ok")]) as h:
        await h.run()
    order = [name for name, _ in h.log.calls]
    assert order[0] == "poke:1" and order[-1] == "poke:4"
    assert set(order[1:3]) == {"peek:2", "peek:3"}
    started = dict(h.log.calls)
    assert started["peek:2"] >= started["poke:1"] + 3  # waited for the mutating call
    assert started["poke:4"] >= started["peek:2"] + 1
    assert h.log.max_active == 2  # only the two peeks overlapped
    results = tool_results(h.sent_messages(1)[-1])
    assert [result_text(r) for r in results] == ["poked 1", "value of 2", "value of 3", "poked 4"]


async def test_unknown_tool_and_bad_input_become_error_results(make_harness: Any) -> None:
    turns = [
        Turn.call(ToolCallSpec("Nope", {}), ToolCallSpec("Peek", {"key": 7})),
        Turn.say("ok"),
    ]
    async with make_harness(turns) as h:
        _, result = await h.run()
    assert not result.is_error
    unknown, bad = tool_results(h.sent_messages(1)[-1])
    assert unknown["is_error"] and "No such tool: Nope" in result_text(unknown)
    assert bad["is_error"] and "expected a string" in result_text(bad)


async def test_max_turns_stops_the_run(make_harness: Any) -> None:
    turns = [Turn.call(ToolCallSpec("Peek", {"key": str(i)})) for i in range(5)]
    async with make_harness(turns) as h:
        _, result = await h.run(max_turns=2)
    assert (result.stop_reason, result.num_turns, result.is_error) == ("max_turns", 2, True)
    assert len(h.server.requests) == 2


async def test_token_budget_stops_the_run(make_harness: Any) -> None:
    turns = [
        Turn.call(ToolCallSpec("Peek", {"key": str(i)}), input_tokens=400, output_tokens=100)
        for i in range(5)
    ]
    async with make_harness(turns) as h:
        _, result = await h.run(max_budget_tokens=1200)
    assert (result.stop_reason, result.num_turns) == ("max_budget", 3)
    assert "budget of 1,200 tokens was reached (used 1,500)" in result.result


async def test_budget_stops_the_run(make_harness: Any) -> None:
    turns = [Turn.call(ToolCallSpec("Peek", {"key": str(i)})) for i in range(5)]
    pricey = {MODEL: ModelPrice(input=1e6, output=1e6, cache_write=1e6, cache_read=1e6)}
    async with make_harness(turns) as h:
        _, result = await h.run(max_budget_usd=0.01, prices=pricey)
    assert result.stop_reason == "max_budget" and result.num_turns == 1
    assert result.total_cost_usd >= 0.01


async def test_truncated_stream_never_runs_its_tool_and_is_retried(
    make_harness: Any, autojump_clock: Any
) -> None:
    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "ghost"})).with_fault(truncate_after_events=4),
        Turn.call(ToolCallSpec("Poke", {"key": "real"})),
        Turn.say("ok"),
    ]
    async with make_harness(turns) as h:
        _, result = await h.run()
    assert [name for name, _ in h.log.calls] == ["poke:real"]
    assert result.result == "ok" and len(h.server.requests) == 3


async def test_error_event_after_200_never_runs_its_tool(
    make_harness: Any, autojump_clock: Any
) -> None:
    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "ghost"})).with_fault(
            error_event="overloaded_error"
        ),
        Turn.say("recovered"),
    ]
    async with make_harness(turns) as h:
        _, result = await h.run()
    assert h.log.calls == []
    assert result.result == "recovered"


async def test_max_tokens_mid_tool_call_is_dropped_and_the_run_goes_on(make_harness: Any) -> None:
    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "x"}), stop_reason="max_tokens"),
        Turn.say("ok"),
    ]
    async with make_harness(turns) as h:
        agent, result = await h.run()
    assert h.log.calls == []  # the cut-off call never ran
    assert (result.result, result.is_error, result.stop_reason) == ("ok", False, "end_turn")
    assert "cut off" in agent.messages[-2].text
    assert all(not m.tool_uses for m in agent.messages)  # the half call was not kept


async def test_cancellation_gives_every_call_an_aborted_result(
    make_harness: Any, autojump_clock: Any, tmp_path: Path
) -> None:
    turns = [Turn.call(ToolCallSpec("Hang", {}), ToolCallSpec("Peek", {"key": "a", "wait": 100.0}))]
    async with make_harness(turns) as h:
        agent = h.agent()
        finished: list[RunResult] = []
        with trio.move_on_after(10) as scope:
            finished.append(await agent.run("go"))
    # The run really was cancelled mid-tools (it did not return on its own)...
    assert scope.cancelled_caught and finished == []
    # ...after both calls started, and the partial outcome says so.
    assert sorted(name for name, _ in h.log.calls) == ["hang", "peek:a"]
    result = agent.result("cancelled", is_error=True)
    assert (result.num_turns, result.stop_reason) == (1, "cancelled")
    last = agent.messages[-1]
    assert last.role == "user"
    assert [b.text for b in last.content] == [
        "Tool call aborted: the run was cancelled before it finished."
    ] * 2
    records = read_transcript(tmp_path / "transcript.jsonl")
    kinds = [r["message"]["role"] for r in records if r["type"] in ("user", "assistant")]
    assert kinds == ["user", "assistant", "user"]  # the assistant message was recorded first


async def test_headless_default_mode_denies_mutating_tools_and_counts_it(make_harness: Any) -> None:
    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "x"}), ToolCallSpec("Peek", {"key": "y"})),
        Turn.say("ok"),
    ]
    async with make_harness(turns) as h:
        policy = PermissionPolicy.from_rules("default", project=h.tmp_path)
        _, result = await h.run(permissions=policy)
    assert [name for name, _ in h.log.calls] == ["peek:y"]
    [denial] = result.permission_denials
    assert denial.tool_name == "Poke" and "--allowed-tools Poke" in denial.reason
    poke_result = tool_results(h.sent_messages(1)[-1])[0]
    assert poke_result["is_error"] and "not granted" in result_text(poke_result)


async def test_hooks_can_deny_rewrite_and_add_context(make_harness: Any) -> None:
    class Guard:
        @hookimpl
        async def pre_tool_use(self, call: ToolCall) -> PreToolUseDecision | None:
            if call.input.get("key") == "secret":
                return PreToolUseDecision(decision="deny", reason="secrets are off limits")
            if call.input.get("key") == "old":
                return PreToolUseDecision(updated_input={"key": "new"})
            return None

        @hookimpl
        def post_tool_use(self, call: ToolCall, result: ToolResultBlock) -> PostToolUseOutcome:
            return PostToolUseOutcome(additional_context=f"[checked {call.name}]")

        @hookimpl
        def user_prompt_submit(self, prompt: str) -> PromptDecision:
            return PromptDecision(additional_context="(the user prefers short answers)")

    turns = [
        Turn.call(ToolCallSpec("Peek", {"key": "secret"}), ToolCallSpec("Peek", {"key": "old"})),
        Turn.say("ok"),
    ]
    async with make_harness(turns, extra_plugins=[("guard", Guard())]) as h:
        _, result = await h.run("question")
    first_prompt = h.sent_messages(0)[0]
    assert "(the user prefers short answers)" in str(first_prompt["content"])
    denied, rewritten = tool_results(h.sent_messages(1)[-1])
    assert denied["is_error"] and result_text(denied) == "secrets are off limits"
    assert result_text(rewritten) == "value of new[checked Peek]"
    assert [name for name, _ in h.log.calls] == ["peek:new"]
    assert result.permission_denials[0].reason == "secrets are off limits"


async def test_user_prompt_submit_can_block(make_harness: Any) -> None:
    class Blocker:
        @hookimpl
        def user_prompt_submit(self, prompt: str) -> PromptDecision:
            return PromptDecision(block=True, reason="no prompts on Fridays")

    async with make_harness([Turn.say("never")], extra_plugins=[("blocker", Blocker())]) as h:
        _, result = await h.run()
    # A clean, explained end, as in Claude Code: not an error.
    assert (result.is_error, result.stop_reason, result.result) == (
        False,
        "blocked",
        "no prompts on Fridays",
    )
    assert h.server.requests == []


async def test_stop_hook_can_send_the_model_back_to_work(make_harness: Any) -> None:
    class Insist:
        def __init__(self) -> None:
            self.times = 0

        @hookimpl
        def stop(self) -> str | None:
            self.times += 1
            return "the tests still fail" if self.times == 1 else None

    async with make_harness(
        [Turn.say("done?"), Turn.say("now done")], extra_plugins=[("insist", Insist())]
    ) as h:
        _, result = await h.run()
    assert result.result == "now done" and result.num_turns == 2
    assert h.sent_messages(1)[-1]["content"][0]["text"] == "the tests still fail"


async def test_assistant_message_is_in_the_transcript_before_its_tool_runs(
    make_harness: Any, tmp_path: Path
) -> None:
    seen_in_transcript: list[bool] = []

    class Spy:
        @hookimpl
        def pre_tool_use(self, call: ToolCall) -> None:
            records = read_transcript(tmp_path / "transcript.jsonl")
            roles = [r["message"]["role"] for r in records if r["type"] in ("user", "assistant")]
            seen_in_transcript.append(roles[-1] == "assistant")

    turns = [Turn.call(ToolCallSpec("Peek", {"key": "a"})), Turn.say("ok")]
    async with make_harness(turns, extra_plugins=[("spy", Spy())]) as h:
        await h.run()
    assert seen_in_transcript == [True]


async def test_transcripts_mask_secrets(make_harness: Any, tmp_path: Path) -> None:
    key = "sk-ant-api03-" + "Z" * 40
    async with make_harness([Turn.say(f"your key is {key}")]) as h:
        await h.run(f"use Bearer {'T' * 30} and {key}")
    text = (tmp_path / "transcript.jsonl").read_text()
    assert key not in text and "T" * 30 not in text
    assert "sk-ant-***" in text and "Bearer ***" in text


async def test_a_permission_prompt_notifies_and_the_answer_decides(make_harness: Any) -> None:
    from claw_runtime.loop import Approval

    notes: list[str] = []

    class Notify:
        @hookimpl
        def notification(self, message: str) -> None:
            notes.append(message)

    asked: list[str] = []

    async def approver(call: ToolCall, reason: str) -> Approval:
        asked.append(call.input["key"])
        return Approval(allowed=call.input["key"] == "ok", reason="not this one")

    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "ok"}), ToolCallSpec("Poke", {"key": "no"})),
        Turn.say("done"),
    ]
    async with make_harness(turns, extra_plugins=[("notify", Notify())]) as h:
        agent = h.agent(permissions=PermissionPolicy.from_rules("default", project=h.tmp_path))
        agent.approver = approver
        await agent.run("go")
    assert asked == ["ok", "no"]
    assert notes == ["claw needs your permission to use Poke"] * 2
    assert [name for name, _ in h.log.calls] == ["poke:ok"]
    denied = tool_results(h.sent_messages(1)[-1])[1]
    assert result_text(denied) == "The user denied this Poke call: not this one"
