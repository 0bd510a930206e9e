"""The interactive terminal, measured through a pseudo-terminal.

Time to prompt:

* ``claw --version``, spawn to exit: the floor (Python's own start and nothing).
* ``claw``, spawn to the prompt on the screen: the target is under 0.4 s.
* ``claw``, spawn to the first answer of a line typed as soon as the prompt
  shows (the runtime, the plugins and the session load while it is typed),
  beside ``claw -p hi``, spawn to exit, which does the same work headless.

Streaming (``--streaming``; the fake model server runs in this process, in a
thread, so its clock and the reader's are the same):

* token to screen: each text delta of a streamed answer carries a unique word;
  the server notes when it wrote the delta to its socket, the reader when the
  word first appears on the pseudo-terminal. The first delta of each answer is
  reported apart (the target: drawn within 20 ms), then all of them.
* typing while a turn streams: keys written to the pseudo-terminal while a long
  answer streams, and the time until each one is shown.

The pseudo-terminal answers cursor-position requests as a terminal does, so
prompt_toolkit draws as it would for a person. The fake model server runs in
its own process. Each figure is the median of ``--runs`` fresh processes
(after one warm-up); the load average is printed, since a loaded machine
stretches every figure.

    python benchmarks/bench_repl.py [--runs 9] [--streaming-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import random
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claw_runtime.testing.script import Script, Turn, dump_script

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


# ------------------------------------------------------------------ streaming


class _Reader:
    """The pseudo-terminal's output as it arrives, with the time each byte was read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = bytearray()
        self.times: list[tuple[int, float]] = []  # (end offset of a read, when it was read)

    def read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        now = time.perf_counter()
        self.seen.extend(chunk)
        self.times.append((len(self.seen), now))
        if CURSOR_REQUEST in chunk:
            os.write(self.fd, b"\x1b[1;1R")
        return True

    def until(self, wanted: bytes, start: int, deadline: float) -> int:
        """Read until ``wanted`` appears at or after offset ``start``; its offset."""
        while True:
            found = self.seen.find(wanted, start)
            if found >= 0:
                return found
            if time.monotonic() > deadline or not self.read(0.05):
                raise RuntimeError(f"never shown: {wanted!r}: {bytes(self.seen)[-800:]!r}")

    def shown_at(self, offset: int) -> float:
        """When the byte at ``offset`` was read."""
        for end, when in self.times:
            if end > offset:
                return when
        raise ValueError(offset)


def _word(turn: int, index: int) -> str:
    return f"q{turn:02d}w{index:03d} "


WORDS_PER_ANSWER = 40
KEYS = b"QJKZ"
WORD_DELAY_S = 0.03


def _streaming_turns(turns: int) -> list[Turn]:
    """Answers of fixed-width unique words, one delta per word, WORD_DELAY_S apart."""
    return [
        Turn.say(
            "".join(_word(t, i) for i in range(WORDS_PER_ANSWER)),
            chunk_size=len(_word(0, 0)),
            delay_s=WORD_DELAY_S,
        )
        for t in range(turns)
    ]


class _ServerThread:
    """The fake model server in a thread of this process, noting when it sends each word."""

    def __init__(self, turns: list[Turn]) -> None:
        import threading

        from claw_runtime.testing import fake_server

        self.sent: dict[bytes, float] = {}
        self.ready = threading.Event()
        self.base_url = ""
        original = fake_server._send

        async def send(stream: object, conn: object, event: object) -> None:
            data = getattr(event, "data", b"")
            if data and b"text_delta" in data:
                now = time.perf_counter()  # before the write: the reader may see it first
                for word in _WORD.findall(data):
                    self.sent.setdefault(word, now)
            await original(stream, conn, event)  # type: ignore[arg-type]

        fake_server._send = send  # this process only
        self.script = Script(turns)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(30)

    def _run(self) -> None:
        import trio

        from claw_runtime.testing import open_fake_model_server

        async def main() -> None:
            async with open_fake_model_server(self.script) as server:
                self.base_url = server.base_url
                self.ready.set()
                await trio.sleep_forever()

        trio.run(main)


_WORD = re.compile(rb"q\d\dw\d\d\d")
STATUS_END = b"(session $"


def streaming(env: dict[str, str], project: Path, turns: int) -> dict[str, list[float]]:
    """Token-to-screen delays (first delta of each answer, and all) and key echo delays."""
    server = _ServerThread(_streaming_turns(turns + 1))
    env = {**env, "ANTHROPIC_BASE_URL": server.base_url}
    pid, fd = _spawn([str(BIN / "claw")], env, project)
    reader = _Reader(fd)
    first: list[float] = []
    every: list[float] = []
    echoes: list[float] = []
    try:
        deadline = time.monotonic() + 120
        reader.until(PROMPT, 0, deadline)
        for turn in range(turns + 1):
            start = len(reader.seen)
            os.write(fd, b"go\r")
            typed: list[tuple[bytes, int, float]] = []
            for index in range(WORDS_PER_ANSWER):
                word = _word(turn, index).strip().encode()
                at = reader.until(word, start, deadline)
                delay = reader.shown_at(at) - server.sent[word]
                if turn:  # the first answer warms caches up
                    every.append(delay)
                    if index == 0:
                        first.append(delay)
                if turn and index % 8 == 4 and len(typed) < len(KEYS):
                    # What is typed so far, shown from now on (letters no answer has).
                    so_far = KEYS[: len(typed) + 1]
                    # At a random moment between two words, as a person types: right
                    # after a word the view has just redrawn and waits for the frame.
                    pause_until = time.perf_counter() + random.uniform(0, WORD_DELAY_S)
                    while time.perf_counter() < pause_until:
                        reader.read(max(0.0, pause_until - time.perf_counter()))
                    typed.append((so_far, len(reader.seen), time.perf_counter()))
                    os.write(fd, so_far[-1:])
            end = reader.until(STATUS_END, start, deadline)
            reader.until(PROMPT, end, deadline)
            for so_far, offset, sent in typed:  # shown while streaming, or at the next prompt
                at = reader.until(so_far, offset, deadline)
                echoes.append(reader.shown_at(at) - sent)
            if typed:
                os.write(fd, b"\x15")  # Ctrl-U: the keys typed ahead leave the next prompt
    finally:
        _finish(pid, fd)
    return {
        "first token of an answer, server write to screen": first,
        "every token, server write to screen": every,
        "key typed while streaming, to shown": echoes,
    }


def report(figures: dict[str, list[float]]) -> None:
    for name, samples in figures.items():
        if not samples:
            print(f"  {name:52} (no samples)")
            continue
        ordered = sorted(samples)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(
            f"  {name:52} median {statistics.median(samples) * 1000:6.1f} ms  "
            f"p95 {p95 * 1000:6.1f} ms  max {ordered[-1] * 1000:6.1f} ms  (n={len(samples)})"
        )


def median(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:7.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--streaming-only", action="store_true", help="skip time to prompt")
    parser.add_argument("--answers", type=int, default=15, help="streamed answers to time")
    options = parser.parse_args()
    runs = options.runs
    claw = str(BIN / "claw")
    if not options.streaming_only:
        time_to_prompt(runs, claw)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "project").mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(root / "home"),
            "TERM": "xterm-256color",
            "CLAW_CONFIG_DIR": str(root / "claw-home"),
            "ANTHROPIC_API_KEY": "bench",
        }
        streamed = streaming(env, root / "project", options.answers)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{options.answers} streamed answers; load average {load}; {os.cpu_count()} CPUs")
    report(streamed)


def time_to_prompt(runs: int, claw: str) -> None:
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
