"""Running shell commands in their own process trees, and never leaving orphans.

Every command runs as ``bash -c`` in a new session, inside its own
:class:`~claw_runtime.tools._process_tree.ProcessTree` (a cgroup when one can
be made, else a /proc walk; sandboxed commands also have a PID namespace):
on timeout, cancellation or KillShell the whole tree is killed, which reaches
``setsid`` and double-forked children too, not only the process group. A
foreground command's tree is also cleared when the command itself exits, so
nothing it left running in the background outlives the call; long-running
work belongs in ``run_in_background``.

The environment is the one the caller passes (the session's,
``SessionState.env``; never read from ``os.environ`` here) with the caller's
overrides applied through
:func:`~claw_runtime.tools._environment.child_environment`, so an override can
never set a shell or interpreter start-up variable.
"""

from __future__ import annotations

import codecs
import os
import shlex
import signal
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import trio

from claw_runtime.tools._environment import child_environment
from claw_runtime.tools._process_tree import ProcessTree
from claw_runtime.tools._spawn import ChildProcess, open_child

__all__ = [
    "OutputBuffer",
    "ShellResult",
    "kill_group",
    "run_foreground",
    "start_process",
    "terminate_group",
    "tree_of",
    "watch_tree",
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


_TREES: weakref.WeakKeyDictionary[ChildProcess, ProcessTree] = weakref.WeakKeyDictionary()


def tree_of(process: ChildProcess) -> ProcessTree:
    """The tree :func:`start_process` made for ``process`` (a bare one for others)."""
    tree = _TREES.get(process)
    if tree is None:
        tree = _TREES[process] = ProcessTree(root_pid=process.pid)
    return tree


def kill_group(process: ChildProcess, sig: int = signal.SIGKILL) -> None:
    """Signal every process of the command's tree (group, cgroup, what /proc showed)."""
    tree_of(process).signal(sig)


async def terminate_group(process: ChildProcess) -> None:
    """SIGTERM the tree, give it a moment, then SIGKILL all of it; reap. Shielded."""
    with trio.CancelScope(shield=True):
        kill_group(process, signal.SIGTERM)
        with trio.move_on_after(GRACE_PERIOD_S):
            await process.wait()
        kill_group(process, signal.SIGKILL)
        await process.wait()
        await tree_of(process).close()


async def watch_tree(process: ChildProcess) -> None:
    """Keep the /proc fallback's record of the tree fresh until cancelled."""
    await tree_of(process).watch()


async def start_process(
    command: str,
    cwd: Path,
    env: Mapping[str, str] | None,
    prefix: Sequence[str] = (),
    *,
    base_env: Mapping[str, str],
    finish_env: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> ChildProcess:
    """Start ``bash -c command`` in a new session and its own process tree.

    ``prefix`` wraps it (the sandbox). The environment is ``base_env`` (the
    session's, whole: an empty one is empty) with the overrides ``env``
    applied except start-up variables; ``finish_env`` may then filter it (the
    sandbox drops credentials).
    """
    full_env = child_environment(base_env, env or {})
    if finish_env is not None:
        full_env = finish_env(full_env)
    tree = ProcessTree.create()
    try:
        process = await open_child(
            tree.wrap([*prefix, "bash", "-c", command]), cwd=cwd, env=full_env
        )
    except BaseException:
        await tree.close()
        raise
    _TREES[process] = tree
    tree.started(process.pid)
    return process


async def _pump(process: ChildProcess, buffer: OutputBuffer, done: trio.Event) -> None:
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
    base_env: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    sandbox: Callable[[Path], Sequence[str]] | None = None,
    finish_env: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> ShellResult:
    """Run ``command`` to completion (or timeout); learn the directory it ended in.

    ``base_env`` and ``env`` are as for :func:`start_process`.

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
    process = await start_process(
        script, cwd, env, prefix, base_env=base_env, finish_env=finish_env
    )
    timed_out = False
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_pump, process, buffer, drained)
            nursery.start_soon(watch_tree, process)
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
            await tree_of(process).close()
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
    """The directory the command ended in, as ``pwd -P`` wrote it (bytes: a directory
    name need not be UTF-8, and ``os.fsdecode`` keeps such bytes as they are)."""
    try:
        raw = Path(path).read_bytes().strip()
    except OSError:
        return None
    if not raw:
        return None
    directory = Path(os.fsdecode(raw))
    return directory if directory.is_dir() else None
