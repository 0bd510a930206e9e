"""Running shell commands in their own process groups, and never leaving orphans.

Every command runs as ``bash -c`` in a new session (so a new process group):
on timeout, cancellation or KillShell the whole group is signalled, which
reaches grandchildren too (``sleep 300 &`` inside the command). A foreground
command's group is also cleared when the command itself exits, so nothing it
left running in the background outlives the call; long-running work belongs
in ``run_in_background``.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shlex
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import trio

__all__ = [
    "OutputBuffer",
    "ShellResult",
    "kill_group",
    "run_foreground",
    "start_process",
    "terminate_group",
]

GRACE_PERIOD_S = 1.0
"""Between SIGTERM and SIGKILL when a command is stopped."""


@attrs.define(eq=False)
class OutputBuffer:
    """Collected output: the head and the tail are kept, the middle is counted.

    Test runs and builds put what matters at both ends, so a long output keeps
    ``limit // 2`` characters from each.
    """

    limit: int
    head: str = ""
    tail: str = ""
    omitted: int = 0
    _decoder: codecs.IncrementalDecoder = attrs.field(
        factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )

    def feed(self, data: bytes | bytearray, final: bool = False) -> str:
        text = self._decoder.decode(data, final)
        half = self.limit // 2
        if len(self.head) < half:
            take = half - len(self.head)
            self.head += text[:take]
            text = text[take:]
        if text:
            self.tail += text
            if len(self.tail) > half:
                self.omitted += len(self.tail) - half
                self.tail = self.tail[-half:]
        return text

    def render(self) -> str:
        if not self.omitted:
            return self.head + self.tail
        return (
            f"{self.head}\n\n[... {self.omitted} characters of output omitted ...]\n\n{self.tail}"
        )


@attrs.frozen(kw_only=True)
class ShellResult:
    output: str
    exit_code: int | None
    timed_out: bool
    new_cwd: Path | None


def kill_group(process: trio.Process, sig: int = signal.SIGKILL) -> None:
    """Signal the process's whole group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


async def terminate_group(process: trio.Process) -> None:
    """SIGTERM the group, give it a moment, then SIGKILL; reap the process. Shielded."""
    with trio.CancelScope(shield=True):
        kill_group(process, signal.SIGTERM)
        with trio.move_on_after(GRACE_PERIOD_S):
            await process.wait()
        kill_group(process, signal.SIGKILL)
        await process.wait()


async def start_process(
    command: str, cwd: Path, env: Mapping[str, str] | None, prefix: Sequence[str] = ()
) -> trio.Process:
    """Start ``bash -c command`` in a new session; ``prefix`` wraps it (the sandbox)."""
    full_env = {**os.environ, **(env or {})}
    return await trio.lowlevel.open_process(
        [*prefix, "bash", "-c", command],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _pump(process: trio.Process, buffer: OutputBuffer, done: trio.Event) -> None:
    assert process.stdout is not None
    try:
        while True:
            data = await process.stdout.receive_some(65536)
            if not data:
                break
            buffer.feed(data)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass
    finally:
        buffer.feed(b"", final=True)
        done.set()


async def run_foreground(
    command: str,
    *,
    cwd: Path,
    timeout_s: float,
    max_chars: int,
    env: Mapping[str, str] | None = None,
    sandbox: Callable[[Path], Sequence[str]] | None = None,
) -> ShellResult:
    """Run ``command`` to completion (or timeout); learn the directory it ended in.

    ``sandbox(cwd_file)`` returns the command prefix that confines it, given the
    file the command reports its final directory into (which must stay writable).
    """
    fd, cwd_file = tempfile.mkstemp(prefix="claw-cwd-")
    os.close(fd)
    script = (
        f"{command}\n__claw_status=$?\n"
        f"pwd -P > {shlex.quote(cwd_file)} 2>/dev/null\n"
        "exit $__claw_status"
    )
    buffer = OutputBuffer(max_chars)
    drained = trio.Event()
    prefix = sandbox(Path(cwd_file)) if sandbox is not None else ()
    process = await start_process(script, cwd, env, prefix)
    timed_out = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, process, buffer, drained)
            with trio.move_on_after(timeout_s) as deadline:
                await process.wait()
            timed_out = deadline.cancelled_caught
            if timed_out:
                await terminate_group(process)
            else:
                kill_group(process)  # whatever the command left running in the background
            with trio.move_on_after(GRACE_PERIOD_S):
                await drained.wait()
            nursery.cancel_scope.cancel()
    finally:
        if process.returncode is None:  # cancelled from outside
            await terminate_group(process)
        else:
            kill_group(process)
        if process.stdout is not None:
            with trio.CancelScope(shield=True):
                await process.stdout.aclose()
        new_cwd = _read_cwd(cwd_file)
        os.unlink(cwd_file)
    return ShellResult(
        output=buffer.render(),
        exit_code=None if timed_out else process.returncode,
        timed_out=timed_out,
        new_cwd=None if timed_out else new_cwd,
    )


def _read_cwd(path: str) -> Path | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return Path(text) if text and Path(text).is_dir() else None
