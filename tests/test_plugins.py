"""The plugin host: discovery, ordering, isolation of failures, registration conflicts.

In-process tests register plugin objects directly (``extra_plugins``); the
discovery tests install real distributions and run the real ``claw`` command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from claw_runtime import hookimpl, tool
from claw_runtime.hooks.decisions import PreToolUseDecision, ToolCall
from claw_runtime.plugins import make_plugin_host
from claw_runtime.registry import build_registry
from claw_runtime.tooling import SessionState, Tool


class _Plugin:
    """A plugin object compared by identity, as modules are."""


def plugin(**hooks: Callable[..., Any]) -> _Plugin:
    """A plugin object whose attributes are hook implementations."""
    obj = _Plugin()
    obj.__dict__.update(hooks)
    return obj


def host_with(*plugins: tuple[str, object], disabled: tuple[str, ...] = ()) -> Any:
    return make_plugin_host(
        builtins=(), load_entry_points=False, extra_plugins=plugins, disabled=disabled
    )


@tool(read_only=True)
async def echo(text: str) -> str:
    """Echo the text back."""
    return text


def _session(tmp_path: Any) -> SessionState:
    return SessionState(session_id="s", cwd=tmp_path)


async def test_hooks_run_in_pluggy_order_last_registered_first_tryfirst_wins(tmp_path):
    calls: list[str] = []

    def impl(name: str, **marks: bool) -> Callable[..., Any]:
        @hookimpl(**marks)
        def session_start(session: SessionState, source: str) -> None:
            calls.append(name)

        return session_start

    host = host_with(
        ("first", plugin(session_start=impl("first"))),
        ("second", plugin(session_start=impl("second"))),
        ("early", plugin(session_start=impl("early", trylast=True))),
        ("late", plugin(session_start=impl("late", tryfirst=True))),
    )
    await host.call("session_start", session=_session(tmp_path), source="startup")
    assert calls == ["late", "second", "first", "early"]


async def test_async_and_sync_implementations_are_both_awaited(tmp_path):
    @hookimpl
    async def pre_tool_use(call: ToolCall) -> PreToolUseDecision:
        return PreToolUseDecision(decision="deny", reason="async says no")

    @hookimpl
    def user_prompt_submit(prompt: str) -> str:
        return prompt.upper()

    host = host_with(
        ("a", plugin(pre_tool_use=pre_tool_use, user_prompt_submit=user_prompt_submit))
    )
    call = ToolCall(tool_use_id="t", name="Bash", input={})
    [(name, decision)] = await host.call("pre_tool_use", call=call, session=_session(tmp_path))
    assert name == "a" and decision.reason == "async says no"
    assert await host.call("user_prompt_submit", prompt="hi", session=None) == [("a", "HI")]


async def test_a_plugin_raising_in_a_hook_is_reported_disabled_and_others_still_run(tmp_path):
    seen: list[str] = []

    @hookimpl
    def session_start(session: SessionState) -> None:
        raise RuntimeError("kaboom")

    @hookimpl
    def session_end(session: SessionState) -> None:
        seen.append("broken.session_end")

    @hookimpl(specname="session_start")
    async def good_start(session: SessionState) -> None:
        seen.append("good")

    host = host_with(
        ("good", plugin(session_start=good_start)),
        ("broken", plugin(session_start=session_start, session_end=session_end)),
    )
    await host.call("session_start", session=_session(tmp_path), source="startup")
    assert seen == ["good"]
    [error] = host.errors
    assert (error.plugin, error.hook) == ("broken", "session_start")
    assert "RuntimeError: kaboom" in str(error)
    # Disabled for the rest of the run: its other hooks no longer fire.
    await host.call("session_end", session=_session(tmp_path), reason="end_turn")
    assert seen == ["good"]
    assert host.infos["broken"].error == "RuntimeError: kaboom"


def test_unknown_hook_names_and_wrappers_are_rejected_at_load():
    @hookimpl
    def register_tool(register: Any) -> None:  # typo: the spec is register_tools
        pass

    @hookimpl(wrapper=True)
    def session_start(session: SessionState) -> Any:
        return (yield)

    @hookimpl
    def stop(session: SessionState) -> None:
        pass

    host = host_with(
        ("typo", plugin(register_tool=register_tool)),
        ("wrapper", plugin(session_start=session_start)),
        ("fine", plugin(stop=stop)),
    )
    failed = {e.plugin: e.reason for e in host.errors}
    assert set(failed) == {"typo", "wrapper"}
    assert "register_tool" in failed["typo"]
    assert "wrapper" in failed["wrapper"]
    assert host.pm.get_plugin("fine") is not None
    assert host.pm.get_plugin("typo") is None


def test_hookimpl_with_wrong_arguments_is_a_load_error_not_a_crash():
    @hookimpl
    def pre_tool_use(call: ToolCall, nonsense: int) -> None:
        pass

    host = host_with(("bad", plugin(pre_tool_use=pre_tool_use)))
    [error] = host.errors
    assert error.plugin == "bad" and "nonsense" in error.reason


def test_disabled_plugins_are_never_registered():
    @hookimpl
    def register_tools(register: Callable[[Tool], None]) -> None:
        register(echo)

    host = host_with(("echo", plugin(register_tools=register_tools)), disabled=("echo",))
    assert build_registry(host).tools == {}


def test_registration_records_owner_and_reports_conflicts():
    @hookimpl
    def register_tools(register: Callable[[Tool], None]) -> None:
        register(echo)

    host = host_with(
        ("one", plugin(register_tools=register_tools)),
        ("two", plugin(register_tools=register_tools)),
    )
    registry = build_registry(host)
    assert list(registry.tools) == ["echo"]
    owner = registry.tools["echo"].plugin
    other = {"one": "two", "two": "one"}[owner or ""]
    [conflict] = host.errors
    assert conflict.plugin == other and "already registered by" in conflict.reason


def test_registering_a_sync_function_as_a_tool_is_reported():
    def not_async(x: str) -> str:
        return x

    @hookimpl
    def register_tools(register: Callable[[Any], None]) -> None:
        register(not_async)

    host = host_with(("sync", plugin(register_tools=register_tools)))
    assert build_registry(host).tools == {}
    [error] = host.errors
    assert error.plugin == "sync" and "async" in error.reason


def test_registering_a_plain_async_function_wraps_it_as_a_mutating_tool():
    async def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    @hookimpl
    def register_tools(register: Callable[[Any], None]) -> None:
        register(shout)

    registry = build_registry(host_with(("p", plugin(register_tools=register_tools))))
    assert registry.tools["shout"].read_only is False
    assert registry.tools["shout"].input_schema["required"] == ["text"]


def test_builtins_are_plugins_and_can_be_disabled_by_name():
    host = make_plugin_host(load_entry_points=False)
    assert "builtin.context" in host.infos and host.infos["builtin.context"].builtin
    registry = build_registry(host)
    assert {p.name for p in registry.context_processors} >= {"environment", "memory"}
    blocked = make_plugin_host(load_entry_points=False, disabled=("builtin.context",))
    left = build_registry(blocked).context_processors
    assert [(p.name, p.plugin) for p in left] == [
        ("skills", "tools.skill"),
        ("agents.listing", "builtin.agents"),
    ]


@pytest.mark.parametrize("hook", ["register_tools", "register_commands"])
def test_a_registration_hook_that_raises_disables_only_its_plugin(hook):
    def boom(register: Any) -> None:
        raise ValueError("cannot register")

    @hookimpl
    def register_tools(register: Callable[[Tool], None]) -> None:
        register(echo)

    host = host_with(
        ("ok", plugin(register_tools=register_tools)), ("boom", plugin(**{hook: hookimpl(boom)}))
    )
    registry = build_registry(host)
    assert "echo" in registry.tools
    assert [(e.plugin, e.hook) for e in host.errors] == [("boom", hook)]
