"""Starting a command's process from a thread that lives as long as claw does.

Why not ``trio.lowlevel.open_process``: it forks in a worker thread of trio's
thread cache, and such a thread exits after ten idle seconds. Linux ties a
child's parent-death signal (``PR_SET_PDEATHSIG``, which bubblewrap's
``--die-with-parent`` sets) to the *thread* that forked it, not the process:
so a sandboxed command was killed about ten seconds after it started, whatever
its timeout, and a background dev server with it. Here every fork happens on
one long-lived thread (``claw-spawn``), so the signal means what it says: the
sandbox dies when claw dies, and not before.

:class:`ChildProcess` is the small part of :class:`trio.Process` the shell
tools use (``pid``, ``stdout``, ``wait``, ``returncode``), waiting through a
pidfd like trio does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import trio

__all__ = ["ChildProcess", "open_child"]

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _spawner() -> ThreadPoolExecutor:
    """The one forking thread of the process (threads of an executor never idle out).

    Process-wide on purpose: it holds no state of any runtime, only the thread
    the kernel remembers as every child's parent.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claw-spawn")
        return _executor


class ChildProcess:
    """A started command: its pid, its output pipe, and a way to wait for it."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: trio.lowlevel.FdStream) -> None:
        self._popen = popen
        self.stdout = stdout
        self._pidfd: int | None = os.pidfd_open(popen.pid)
        self._wait_lock = trio.Lock()

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has been reaped (negative: killed by that signal)."""
        if self._popen.returncode is None:
            self._popen.poll()
            if self._popen.returncode is not None:
                self._close_pidfd()
        return self._popen.returncode

    async def wait(self) -> int:
        """Wait until the process exits; its exit status."""
        async with self._wait_lock:
            if self.returncode is None and self._pidfd is not None:
                with contextlib.suppress(trio.ClosedResourceError):
                    await trio.lowlevel.wait_readable(self._pidfd)
                self._popen.wait()  # reaps; the pidfd said it has exited
                self._close_pidfd()
        code = self._popen.returncode
        assert code is not None
        return code

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            fd, self._pidfd = self._pidfd, None
            trio.lowlevel.notify_closing(fd)
            os.close(fd)


async def open_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
) -> ChildProcess:
    """Start ``argv`` in a new session, stdin empty, stdout and stderr on one pipe."""
    read_end, write_end = os.pipe()
    try:
        future: Future[subprocess.Popen[bytes]] = _spawner().submit(
            subprocess.Popen,
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        popen = await trio.to_thread.run_sync(future.result)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return ChildProcess(popen, trio.lowlevel.FdStream(read_end))
