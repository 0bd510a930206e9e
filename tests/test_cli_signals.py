"""Signals to a real ``claw -p`` subprocess: SIGINT (Ctrl-C), SIGTERM, SIGHUP.

Each test checks the exit code (130 for any signal), the result line on
stdout, that no process claw started is left running, and that the transcript
parses. Every wait is bounded with ``trio.fail_after``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

from _harness import claw_env, start_claw


@attrs.frozen
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes
    after_last_signal_s: float
    """From the last signal sent to the exit."""

    @property
    def result(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout.decode().splitlines()[-1])
        return parsed


async def _run_and_signal(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    *,
    ready: Callable[[], bool],
    signals: list[tuple[int, Callable[[], bool] | None]],
) -> Finished:
    """Start claw; once ``ready()``, send each signal (after its own condition, if any)."""
    stdout, stderr = bytearray(), bytearray()

    async def drain(stream: Any, into: bytearray) -> None:
        async for chunk in stream:
            into.extend(chunk)

    process = await start_claw(args, cwd, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, process.stdout, stdout)
            nursery.start_soon(drain, process.stderr, stderr)
            with trio.fail_after(30):
                while not ready():
                    assert process.poll() is None, bytes(stderr).decode()
                    await trio.sleep(0.05)
                for signum, condition in signals:
                    while condition is not None and not condition():
                        assert process.poll() is None, bytes(stderr).decode()
                        await trio.sleep(0.05)
                    process.send_signal(signum)
                    await trio.sleep(0.1)
                sent = trio.current_time()
                await process.wait()
                took = trio.current_time() - sent
    finally:
        if process.poll() is None:
            process.kill()
            with trio.move_on_after(5):
                await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, bytes(stdout), bytes(stderr), took)


def _has_pid(path: Path) -> Callable[[], bool]:
    return lambda: path.exists() and path.read_text().strip().isdigit()


async def _assert_gone(pidfile: Path) -> None:
    """The process whose pid is in ``pidfile`` ends (or is a zombie) within 5 s."""
    pid = int(pidfile.read_text())
    proc = Path(f"/proc/{pid}")
    with trio.fail_after(5):
        while proc.exists():
            try:
                if proc.joinpath("stat").read_text().rpartition(")")[2].split()[0] == "Z":
                    return
            except FileNotFoundError:
                return
            await trio.sleep(0.05)


def _transcript(tmp_path: Path) -> list[dict[str, Any]]:
    [path] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _hook_settings(tmp_path: Path, **events: str) -> None:
    """User settings with a command hook per event (user settings need no trust)."""
    hooks = {
        event: [{"hooks": [{"type": "command", "command": command}]}]
        for event, command in events.items()
    }
    path = tmp_path / "claw-home" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hooks": hooks}))


def _hung_hook(pidfile: Path) -> str:
    """A hook that writes its pid and then hangs (``exec``: the pid is the sleeper's)."""
    return f"echo $$ > {pidfile}; exec sleep 1000"


_RUN = ["-p", "go", "--output-format", "json", "--permission-mode", "bypassPermissions"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
async def test_a_signal_during_a_tool_cancels_the_run(tmp_path: Path, signum: int) -> None:
    """SIGHUP (terminal or SSH closed) is handled like Ctrl-C and SIGTERM: exit 130."""
    pidfile = tmp_path / "sleeper.pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("never")])
    async with open_fake_model_server(script) as server:
        done = await _run_and_signal(
            _RUN,
            tmp_path,
            claw_env(tmp_path, server),
            ready=_has_pid(pidfile),
            signals=[(signum, None)],
        )
    assert done.returncode == 130, done.stderr
    assert b"Traceback" not in done.stderr
    assert (done.result["stop_reason"], done.result["result"]) == (
        "cancelled",
        "Cancelled by the user.",
    )
    await _assert_gone(pidfile)
    records = _transcript(tmp_path)
    assert records[-1]["type"] == "result"
    assert records[-1]["result"]["stop_reason"] == "cancelled"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_during_a_hung_session_start_hook_ends_at_once(
    tmp_path: Path, signum: int
) -> None:
    start, end = tmp_path / "start.pid", tmp_path / "end.pid"
    _hook_settings(tmp_path, SessionStart=_hung_hook(start), SessionEnd=_hung_hook(end))
    async with open_fake_model_server(Script([Turn.say("never")])) as server:
        done = await _run_and_signal(
            _RUN,
            tmp_path,
            claw_env(tmp_path, server),
            ready=_has_pid(start),
            signals=[(signum, None)],
        )
        assert server.requests == []
    assert done.returncode == 130, done.stderr
    assert done.after_last_signal_s < 5
    assert done.result["stop_reason"] == "cancelled"
    await _assert_gone(start)
    assert not end.exists()  # stopping at once skips the SessionEnd hooks
    assert [r["type"] for r in _transcript(tmp_path)] == ["result"]


async def test_a_signal_during_a_hung_session_end_hook_ends_at_once(tmp_path: Path) -> None:
    """The run finished: its result stands, and the exit code says it was interrupted."""
    end = tmp_path / "end.pid"
    _hook_settings(tmp_path, SessionEnd=_hung_hook(end))
    async with open_fake_model_server(Script([Turn.say("answered")])) as server:
        done = await _run_and_signal(
            _RUN,
            tmp_path,
            claw_env(tmp_path, server),
            ready=_has_pid(end),
            signals=[(signal.SIGTERM, None)],
        )
    assert done.returncode == 130, done.stderr
    assert done.after_last_signal_s < 5
    assert (done.result["result"], done.result["is_error"]) == ("answered", False)
    await _assert_gone(end)
    assert _transcript(tmp_path)[-1]["type"] == "result"


async def test_a_second_ctrl_c_ends_at_once(tmp_path: Path) -> None:
    """First Ctrl-C: the tool is stopped and the SessionEnd hooks start (and hang).

    Second Ctrl-C: the run ends now, hook killed, result written.
    """
    sleeper, end = tmp_path / "sleeper.pid", tmp_path / "end.pid"
    _hook_settings(tmp_path, SessionEnd=_hung_hook(end))
    command = f"sleep 300 & echo $! > {sleeper}; wait"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("never")])
    async with open_fake_model_server(script) as server:
        done = await _run_and_signal(
            _RUN,
            tmp_path,
            claw_env(tmp_path, server, CLAW_SESSION_END_TIMEOUT="1000"),
            ready=_has_pid(sleeper),
            signals=[(signal.SIGINT, None), (signal.SIGINT, _has_pid(end))],
        )
    assert done.returncode == 130, done.stderr
    assert done.after_last_signal_s < 5
    assert done.result["stop_reason"] == "cancelled"
    await _assert_gone(sleeper)
    await _assert_gone(end)
    records = _transcript(tmp_path)
    assert records[-1]["type"] == "result"
    assert "aborted" in records[2]["message"]["content"][0]["content"][0]["text"]


async def test_two_quick_ctrl_cs_during_a_tool(tmp_path: Path) -> None:
    sleeper = tmp_path / "sleeper.pid"
    command = f"trap '' TERM; sleep 300 & echo $! > {sleeper}; wait; sleep 300"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("never")])
    async with open_fake_model_server(script) as server:
        done = await _run_and_signal(
            _RUN,
            tmp_path,
            claw_env(tmp_path, server),
            ready=_has_pid(sleeper),
            signals=[(signal.SIGINT, None), (signal.SIGINT, None)],
        )
    assert done.returncode == 130, done.stderr
    assert b"Traceback" not in done.stderr
    assert done.result["stop_reason"] == "cancelled"
    await _assert_gone(sleeper)
    for record in _transcript(tmp_path):  # every line parses (whatever was cut short)
        assert record["type"] in ("user", "assistant", "result")


async def test_session_end_hooks_have_a_deadline(tmp_path: Path) -> None:
    end = tmp_path / "end.pid"
    _hook_settings(tmp_path, SessionEnd=_hung_hook(end))
    async with open_fake_model_server(Script([Turn.say("answered")])) as server:
        env = claw_env(tmp_path, server, CLAW_SESSION_END_TIMEOUT="1")
        with trio.fail_after(30):
            started = trio.current_time()
            result = await trio.run_process(
                [sys.executable, "-m", "claw_runtime", *_RUN],
                cwd=tmp_path,
                env=env,
                stdin=b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            took = trio.current_time() - started
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert took < 15
    assert "SessionEnd hooks did not finish within 1 s; stopped them" in err
    assert json.loads(result.stdout.decode().splitlines()[-1])["result"] == "answered"
    await _assert_gone(end)


async def test_a_claw_killed_with_sigkill_leaves_no_command_running(tmp_path: Path) -> None:
    """kill -9 runs no code in claw: its reaper process kills the command's tree."""
    import os
    import time

    from _harness import processes_with

    started = tmp_path / "tool-started"
    marker = f"300.{os.getpid()}{time.monotonic_ns() % 10_000}"  # in each sleep's argv
    command = f"(sleep {marker}1; true) & touch {started}; sleep {marker}2"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("never")])
    async with open_fake_model_server(script) as server:
        process = await start_claw(
            ["-p", "run it", "--allowed-tools", "Bash"], tmp_path, claw_env(tmp_path, server)
        )
        try:
            with trio.fail_after(30):
                while not started.exists() or len(processes_with(marker)) < 2:
                    await trio.sleep(0.05)
        finally:
            process.kill()  # claw alone, not its process group: nothing in claw runs
            await process.wait()
    with trio.fail_after(10):
        while processes_with(marker):
            await trio.sleep(0.05)
