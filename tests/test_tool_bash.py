"""Bash, BashOutput, KillShell with real processes: output, cwd, timeouts, no orphans.

Real processes need real time; every wait is short and bounded by fail_after.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from claw_runtime.models import ToolResultBlock
from claw_runtime.scheduler import Scheduler, open_scheduler
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools._environment import (
    child_environment,
    is_startup_variable,
    scrub_credentials,
)
from claw_runtime.tools._shell import run_foreground
from claw_runtime.tools.bash import bash, bash_output, kill_shell


@pytest.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    async with open_scheduler() as sched:
        yield sched


@pytest.fixture
def ctx(tmp_path: Path, scheduler: Scheduler) -> ToolContext:
    return ToolContext(
        session=SessionState(session_id="t", cwd=tmp_path), tool_use_id="b", scheduler=scheduler
    )


async def run(ctx: ToolContext, **tool_input: object) -> ToolResultBlock:
    with trio.fail_after(30):
        return await bash.invoke(tool_input, ctx)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def wait_dead(pid: int) -> bool:
    with trio.move_on_after(5):
        while alive(pid):
            await trio.sleep(0.05)
        return True
    return False


async def test_output_and_success(ctx: ToolContext) -> None:
    result = await run(ctx, command="echo hello; echo oops >&2")
    assert not result.is_error
    assert result.text == "hello\noops"


async def test_non_zero_exit_is_an_error_with_the_code(ctx: ToolContext) -> None:
    result = await run(ctx, command="echo before; exit 3")
    assert result.is_error
    assert result.text == "before\n\nExit code: 3"


async def test_working_directory_persists_between_calls(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    await run(ctx, command="cd sub/deeper")
    assert ctx.session.cwd == (tmp_path / "sub" / "deeper").resolve()
    result = await run(ctx, command="pwd")
    assert result.text == str((tmp_path / "sub" / "deeper").resolve())


async def test_cwd_is_unchanged_when_the_command_exits_early(
    ctx: ToolContext, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    await run(ctx, command="cd sub; exit 0")
    assert ctx.session.cwd == tmp_path


async def test_huge_output_is_cut_in_the_middle_with_a_notice(ctx: ToolContext) -> None:
    result = await run(ctx, command="echo START; yes line | head -n 100000; echo END")
    assert result.text.startswith("START")
    assert result.text.rstrip().endswith("END")
    assert "characters of output omitted" in result.text
    assert len(result.text) < 32_000


async def test_timeout_kills_the_whole_group_including_grandchildren(
    ctx: ToolContext, tmp_path: Path
) -> None:
    pidfile = tmp_path / "grandchild.pid"
    result = await run(
        ctx,
        command=f"bash -c 'sleep 300 & echo $! > {pidfile}; wait' & echo started; sleep 300",
        timeout=700,
    )
    assert result.is_error
    assert "timed out after 700 ms" in result.text and "started" in result.text
    grandchild = int(pidfile.read_text())
    assert await wait_dead(grandchild)


async def test_cancellation_from_outside_kills_the_group(ctx: ToolContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    with trio.move_on_after(1.0) as scope:
        await bash.invoke({"command": f"sleep 300 & echo $! > {pidfile}; sleep 300"}, ctx)
    assert scope.cancelled_caught
    assert await wait_dead(int(pidfile.read_text()))


async def test_background_processes_of_a_foreground_command_do_not_outlive_it(
    ctx: ToolContext, tmp_path: Path
) -> None:
    pidfile = tmp_path / "daemon.pid"
    result = await run(ctx, command=f"(sleep 300 & echo $! > {pidfile}); echo done")
    assert result.text == "done"
    assert await wait_dead(int(pidfile.read_text()))


async def test_timeout_above_the_maximum_is_an_input_error(ctx: ToolContext) -> None:
    result = await run(ctx, command="true", timeout=700_000)
    assert result.is_error and "timeout must be between 1 and 600000 ms" in result.text


async def test_background_shell_lifecycle(ctx: ToolContext) -> None:
    started = await run(
        ctx,
        command="for i in 1 2 3; do echo tick $i; sleep 0.2; done; echo done",
        run_in_background=True,
    )
    assert "bash_1" in started.text
    with trio.fail_after(10):
        while True:
            first = await bash_output.invoke({"bash_id": "bash_1"}, ctx)
            if "tick 1" in first.text:
                break
            await trio.sleep(0.05)
    assert first.text.startswith("Status: running")
    with trio.fail_after(10):
        while "exited" not in (later := await bash_output.invoke({"bash_id": "bash_1"}, ctx)).text:
            await trio.sleep(0.1)
    assert "tick 1" not in later.text  # only what is new since the last read
    assert "Status: exited with code 0" in later.text
    filtered = await run(ctx, command="printf 'a1\\nb2\\na3\\n'", run_in_background=True)
    assert "bash_2" in filtered.text
    await trio.sleep(0.5)
    only_a = await bash_output.invoke({"bash_id": "bash_2", "filter": "^a"}, ctx)
    assert only_a.text.endswith("a1\na3")


async def test_kill_shell_stops_a_background_group(ctx: ToolContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    await run(ctx, command=f"sleep 300 & echo $! > {pidfile}; wait", run_in_background=True)
    with trio.fail_after(5):
        while not pidfile.exists() or not pidfile.read_text().strip():
            await trio.sleep(0.05)
    killed = await kill_shell.invoke({"shell_id": "bash_1"}, ctx)
    assert not killed.is_error and "Killed shell bash_1" in killed.text
    assert await wait_dead(int(pidfile.read_text()))
    status = await bash_output.invoke({"bash_id": "bash_1"}, ctx)
    assert status.text.startswith("Status: killed")


async def test_unknown_shell_ids_and_bad_filters_are_clear_errors(ctx: ToolContext) -> None:
    missing = await kill_shell.invoke({"shell_id": "bash_9"}, ctx)
    assert missing.is_error and "No background shell with id 'bash_9'" in missing.text
    await run(ctx, command="true", run_in_background=True)
    bad = await bash_output.invoke({"bash_id": "bash_1", "filter": "("}, ctx)
    assert bad.is_error and "bad filter regex" in bad.text


async def test_ending_the_session_kills_background_shells(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    async with open_scheduler() as sched:
        ctx = ToolContext(session=SessionState(session_id="t", cwd=tmp_path), scheduler=sched)
        await bash.invoke(
            {"command": f"sleep 300 & echo $! > {pidfile}; wait", "run_in_background": True}, ctx
        )
        with trio.fail_after(5):
            while not pidfile.exists() or not pidfile.read_text().strip():
                await trio.sleep(0.05)
    assert await wait_dead(int(pidfile.read_text()))


async def test_bash_uses_the_session_environment(ctx: ToolContext) -> None:
    ctx.session.env = {"PATH": os.environ["PATH"], "CLAW_SESSION_ONLY": "from-session"}
    result = await run(ctx, command="echo $CLAW_SESSION_ONLY; env | grep -c '^HOME=' || true")
    assert result.text.splitlines() == ["from-session", "0"]  # the session's, not os.environ


def test_child_environment_never_takes_startup_variables_from_settings() -> None:
    base = {"PATH": "/bin", "PYTHONPATH": "/mine"}
    overrides = {
        "FOO": "bar",
        "BASH_ENV": "/repo/evil.sh",
        "LD_PRELOAD": "/repo/evil.so",
        "PYTHONPATH": "/repo",
        "GIT_CONFIG_COUNT": "1",
        "DYLD_INSERT_LIBRARIES": "x",
        "NODE_OPTIONS": "--require /repo/evil.js",
    }
    env = child_environment(base, overrides)
    assert env == {"PATH": "/bin", "PYTHONPATH": "/mine", "FOO": "bar"}
    assert all(is_startup_variable(name) for name in overrides if name != "FOO")


def test_credentials_table() -> None:
    env = {
        "ANTHROPIC_API_KEY": "k",
        "SOME_SERVICE_TOKEN": "t",
        "X_SECRET": "s",
        "DB_PASSWORD": "p",
        "SSH_AUTH_SOCK": "/s",
        "URL": "https://u:pw@host/",
        "TOKENIZERS_PARALLELISM": "false",
        "PATH": "/bin",
    }
    assert scrub_credentials(env) == {"TOKENIZERS_PARALLELISM": "false", "PATH": "/bin"}


async def test_startup_variables_in_overrides_do_not_reach_bash(tmp_path: Path) -> None:
    (tmp_path / "evil.sh").write_text(f"touch {tmp_path}/sourced\n")
    result = await run_foreground(
        "echo ran",
        cwd=tmp_path,
        timeout_s=10,
        max_chars=1000,
        base_env=os.environ,
        env={"BASH_ENV": str(tmp_path / "evil.sh"), "VISIBLE": "1"},
    )
    assert result.output.strip() == "ran"
    assert not (tmp_path / "sourced").exists()


async def test_a_working_directory_whose_name_is_not_utf8(ctx: ToolContext) -> None:
    """A directory name is bytes: Bash works in one that is not UTF-8, and cd into it sticks."""
    odd = ctx.session.cwd / os.fsdecode(b"caf\xe9")
    odd.mkdir()
    moved = await run(ctx, command="cd caf* && echo moved")  # a command is text: a glob
    assert not moved.is_error, moved.text
    assert ctx.session.cwd == odd
    again = await run(ctx, command="pwd")
    assert not again.is_error and again.text.strip().endswith("caf\ufffd")
