"""Hooks that answer nonsense, through the real loop: reported once, ignored, never fatal.

A malformed answer is logged once per (plugin, hook) as ``plugin answer
ignored``; the run completes and later tool calls work. A ``pre_tool_use``
answer claw cannot understand denies that call (a guard fails closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from structlog.testing import capture_logs

from claw_runtime.config.settings import Settings
from claw_runtime.hooks.decisions import PostToolUseOutcome, PreToolUseDecision, ToolCall
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.loop import Agent, AgentOptions, RunResult
from claw_runtime.models import ToolResultBlock
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.tooling import tool

MODEL = "claude-sonnet-4-5"


def peek_plugin(seen: list[str]) -> object:
    @tool(name="Peek", read_only=True)
    async def peek(key: str) -> str:
        """Look at something."""
        seen.append(key)
        return f"value of {key}"

    @tool(name="Boom", read_only=True)
    async def boom() -> str:
        """Fails after doing its work."""
        seen.append("boom")
        raise RuntimeError("broke after the work was done")

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(peek)
            register(boom)

    return Plugin()


@asynccontextmanager
async def running(
    turns: Sequence[Turn], plugins: Sequence[tuple[str, object]]
) -> AsyncIterator[tuple[Runtime, Any]]:
    async with open_fake_model_server(Script(list(turns))) as server:
        environ = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
        async with open_runtime(
            Settings(), environ=environ, no_plugins=True, extra_plugins=plugins
        ) as runtime:
            yield runtime, server


async def run_agent(runtime: Runtime, tmp_path: Path) -> tuple[Agent, RunResult]:
    name, settings = runtime.provider_settings("anthropic", model=MODEL)
    agent = Agent(
        provider=runtime.make_provider(name, settings),
        tools=runtime.registry.tools,
        host=runtime.host,
        session=runtime.new_session(tmp_path),
        options=AgentOptions(
            model=MODEL, permissions=PermissionPolicy.from_rules("default", project=tmp_path)
        ),
        scheduler=runtime.scheduler,
        publish=runtime.publish,
        http=runtime.http,
    )
    with trio.fail_after(30):
        result = await agent.run("go")
    return agent, result


def results_of(agent: Agent) -> list[ToolResultBlock]:
    return [
        block
        for message in agent.messages
        if message.role == "user"
        for block in message.content
        if isinstance(block, ToolResultBlock)
    ]


def bad_hook(kind: str) -> tuple[str, object]:
    """A plugin whose ``kind`` hook answers malformed for key "bad" (and always, for prompts)."""

    class Bad:
        pass

    def is_bad(call: ToolCall) -> bool:
        return call.input.get("key") == "bad"

    if kind == "unknown_decision":

        @hookimpl
        def pre_tool_use(call: ToolCall) -> Any:
            return PreToolUseDecision(decision="maybe") if is_bad(call) else None  # type: ignore[arg-type]

        Bad.pre_tool_use = staticmethod(pre_tool_use)  # type: ignore[attr-defined]
    elif kind == "updated_input_not_dict":

        @hookimpl
        async def pre_tool_use(call: ToolCall) -> Any:
            return PreToolUseDecision(updated_input="key=x") if is_bad(call) else None  # type: ignore[arg-type]

        Bad.pre_tool_use = staticmethod(pre_tool_use)  # type: ignore[attr-defined]
    elif kind == "pre_tool_use_wrong_type":

        @hookimpl
        def pre_tool_use(call: ToolCall) -> Any:
            return "deny" if is_bad(call) else None

        Bad.pre_tool_use = staticmethod(pre_tool_use)  # type: ignore[attr-defined]
    elif kind == "replace_result_not_block":

        @hookimpl
        def post_tool_use(call: ToolCall) -> Any:
            return PostToolUseOutcome(replace_result="replaced!") if is_bad(call) else None  # type: ignore[arg-type]

        Bad.post_tool_use = staticmethod(post_tool_use)  # type: ignore[attr-defined]
    elif kind == "additional_context_not_str":

        @hookimpl
        async def post_tool_use(call: ToolCall) -> Any:
            return PostToolUseOutcome(additional_context=42) if is_bad(call) else None  # type: ignore[arg-type]

        Bad.post_tool_use = staticmethod(post_tool_use)  # type: ignore[attr-defined]
    elif kind == "stop_list":

        @hookimpl
        def stop() -> Any:
            return ["keep", "going"]

        Bad.stop = staticmethod(stop)  # type: ignore[attr-defined]
    elif kind == "prompt_int":

        @hookimpl
        def user_prompt_submit(prompt: str) -> Any:
            return 7

        Bad.user_prompt_submit = staticmethod(user_prompt_submit)  # type: ignore[attr-defined]
    else:  # pragma: no cover
        raise AssertionError(kind)
    return f"bad-{kind}", Bad()


HOOK_OF = {
    "unknown_decision": "pre_tool_use",
    "updated_input_not_dict": "pre_tool_use",
    "pre_tool_use_wrong_type": "pre_tool_use",
    "replace_result_not_block": "post_tool_use",
    "additional_context_not_str": "post_tool_use",
    "stop_list": "stop",
    "prompt_int": "user_prompt_submit",
}

ONE_RUN = [
    Turn.call(ToolCallSpec("Peek", {"key": "bad"})),
    Turn.call(ToolCallSpec("Peek", {"key": "bad"})),
    Turn.call(ToolCallSpec("Peek", {"key": "good"})),
    Turn.say("done"),
]


@pytest.mark.parametrize("kind", sorted(HOOK_OF))
async def test_a_malformed_answer_is_reported_once_and_never_breaks_the_run(
    kind: str, tmp_path: Path
) -> None:
    seen: list[str] = []
    plugin_name, plugin = bad_hook(kind)
    hook = HOOK_OF[kind]
    with capture_logs() as logs:
        async with running(ONE_RUN * 2, [("tools", peek_plugin(seen)), (plugin_name, plugin)]) as (
            runtime,
            _server,
        ):
            runs = [await run_agent(runtime, tmp_path) for _ in range(2)]
            still_enabled = runtime.host.is_active(plugin_name)
    warnings = [e for e in logs if e["event"] == "plugin answer ignored"]
    # Twice two bad answers (twice one, for stop and prompt hooks), one warning.
    assert len(warnings) == 1, warnings
    assert (warnings[0]["plugin"], warnings[0]["hook"]) == (plugin_name, hook)
    assert warnings[0]["log_level"] == "warning" and warnings[0]["problem"]
    assert still_enabled  # a bad answer is ignored, not a reason to disable the plugin
    for agent, result in runs:
        assert (result.result, result.stop_reason, result.is_error) == ("done", "end_turn", False)
        bad1, bad2, good = results_of(agent)
        assert (good.is_error, good.text) == (False, "value of good")  # later calls still work
        if hook == "pre_tool_use":
            for denied in (bad1, bad2):
                assert denied.is_error
                assert plugin_name in denied.text and "cannot understand" in denied.text
            assert [d.reason for d in result.permission_denials] == [bad1.text, bad2.text]
        else:
            # The call ran and the model is told its real result, never a failure.
            assert [(b.is_error, b.text) for b in (bad1, bad2)] == [(False, "value of bad")] * 2
            assert result.permission_denials == ()
    expected_runs = ["good"] * 2 if hook == "pre_tool_use" else ["bad", "bad", "good"] * 2
    assert seen == expected_runs


async def test_a_prompt_hook_answering_nonsense_leaves_the_prompt_alone(tmp_path: Path) -> None:
    plugin_name, plugin = bad_hook("prompt_int")
    async with running([Turn.say("done")], [(plugin_name, plugin)]) as (runtime, server):
        _, result = await run_agent(runtime, tmp_path)
    assert result.stop_reason == "end_turn"
    assert server.requests[0].body["messages"][0]["content"][0]["text"] == "go"


async def test_pre_tool_use_rewrites_chain_in_call_order(tmp_path: Path) -> None:
    seen: list[str] = []
    inputs: list[tuple[str, str]] = []

    class Rewrite:
        def __init__(self, name: str, old: str, new: str) -> None:
            self.name, self.old, self.new = name, old, new

        @hookimpl
        def pre_tool_use(self, call: ToolCall) -> PreToolUseDecision | None:
            inputs.append((self.name, call.input["key"]))
            if call.input["key"] == self.old:
                return PreToolUseDecision(updated_input={"key": self.new})
            return None

    # pluggy calls the last registered first: "second" sees what "first" left.
    plugins = [
        ("tools", peek_plugin(seen)),
        ("second", Rewrite("second", "b", "c")),
        ("first", Rewrite("first", "a", "b")),
    ]
    turns = [Turn.call(ToolCallSpec("Peek", {"key": "a"})), Turn.say("done")]
    async with running(turns, plugins) as (runtime, _server):
        agent, result = await run_agent(runtime, tmp_path)
    assert inputs == [("first", "a"), ("second", "b")]
    assert seen == ["c"]
    assert results_of(agent)[0].text == "value of c"
    assert result.result == "done"


async def test_a_tool_that_raises_after_its_work_fails_once(tmp_path: Path) -> None:
    seen: list[str] = []

    class Context:
        @hookimpl
        def post_tool_use(self, call: ToolCall, result: ToolResultBlock) -> PostToolUseOutcome:
            return PostToolUseOutcome(additional_context=f"[post saw error={result.is_error}]")

    turns = [
        Turn.call(ToolCallSpec("Boom", {})),
        Turn.call(ToolCallSpec("Peek", {"key": "after"})),
        Turn.say("done"),
    ]
    plugins = [("tools", peek_plugin(seen)), ("context", Context())]
    async with running(turns, plugins) as (runtime, _server):
        agent, result = await run_agent(runtime, tmp_path)
    boom, after = results_of(agent)
    assert boom.is_error
    assert boom.text.count("broke after the work was done") == 1
    assert "did not finish" not in boom.text
    assert boom.text.endswith("[post saw error=True]")
    assert (after.is_error, after.text) == (False, "value of after[post saw error=False]")
    assert seen == ["boom", "after"] and result.result == "done"
