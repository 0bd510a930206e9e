"""Sandboxed Bash under the real bubblewrap: writes, protected paths, privileges, sockets,
credentials, network, and no surviving processes (sandboxed or not)."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from claw_runtime.models import ToolResultBlock
from claw_runtime.scheduler import Scheduler, open_scheduler
from claw_runtime.testing import Script, Turn, open_fake_model_server
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools._process_tree import ProcessTree, cgroup_root
from claw_runtime.tools._sandbox import SANDBOX_KEY, SandboxConfig
from claw_runtime.tools.bash import bash, kill_shell
from claw_runtime.tools.web_fetch import web_fetch

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
    session = SessionState(session_id="s", cwd=root)
    session.extras[SANDBOX_KEY] = SandboxConfig(enabled=True)
    monkeypatch.setenv("PATH", str(root))  # a PATH where no bwrap can be found
    result = await run(ToolContext(session=session, scheduler=scheduler), "echo hi")
    assert result.is_error
    assert (
        "bubblewrap (bwrap) is not installed" in result.text
        and "apt-get install bubblewrap" in result.text
    )


# --------------------------------------------------------------------------- hardening


def git_repo(root: Path) -> None:
    require_binary("git")
    subprocess.run(["git", "init", "-q", str(root)], check=True)


async def test_protected_paths_cannot_be_changed_or_created(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    git_repo(root)
    (root / ".claude").mkdir()
    (root / ".claude" / "settings.json").write_text("{}")
    await trio.run_process(["git", "-C", str(root), "config", "core.hooksPath", "githooks"])
    config_before = (root / ".git" / "config").read_text()
    ctx = sandboxed(root, scheduler)
    attempts = [
        "mkdir -p .claw && echo '{}' > .claw/settings.local.json",
        "echo '{\"permissions\":{}}' > .claude/settings.json",
        "rm -rf .claude",
        "mv .claude moved",
        "echo '{}' > .mcp.json",
        "echo 'echo pwned' > .git/hooks/pre-commit",
        "git config core.fsmonitor 'touch /tmp/pwned'",
        "echo '*' > .git/info/exclude",
        "mkdir -p githooks && echo 'echo pwned' > githooks/pre-commit",
        "echo 'echo pwned' >> .bashrc",
        "echo 'echo pwned' > .envrc",
        "mkdir -p .vscode && echo '{}' > .vscode/tasks.json",
        "mkdir -p .husky && echo x > .husky/pre-commit",
        "echo x > .zshrc",
    ]
    for command in attempts:
        result = await run(ctx, command)
        assert result.is_error, command
    assert (root / ".claude" / "settings.json").read_text() == "{}"
    assert (root / ".git" / "config").read_text() == config_before
    for gone in (".claw", ".mcp.json", "githooks", ".bashrc", ".envrc", ".vscode", ".husky"):
        assert not (root / gone).exists(), gone  # placeholders are removed afterwards
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
    ok = await run(ctx, "echo fine > ordinary.txt && git status --short")
    assert not ok.is_error, ok.text
    assert (root / "ordinary.txt").read_text() == "fine\n"


async def test_a_symlinked_protected_path_is_refused(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, outside = dirs
    (root / ".claw").symlink_to(outside)
    result = await run(sandboxed(root, scheduler), "echo hi")
    assert result.is_error and "cannot protect" in result.text and "symlink" in result.text


async def test_no_repository_may_be_planted(dirs: tuple[Path, Path], scheduler: Scheduler) -> None:
    root, _ = dirs
    result = await run(sandboxed(root, scheduler), "mkdir -p .git/hooks")
    assert result.is_error
    assert not (root / ".git").exists()


async def test_root_inside_is_not_root_outside(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    ctx = sandboxed(root, scheduler)
    uid = await run(ctx, "id -u")
    assert uid.text == str(os.getuid())
    caps = await run(ctx, "grep CapEff /proc/self/status")
    assert caps.text.split()[-1] == "0000000000000000"
    remount = await run(ctx, "mount -o remount,rw / && touch /usr/claw-remounted")
    assert remount.is_error and not Path("/usr/claw-remounted").exists()
    etc = await run(ctx, "echo x > /etc/claw-sandbox-etc")
    assert etc.is_error and not Path("/etc/claw-sandbox-etc").exists()
    nested = await run(ctx, "unshare -Ur true")
    assert nested.is_error  # no nested user namespace to regain capabilities in


def hidden_dir(tmp_path: Path) -> Path:
    """A directory outside /tmp (which is private anyway) that the sandbox hides: under /run."""
    try:
        path = Path(tempfile.mkdtemp(prefix="claw-sock-", dir="/run"))
    except OSError:
        pytest.skip("cannot create a directory under /run here")
    return path


def serve_unix(path: Path) -> tuple[socket.socket, list[bytes]]:
    seen: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            seen.append(conn.recv(100) or b"connected")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, seen


async def test_host_unix_sockets_are_unreachable(
    dirs: tuple[Path, Path], scheduler: Scheduler, tmp_path: Path
) -> None:
    root, _ = dirs
    run_dir = hidden_dir(tmp_path)
    agent_dir = Path(tempfile.mkdtemp(prefix="claw-agent-", dir=Path.home()))
    servers = []
    try:
        servers.append(serve_unix(run_dir / "docker.sock"))
        servers.append(serve_unix(agent_dir / "agent.sock"))
        ctx = sandboxed(root, scheduler)
        ctx.session.env = {**os.environ, "SSH_AUTH_SOCK": str(agent_dir / "agent.sock")}
        probe = (
            'python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); '
            "s.connect(sys.argv[1]); s.sendall(b'hello')\" "
        )
        for path in (run_dir / "docker.sock", agent_dir / "agent.sock"):
            result = await run(ctx, probe + str(path))
            assert result.is_error, result.text
        await trio.sleep(0.2)
        assert [seen for _, seen in servers] == [[], []]
        with socket.socket(socket.AF_UNIX) as client:  # reachable from outside: the test is real
            client.connect(str(run_dir / "docker.sock"))
            client.sendall(b"outside")
        with trio.fail_after(5):
            while not servers[0][1]:
                await trio.sleep(0.02)
    finally:
        for server, _ in servers:
            server.close()
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(agent_dir, ignore_errors=True)


async def test_credentials_are_not_in_the_sandboxed_environment(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    ctx = sandboxed(root, scheduler)
    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-secret-1",
        "OPENAI_API_KEY": "sk-secret-2",
        "GITHUB_TOKEN": "ghp_secret3",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-4",
        "MY_SERVICE_PASSWORD": "hunter2-secret5",
        "DATABASE_URL": "postgres://u:secret6@db/x",
    }
    ctx.session.env = {"PATH": os.environ["PATH"], "KEEP_ME": "visible", **secrets}
    result = await run(ctx, "env; cat /proc/self/environ /proc/1/environ | tr '\\0' '\\n'")
    assert "KEEP_ME=visible" in result.text
    for value in secrets.values():
        assert value not in result.text


async def test_web_fetch_refuses_without_sandbox_network(
    dirs: tuple[Path, Path], scheduler: Scheduler
) -> None:
    root, _ = dirs
    requests: list[bytes] = []
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(
                trio.serve_tcp,
                lambda stream: record_request(stream, requests),
                0,
                host="127.0.0.1",
            )
        )
        port = listeners[0].socket.getsockname()[1]
        result = await web_fetch.invoke(
            {"url": f"http://127.0.0.1:{port}/", "prompt": "x"}, sandboxed(root, scheduler)
        )
        await trio.sleep(0.2)
        nursery.cancel_scope.cancel()
    assert result.is_error and "\n" not in result.text and "sandbox" in result.text
    assert requests == []


async def record_request(stream: trio.SocketStream, seen: list[bytes]) -> None:
    seen.append(await stream.receive_some(1000))
    await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


# --------------------------------------------------------------------------- no survivors


LEFTOVERS = [
    "(setsid sleep {n} &)",
    "nohup sh -c 'sleep {n}' >/dev/null 2>&1 &",
    "bash -c 'sleep {n} & disown'",
    'python3 -c "import os,time,sys; os.fork() and os._exit(0); os.setsid(); '
    'os.fork() and os._exit(0); os.close(1); time.sleep(float(sys.argv[1]))" {n}',
]


async def gone(marker: str) -> None:
    with trio.fail_after(5):
        while host_processes(marker):
            await trio.sleep(0.05)


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
@pytest.mark.parametrize("index", range(len(LEFTOVERS)))
async def test_no_leftover_survives_a_normal_end(
    dirs: tuple[Path, Path], scheduler: Scheduler, sandbox: bool, index: int
) -> None:
    root, _ = dirs
    marker = f"31{index}.{4 if sandbox else 5}71"
    ctx = sandboxed(root, scheduler) if sandbox else plain(root, scheduler)
    result = await run(ctx, LEFTOVERS[index].format(n=marker) + "; echo started")
    assert "started" in result.text, result.text
    await gone(marker)


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
async def test_no_leftover_survives_a_timeout_or_kill_shell(
    dirs: tuple[Path, Path], scheduler: Scheduler, sandbox: bool
) -> None:
    root, _ = dirs
    ctx = sandboxed(root, scheduler) if sandbox else plain(root, scheduler)
    suffix = 4 if sandbox else 5
    everything = "\n".join(LEFTOVERS).replace("{n}", f"320.{suffix}72")
    timed = await run(ctx, everything + "\nsleep 320", timeout=1500)
    assert timed.is_error and "timed out" in timed.text
    await gone(f"320.{suffix}72")
    started = await run(ctx, everything.replace("72", "73") + "\nsleep 321", run_in_background=True)
    assert "bash_1" in started.text
    with trio.fail_after(5):
        while len(host_processes(f"320.{suffix}73")) < len(LEFTOVERS):
            await trio.sleep(0.05)
    killed = await kill_shell.invoke({"shell_id": "bash_1"}, ctx)
    assert not killed.is_error
    await gone(f"320.{suffix}73")


def plain(root: Path, scheduler: Scheduler) -> ToolContext:
    return ToolContext(session=SessionState(session_id="p", cwd=root), scheduler=scheduler)


def test_the_process_tree_uses_a_cgroup_when_it_can() -> None:
    tree = ProcessTree.create()
    if cgroup_root() is None:
        assert tree.cgroup is None
        pytest.skip("no writable cgroup v2 here: the /proc walk fallback is used")
    assert tree.cgroup is not None and tree.cgroup.is_dir()
    trio.run(tree.close)
    assert not tree.cgroup.exists()


# Run in a fresh interpreter where trio's worker threads idle out after 0.2 s
# instead of 10 (the constant is private; without it the test is only slower):
# the sandbox must outlive the thread that happened to ask for it.
_OUTLIVES_WORKER_THREAD = """
import sys, trio
from pathlib import Path
from trio._core import _thread_cache
_thread_cache.IDLE_TIMEOUT = 0.2
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools._sandbox import SANDBOX_KEY, SandboxConfig
from claw_runtime.tools.bash import bash

async def main() -> None:
    session = SessionState(session_id="s", cwd=Path(sys.argv[1]))
    session.extras[SANDBOX_KEY] = SandboxConfig(enabled=True)
    call = {"command": "sleep 1.5; echo survived"}
    result = await bash.invoke(call, ToolContext(session=session))
    print(result.text)

trio.run(main)
"""


def test_a_sandboxed_command_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """bwrap's --die-with-parent follows the forking *thread*: a trio worker thread that
    idled out used to take the sandbox with it (commands died after about ten seconds)."""
    require_binary("bwrap", "bubblewrap")
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _OUTLIVES_WORKER_THREAD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "survived"
