"""Killing a command's processes even when claw itself is killed with SIGKILL.

claw kills every command's tree when the command ends, times out or is
cancelled (see ``_process_tree``), but a process killed with ``kill -9`` runs
no code: its commands would live on. So the first command of a claw process
starts a small *reaper* beside it: a separate Python process that reads the
list of live process trees from a pipe (``+ target`` when a tree starts,
``- target`` when it is gone; a target is a cgroup directory or a process
group id). The pipe's other end belongs to claw alone, so the reaper reads end
of file exactly when claw is gone, however it went; it then kills what is
still listed and exits. A claw that ends normally has no tree listed by then,
and the reaper exits quietly.

The reaper is process-wide (like the spawning thread): it holds nothing of
any runtime, only pids and cgroup paths.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading

__all__ = ["forget", "watch"]

_REAPER = r"""
import os, signal, sys, time
live = set()
for line in sys.stdin:
    op, _, target = line.rstrip("\n").partition(" ")
    if op == "+":
        live.add(target)
    elif op == "-":
        live.discard(target)
for target in live:
    try:
        if target.startswith("/"):
            try:
                with open(os.path.join(target, "cgroup.kill"), "w") as f:
                    f.write("1")
            except OSError:
                with open(os.path.join(target, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        os.kill(int(pid), signal.SIGKILL)
        else:
            os.killpg(int(target), signal.SIGKILL)
    except (OSError, ValueError):
        pass
for target in live:
    if target.startswith("/"):
        for _ in range(100):
            try:
                os.rmdir(target)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
"""

_lock = threading.Lock()
_pipe: int | None = None
_process: subprocess.Popen[bytes] | None = None  # kept: it outlives claw, never waited for
_broken = False


def _reaper_pipe() -> int | None:
    """The write end of the pipe to the reaper, starting it the first time."""
    global _pipe, _process, _broken
    if _pipe is not None or _broken:
        return _pipe
    read_end, write_end = os.pipe()  # not inheritable: no command holds the pipe open
    try:
        _process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _REAPER],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to claw's group is not for the reaper
        )
    except OSError:
        os.close(write_end)
        _broken = True
        return None
    finally:
        os.close(read_end)
    _pipe = write_end
    atexit.register(_close)
    return _pipe


def _close() -> None:
    """At a normal exit: end of file for the reaper now, and wait for it to finish."""
    global _pipe, _broken
    with _lock:
        _broken = True  # no new reaper while the interpreter shuts down
        if _pipe is not None:
            os.close(_pipe)
            _pipe = None
    if _process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            _process.wait(timeout=5)


def _send(line: str) -> None:
    global _broken
    with _lock:
        pipe = _reaper_pipe()
        if pipe is None:
            return
        try:
            os.write(pipe, line.encode())
        except OSError:  # the reaper died: nothing to keep telling
            _broken = True


def watch(target: str) -> None:
    """Kill ``target`` (a cgroup directory or a process group id) if claw dies first."""
    _send(f"+ {target}\n")


def forget(target: str) -> None:
    """``target`` is gone: nothing for the reaper to do about it."""
    with contextlib.suppress(Exception):
        _send(f"- {target}\n")
