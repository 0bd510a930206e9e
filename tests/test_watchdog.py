"""Code that blocks the event loop is reported; a signal still ends a blocked run.

Real wall-clock time on purpose: this is about synchronous code (``time.sleep``
in an ``async def``) holding the one trio thread. Each test stays under 3 s.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel
from structlog.testing import capture_logs

from claw_runtime.config.settings import Settings
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.tooling import tool
from claw_runtime.watchdog import LoopWatchdog, active_watchdog, threshold_from_env

MODEL = "claude-sonnet-4-5"


def sleepy_plugin() -> object:
    @tool(name="Nap", read_only=True)
    async def nap(seconds: float) -> str:
        """Blocks the event loop: synchronous sleep in an async tool (the bug we catch)."""
        time.sleep(seconds)  # noqa: ASYNC251 (on purpose)
        return "rested"

    @tool(name="Wait", read_only=True)
    async def wait(seconds: float) -> str:
        """Waits politely."""
        await trio.sleep(seconds)
        return "waited"

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(nap)
            register(wait)

    return Plugin()


async def test_a_tool_blocking_the_loop_is_reported_once_with_its_name_and_duration(
    tmp_path: Path,
) -> None:
    turns = [
        Turn.call(ToolCallSpec("Wait", {"seconds": 0.3})),
        Turn.call(ToolCallSpec("Nap", {"seconds": 2.0})),
        Turn.say("done"),
    ]
    with capture_logs() as logs:
        async with open_fake_model_server(Script(turns)) as server:
            environ = {
                "ANTHROPIC_BASE_URL": server.base_url,
                "ANTHROPIC_API_KEY": "test-key",
                "CLAW_BLOCKED_LOOP_WARN_S": "0.5",
            }
            async with open_runtime(
                Settings(),
                environ=environ,
                no_plugins=True,
                extra_plugins=[("sleepy", sleepy_plugin())],
            ) as runtime:
                watchdog = active_watchdog()
                assert watchdog is not None and watchdog.threshold_s == 0.5
                name, settings = runtime.provider_settings("anthropic", model=MODEL)
                agent = Agent(
                    provider=runtime.make_provider(name, settings),
                    tools=runtime.registry.tools,
                    host=runtime.host,
                    session=runtime.new_session(tmp_path),
                    options=AgentOptions(
                        model=MODEL,
                        permissions=PermissionPolicy.from_rules("default", project=tmp_path),
                    ),
                    scheduler=runtime.scheduler,
                    http=runtime.http,
                )
                result = await agent.run("go")
        assert active_watchdog() is None  # removed with the runtime
    assert result.result == "done"
    warnings = [e for e in logs if e["event"] == "event loop blocked"]
    assert len(warnings) == 1, warnings
    [warning] = warnings
    assert warning["task"] == "claw:tool:Nap"
    assert 2.0 <= warning["blocked_s"] < 2.5
    assert warning["log_level"] == "warning" and warning["threshold_s"] == 0.5


def test_the_threshold_comes_from_the_environment() -> None:
    assert threshold_from_env({}) == 1.0
    assert threshold_from_env({"CLAW_BLOCKED_LOOP_WARN_S": "2.5"}) == 2.5
    assert threshold_from_env({"CLAW_BLOCKED_LOOP_WARN_S": "0"}) == 0.0
    assert threshold_from_env({"CLAW_BLOCKED_LOOP_WARN_S": "soon"}) == 1.0
    assert threshold_from_env({"CLAW_BLOCKED_LOOP_WARN_S": "-1"}) == 1.0


async def test_zero_turns_the_watchdog_off(tmp_path: Path) -> None:
    environ = {"ANTHROPIC_API_KEY": "k", "CLAW_BLOCKED_LOOP_WARN_S": "0"}
    async with open_runtime(Settings(), environ=environ, no_plugins=True):
        assert active_watchdog() is None


def _kill_self_after(delay: float) -> threading.Thread:
    def send() -> None:
        time.sleep(delay)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


async def test_a_signal_while_the_loop_is_blocked_ends_the_process_after_the_grace() -> None:
    exits: list[int] = []
    cleaned: list[int] = []
    watchdog = LoopWatchdog(0.5, exit=exits.append, poll_s=0.02)
    with trio.open_signal_receiver(signal.SIGTERM) as received:  # as claw -p does
        trio.lowlevel.add_instrument(watchdog)
        try:
            with watchdog.exit_on_signals([signal.SIGTERM], grace_s=0.3, on_exit=cleaned.append):
                await trio.lowlevel.checkpoint()  # a fresh step, stamped by the watchdog
                _kill_self_after(0.1)
                time.sleep(1.2)  # noqa: ASYNC251 (a blocking tool; the signal arrives 0.1 s in)
        finally:
            trio.lowlevel.remove_instrument(watchdog)
            watchdog.stop()
        # trio still got the signal: a run that unblocks handles it as usual.
        with trio.fail_after(1):
            assert await received.__anext__() == signal.SIGTERM
    assert cleaned == [signal.SIGTERM]
    assert exits == [128 + signal.SIGTERM]


async def test_a_signal_the_loop_answers_in_time_exits_nothing() -> None:
    exits: list[int] = []
    watchdog = LoopWatchdog(0.5, exit=exits.append, poll_s=0.02)
    with trio.open_signal_receiver(signal.SIGTERM) as received:
        trio.lowlevel.add_instrument(watchdog)
        try:
            with watchdog.exit_on_signals([signal.SIGTERM], grace_s=0.3):
                _kill_self_after(0.05)
                with trio.fail_after(2):
                    assert await received.__anext__() == signal.SIGTERM
                await trio.sleep(0.6)  # longer than the grace: the watchdog stays quiet
        finally:
            trio.lowlevel.remove_instrument(watchdog)
            watchdog.stop()
    assert exits == []
