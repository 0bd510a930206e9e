"""Sandboxed Bash under the real bubblewrap: writes, network, processes."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from claw_runtime.models import ToolResultBlock
from claw_runtime.scheduler import Scheduler, open_scheduler
from claw_runtime.testing import Script, Turn, open_fake_model_server
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools._sandbox import SANDBOX_KEY, SandboxConfig
from claw_runtime.tools.bash import bash

from _harness import require_binary


@pytest.fixture
async def scheduler() -> AsyncIterator[Scheduler]:
    async with open_scheduler() as sched:
        yield sched


def sandboxed(root: Path, scheduler: Scheduler, network: bool = False) -> ToolContext:
    require_binary("bwrap", "bubblewrap")
    session = SessionState(session_id="s", cwd=root)
    session.extras[SANDBOX_KEY] = SandboxConfig(enabled=True, network=network)
    return ToolContext(session=session, scheduler=scheduler)


async def run(ctx: ToolContext, command: str, **extra: object) -> ToolResultBlock:
    with trio.fail_after(30):
        return await bash.invoke({"command": command, **extra}, ctx)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "work", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


async def test_writes_inside_work_and_outside_fail(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, outside = dirs
    ctx = sandboxed(root, scheduler)
    inside = await run(ctx, "echo data > inside.txt && cat inside.txt")
    assert not inside.is_error and inside.text == "data"
    blocked = await run(ctx, f"touch {outside}/escaped")
    assert blocked.is_error  # /tmp is private inside, so the host's outside/ is not even there
    assert not (outside / "escaped").exists()
    system = await run(ctx, "touch /usr/claw-sandbox-probe")
    assert system.is_error and "Read-only file system" in system.text
    private_tmp = await run(ctx, "echo x > /tmp/claw-sandbox-probe && ls /tmp")
    assert not private_tmp.is_error
    assert not Path("/tmp/claw-sandbox-probe").exists()


async def test_the_working_directory_still_persists(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    (root / "sub").mkdir()
    ctx = sandboxed(root, scheduler)
    await run(ctx, "cd sub")
    assert ctx.session.cwd == (root / "sub").resolve()


async def test_network_is_off_unless_allowed(dirs: tuple[Path, Path], scheduler: Scheduler) -> None:
    root, _ = dirs
    probe = (
        'python3 -c "import urllib.request,sys; '
        'print(urllib.request.urlopen(sys.argv[1], timeout=5).status)" {url}'
    )
    async with open_fake_model_server(Script([], responder=lambda body: Turn.say("x"))) as server:
        url = f"{server.base_url}/health"
        offline = await run(sandboxed(root, scheduler), probe.format(url=url))
        online = await run(sandboxed(root, scheduler, network=True), probe.format(url=url))
    assert offline.is_error and "Connection refused" in offline.text
    assert "404" in online.text  # it reached the server (which has no such route)


def host_processes(marker: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


async def test_no_process_survives_a_timeout(dirs: tuple[Path, Path], scheduler: Scheduler) -> None:
    root, _ = dirs
    ctx = sandboxed(root, scheduler)
    result = await run(ctx, "sleep 301.25 & sleep 302.25 & wait", timeout=800)
    assert result.is_error and "timed out" in result.text
    with trio.fail_after(5):
        while host_processes("sleep 30[12].25"):
            await trio.sleep(0.05)


async def test_processes_only_see_their_own_namespace(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    result = await run(sandboxed(root, scheduler), "ps -e -o pid= | wc -l")
    assert int(result.text) < 10  # the sandbox's own few processes, not the host's


async def test_missing_bwrap_is_a_clear_error(
    dirs: tuple[Path, Path], scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = dirs
    monkeypatch.setenv("PATH", str(root))  # a PATH where no bwrap can be found
    result = await run(sandboxed(root, scheduler), "echo hi")
    assert result.is_error
    assert (
        "bubblewrap (bwrap) is not installed" in result.text
        and "apt-get install bubblewrap" in result.text
    )
