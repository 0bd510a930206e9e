"""Many runtimes in one process: nothing a session uses is global.

Each runtime reads the environment it was opened with (never ``os.environ``,
which the tests set to a decoy value to prove it), defining a tool registers
nothing on the shared input converter, and each ``trio.run`` has its own
loop watchdog. Real tools, real processes, the fake model server on loopback.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated

import attrs
import cattrs
import pytest
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.errors import ToolInputError
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, Turn, open_fake_model_server
from claw_runtime.tooling import _CONVERTER, Param, SessionState, ToolContext, tool
from claw_runtime.tools.bash import bash
from claw_runtime.watchdog import LoopWatchdog, active_watchdog, watch_event_loop

from _harness import run_calls

DECOY = "from-os-environ"


async def test_two_runtimes_run_bash_each_with_its_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAW_PROBE", DECOY)
    outcomes: dict[str, str] = {}

    async def one(name: str, other: str) -> None:
        work = tmp_path / name
        work.mkdir()
        # Each command waits until the other one has started: the two Bash calls
        # run at the same time, in two runtimes of this one process.
        command = (
            f"touch {tmp_path}/{name}.started; "
            f"for i in $(seq 200); do [ -e {tmp_path}/{other}.started ] && break; "
            "sleep 0.05; done; "
            f"[ -e {tmp_path}/{other}.started ] && echo overlapped; "
            'echo "probe=${CLAW_PROBE:-unset}"'
        )
        [outcome] = await run_calls(
            work,
            [("Bash", {"command": command})],
            allow=["Bash"],
            environ={"PATH": os.environ["PATH"], "CLAW_PROBE": name},
        )
        assert not outcome.is_error, outcome.text
        outcomes[name] = outcome.text

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "first", "second")
            nursery.start_soon(one, "second", "first")
    assert outcomes == {
        "first": "overlapped\nprobe=first",
        "second": "overlapped\nprobe=second",
    }


async def test_a_runtime_without_the_variable_does_not_fall_back_to_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAW_PROBE", DECOY)
    [outcome] = await run_calls(
        tmp_path,
        [("Bash", {"command": 'echo "probe=${CLAW_PROBE:-unset}"'})],
        allow=["Bash"],
        environ={"PATH": os.environ["PATH"]},
    )
    assert (outcome.is_error, outcome.text) == (False, "probe=unset")


async def test_a_session_built_by_hand_keeps_the_environment_it_was_built_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAW_PROBE", "at-construction")
    session = SessionState(session_id="by-hand", cwd=tmp_path)
    monkeypatch.setenv("CLAW_PROBE", DECOY)  # after: someone else changes os.environ
    with trio.fail_after(30):
        result = await bash.invoke(
            {"command": 'echo "probe=$CLAW_PROBE"'}, ToolContext(session=session)
        )
    assert result.text == "probe=at-construction"


async def test_new_session_copies_the_runtime_environment(tmp_path: Path) -> None:
    environ = {"ANTHROPIC_API_KEY": "k", "CLAW_PROBE": "runtime"}
    settings = Settings(env={"CLAW_FROM_SETTINGS": "yes"})
    async with open_runtime(settings, environ=environ, no_plugins=True) as runtime:
        first, second = runtime.new_session(tmp_path), runtime.new_session(tmp_path)
        assert first.env["CLAW_PROBE"] == "runtime"
        assert first.env["CLAW_FROM_SETTINGS"] == "yes"
        first.env["CLAW_PROBE"] = "changed by a SessionStart hook"
        assert second.env["CLAW_PROBE"] == "runtime"
        assert runtime.environ["CLAW_PROBE"] == "runtime"


async def test_claude_config_dir_of_the_runtime_environment_picks_the_user_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = tmp_path / "decoy-config"
    decoy.mkdir()
    (decoy / "CLAUDE.md").write_text("DECOY MEMORY from os.environ's config dir")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(decoy))
    monkeypatch.setenv("CLAW_CONFIG_DIR", str(decoy))
    systems: dict[str, str] = {}

    async def one(name: str) -> None:
        config = tmp_path / f"{name}-config"
        config.mkdir()
        (config / "CLAUDE.md").write_text(f"MEMORY OF {name.upper()}")
        work = tmp_path / f"{name}-work"
        work.mkdir()
        async with open_fake_model_server(Script([Turn.say("ok")])) as server:
            environ = {
                "ANTHROPIC_BASE_URL": server.base_url,
                "ANTHROPIC_API_KEY": "k",
                "HOME": str(tmp_path / f"{name}-home"),
                "CLAUDE_CONFIG_DIR": str(config),
                "CLAW_CONFIG_DIR": str(tmp_path / f"{name}-claw"),
            }
            async with (
                open_runtime(Settings(), environ=environ, no_plugins=True) as runtime,
                runtime.open_session(cwd=work, persist=False) as session,
            ):
                result = await session.run("hi")
        assert not result.is_error, result
        systems[name] = server.requests[0].body["system"][0]["text"]

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, "alice")
            nursery.start_soon(one, "bob")
    assert "MEMORY OF ALICE" in systems["alice"]
    assert "MEMORY OF BOB" in systems["bob"]
    assert "MEMORY OF BOB" not in systems["alice"]
    assert "MEMORY OF ALICE" not in systems["bob"]
    assert not any("DECOY MEMORY" in s for s in systems.values())


@attrs.frozen
class Window:
    start: int
    end: int


def test_defining_a_tool_registers_nothing_on_the_shared_converter() -> None:
    dispatch = _CONVERTER._structure_func
    registered_before = dict(dispatch._single_dispatch.registry)
    predicates_before = dispatch.get_num_fns()

    @tool(read_only=True)
    async def lines(
        path: str,
        after: Annotated[int | None, Param("-A", "Lines after a match")] = None,
        windows: list[Window] | None = None,
        window: Window | None = None,
    ) -> str:
        """Show lines."""
        return path

    assert dict(dispatch._single_dispatch.registry) == registered_before
    assert dispatch.get_num_fns() == predicates_before
    raw = {
        "path": "a",
        "-A": 2,
        "windows": [{"start": 1, "end": 2}],
        "window": {"start": 3, "end": 4},
    }
    # The tool structures its input with its own function, renames and nested classes included...
    assert lines.validate(raw) == {
        "path": "a",
        "after": 2,
        "windows": [Window(1, 2)],
        "window": Window(3, 4),
    }
    # ...which the shared converter does not know: it has no hook for the class that
    # renames "-A", so the wire name is an unknown key to it.
    with pytest.raises(cattrs.ClassValidationError) as caught:
        _CONVERTER.structure(raw, lines.input_class)
    assert cattrs.transform_error(caught.value) == ["extra fields found (-A) @ $"]
    assert dict(dispatch._single_dispatch.registry) == registered_before


def test_bad_input_still_gets_the_same_messages() -> None:
    @tool
    async def spans(
        after: Annotated[int, Param("-A")],
        windows: list[Window] | None = None,
        window: Window | None = None,
    ) -> str:
        return ""

    cases = {
        "Invalid input for tool spans: expected an integer, got str 'x' @ input.-A": {"-A": "x"},
        "Invalid input for tool spans: required field missing @ input.-A": {},
        "Invalid input for tool spans: unknown field(s) bogus @ input": {"-A": 1, "bogus": 1},
        "Invalid input for tool spans: unknown field(s) size @ input.windows": {
            "-A": 1,
            "windows": [{"start": 1, "end": 2, "size": 1}],
        },
        "Invalid input for tool spans: expected an integer, got str '3' @ input.window.start": {
            "-A": 1,
            "window": {"start": "3", "end": 4},
        },
        "Invalid input for tool spans: required field missing @ input.window.end": {
            "-A": 1,
            "window": {"start": 3},
        },
    }
    for message, raw in cases.items():
        with pytest.raises(ToolInputError) as caught:
            spans.validate(raw)
        assert str(caught.value) == message


def test_two_trio_runs_in_two_threads_each_see_their_own_watchdog() -> None:
    both_installed = threading.Barrier(2, timeout=10)
    both_looked = threading.Barrier(2, timeout=10)
    seen: dict[str, tuple[LoopWatchdog | None, LoopWatchdog | None]] = {}
    errors: list[BaseException] = []

    async def main(name: str, threshold: str) -> None:
        async with watch_event_loop({"CLAW_BLOCKED_LOOP_WARN_S": threshold}) as mine:
            await trio.to_thread.run_sync(both_installed.wait)
            seen[name] = (mine, active_watchdog())
            await trio.to_thread.run_sync(both_looked.wait)
        assert active_watchdog() is None

    def run(name: str, threshold: str) -> None:
        try:
            trio.run(main, name, threshold)
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)
            both_installed.abort()
            both_looked.abort()

    threads = [
        threading.Thread(target=run, args=("a", "5")),
        threading.Thread(target=run, args=("b", "7")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    (mine_a, active_a), (mine_b, active_b) = seen["a"], seen["b"]
    assert mine_a is not None and mine_b is not None and mine_a is not mine_b
    assert active_a is mine_a and active_a.threshold_s == 5.0
    assert active_b is mine_b and active_b.threshold_s == 7.0
    assert active_watchdog() is None  # outside any trio run
