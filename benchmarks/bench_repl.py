"""Time to prompt of the interactive terminal, measured through a pseudo-terminal.

* ``claw --version``, spawn to exit: the floor (Python's own start and nothing).
* ``claw``, spawn to the prompt on the screen: the target is under 0.4 s.
* ``claw``, spawn to the first answer of a line typed as soon as the prompt
  shows (the runtime, the plugins and the session load while it is typed),
  beside ``claw -p hi``, spawn to exit, which does the same work headless.

The pseudo-terminal answers cursor-position requests as a terminal does, so
prompt_toolkit draws as it would for a person. The fake model server runs in
its own process. Each figure is the median of ``--runs`` fresh processes
(after one warm-up); the load average is printed, since a loaded machine
stretches every figure.

    python benchmarks/bench_repl.py [--runs 9]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claw_runtime.testing.script import Turn, dump_script

BIN = Path(sys.executable).parent
PROMPT = "\u276f ".encode()
ANSWER = b"pong"
CURSOR_REQUEST = b"\x1b[6n"


def _spawn(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: claw on the pseudo-terminal
        try:
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    return pid, fd


def _read_until(fd: int, wanted: bytes, deadline: float, seen: bytearray) -> bool:
    """Read the terminal until ``wanted`` appears after what was ``seen``; answer CPRs."""
    start = len(seen)
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            return False
        if not chunk:
            return False
        seen.extend(chunk)
        if CURSOR_REQUEST in chunk:
            os.write(fd, b"\x1b[1;1R")
        if wanted in seen[start:]:
            return True
    return False


def _finish(pid: int, fd: int) -> None:
    """End the child: Ctrl-D at its prompt, then wait (SIGKILL if it lingers)."""
    with contextlib.suppress(OSError):  # it has already gone
        os.write(fd, b"\x04")
    deadline = time.monotonic() + 20
    seen = bytearray()
    while time.monotonic() < deadline:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        _read_until(fd, b"\x00never\x00", time.monotonic() + 0.05, seen)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    os.close(fd)


def to_exit(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawn to exit on a pseudo-terminal."""
    start = time.perf_counter()
    pid, fd = _spawn(argv, env, cwd)
    seen = bytearray()
    _read_until(fd, b"\x00never\x00", time.monotonic() + 60, seen)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed: {bytes(seen)[-1500:]!r}")
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU_AT_PROMPT: list[float] = []


def to_prompt(argv: list[str], env: dict[str, str], cwd: Path, *, answer: bool) -> float:
    """Seconds from spawn to the prompt (or, with ``answer``, to the answer of "ping")."""
    start = time.perf_counter()
    pid, fd = _spawn(argv, env, cwd)
    seen = bytearray()
    try:
        if not _read_until(fd, PROMPT, time.monotonic() + 60, seen):
            raise RuntimeError(f"no prompt: {bytes(seen)[-1500:]!r}")
        at_prompt = time.perf_counter() - start
        if not answer:
            CPU_AT_PROMPT.append(cpu_seconds(pid))
            return at_prompt
        os.write(fd, b"ping\r")
        if not _read_until(fd, ANSWER, time.monotonic() + 60, seen):
            raise RuntimeError(f"no answer: {bytes(seen)[-1500:]!r}")
        return time.perf_counter() - start
    finally:
        _finish(pid, fd)


def median(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    options = parser.parse_args()
    runs = options.runs
    claw = str(BIN / "claw")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        script = root / "script.json"
        script.write_bytes(dump_script([Turn.say("pong")] * (3 * (runs + 1))))
        server = subprocess.Popen(
            [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
            stdout=subprocess.PIPE,
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().decode().strip()
            env = {
                "PATH": os.environ["PATH"],
                "HOME": str(root / "home"),
                "TERM": "xterm-256color",
                "CLAW_CONFIG_DIR": str(root / "claw-home"),
                "ANTHROPIC_BASE_URL": base_url,
                "ANTHROPIC_API_KEY": "bench",
            }
            figures: dict[str, list[float]] = {}

            def measure(name: str, fn: object, *args: object, **kwargs: object) -> None:
                assert callable(fn)
                fn(*args, **kwargs)  # warm-up: caches, .pyc files
                figures[name] = [fn(*args, **kwargs) for _ in range(runs)]

            measure("claw --version (spawn to exit)", to_exit, [claw, "--version"], env, project)
            measure("claw (spawn to prompt)", to_prompt, [claw], env, project, answer=False)
            figures["claw (CPU time used at the prompt)"] = CPU_AT_PROMPT[-runs:]
            measure(
                "claw, 'ping' typed at once (to answer)",
                to_prompt,
                [claw],
                env,
                project,
                answer=True,
            )
            measure(
                "claw -p ping (spawn to exit)",
                to_exit,
                [claw, "-p", "ping", "--no-session"],
                env,
                project,
            )
        finally:
            server.terminate()
            server.wait()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"median of {runs} runs; load average {load}; {os.cpu_count()} CPUs")
    for name, samples in figures.items():
        spread = f"(min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f})"
        print(f"  {name:42} {median(samples)}  {spread}")


if __name__ == "__main__":
    main()
