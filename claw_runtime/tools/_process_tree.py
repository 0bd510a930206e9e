"""Finding and killing every process a command started, however it tried to get away.

A process group is not enough: ``setsid sleep 300 &``, ``nohup sh -c ... &``
and a double fork (``(sleep 300 &)``) all leave it, and a daemon that
double-forks is reparented to init, so it is not a descendant any more
either. Three layers, strongest first:

1. **A cgroup v2 per command**, when the cgroup2 hierarchy is mounted and our
   own cgroup is writable (root, or a systemd-delegated user slice). The
   command joins ``<our cgroup>/claw-<pid>-<n>`` before it execs, every child
   inherits it whatever it does with sessions and forks, and ``cgroup.kill``
   (Linux 5.14+; else SIGKILL to each member of ``cgroup.procs``) kills them
   all at once. Nothing unprivileged can leave a cgroup; only a process with
   write access to an ancestor's ``cgroup.procs`` can (root running an
   *unsandboxed* command, deliberately).
2. **The sandbox's PID namespace** (see ``_sandbox``): bwrap runs the command
   under its own pid 1 with ``--die-with-parent``; when bwrap dies the kernel
   kills everything in the namespace, double-forked daemons included.
3. **A /proc walk**, when neither applies: the descendants of the command (by
   parent pid) and every process in its session or process group, recorded
   every :data:`WATCH_INTERVAL_S` while it runs and again at kill time, and
   killed by pid (checked against the start time so a reused pid is spared).
   What this cannot catch: a process that calls ``setsid`` *and* is
   reparented to init between two looks (a classic double-forking daemon that
   does so within ``WATCH_INTERVAL_S``).

All of this runs in claw. For when claw itself is killed with SIGKILL, a
reaper process beside it (``_reaper``) kills every tree still listed as live.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from pathlib import Path

import attrs
import trio

from claw_runtime.tools import _reaper

__all__ = ["WATCH_INTERVAL_S", "ProcessTree", "cgroup_root"]

WATCH_INTERVAL_S = 0.1
"""How often the /proc fallback records a running command's processes."""

_counter = itertools.count(1)
_JOIN = 'echo 0 > "$0" 2>/dev/null; exec "$@"'
"""Run by ``/bin/sh`` before the command: move this very process into the cgroup, then exec."""


def _cgroup2_mount() -> Path | None:
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" - ", 1)
        if len(fields) == 2 and fields[1].split(" ", 1)[0] == "cgroup2":
            return Path(fields[0].split()[4])
    return None


def cgroup_root() -> Path | None:
    """Our own cgroup v2 directory if we may create children in it, else ``None``."""
    mount = _cgroup2_mount()
    if mount is None:
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    own = next((line[3:] for line in lines if line.startswith("0::")), None)
    if own is None:
        return None
    path = mount / own.lstrip("/")
    procs = path / "cgroup.procs"
    if not (procs.exists() and os.access(path, os.W_OK) and os.access(procs, os.W_OK)):
        return None
    return path


def _stat(pid: int) -> tuple[int, int, int, int] | None:
    """``(ppid, pgrp, session, starttime)`` of ``pid``, or ``None`` if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _all_stats() -> dict[int, tuple[int, int, int, int]]:
    stats = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                stat = _stat(int(entry.name))
                if stat is not None:
                    stats[int(entry.name)] = stat
    return stats


@attrs.define(eq=False)
class ProcessTree:
    """All processes of one command: its cgroup if there is one, and what the /proc walk saw."""

    cgroup: Path | None = None
    root_pid: int | None = None
    seen: dict[int, int] = attrs.field(factory=dict)
    """pid -> start time of every process the /proc walk attributed to the command."""
    reaped_as: str | None = None
    """What the reaper kills if claw dies first (see ``_reaper``): the cgroup or group."""

    @classmethod
    def create(cls) -> ProcessTree:
        """A tree with a fresh cgroup when cgroups are usable, else one that walks /proc."""
        root = cgroup_root()
        if root is not None:
            path = root / f"claw-{os.getpid()}-{next(_counter)}"
            try:
                path.mkdir()
            except OSError:
                return cls()
            if (path / "cgroup.procs").exists():
                return cls(cgroup=path)
            with contextlib.suppress(OSError):
                path.rmdir()
        return cls()

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` prefixed so that the process joins the cgroup before it runs."""
        if self.cgroup is None:
            return argv
        return ["/bin/sh", "-c", _JOIN, str(self.cgroup / "cgroup.procs"), *argv]

    def started(self, pid: int) -> None:
        """The command runs as ``pid``, leader of its own process group."""
        self.root_pid = pid
        self.reaped_as = str(self.cgroup) if self.cgroup is not None else str(pid)
        _reaper.watch(self.reaped_as)
        self.record()

    def members(self) -> list[int]:
        """The pids in the cgroup (empty without one)."""
        if self.cgroup is None:
            return []
        try:
            text = (self.cgroup / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(line) for line in text.split()]

    def record(self) -> None:
        """Remember the command's descendants and its session's and group's members."""
        if self.root_pid is None:
            return
        stats = _all_stats()
        ours = {self.root_pid, *self.seen}
        children: dict[int, list[int]] = {}
        for pid, (ppid, pgrp, session, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
            if session == self.root_pid or pgrp == self.root_pid:
                ours.add(pid)
        queue = [pid for pid in ours if pid in stats]
        while queue:
            for child in children.get(queue.pop(), ()):
                if child not in ours:
                    ours.add(child)
                    queue.append(child)
        for pid in ours:
            stat = stats.get(pid)
            if stat is not None and self.seen.get(pid, stat[3]) == stat[3]:
                self.seen[pid] = stat[3]
        for pid in [pid for pid in self.seen if pid not in stats]:
            del self.seen[pid]  # gone; its pid may be reused by a stranger

    def signal(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process of the command that can be found."""
        if self.cgroup is not None and sig == signal.SIGKILL:
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.kill").write_text("1")
        for pid in self.members():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if self.root_pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.root_pid, sig)
        self.record()
        for pid, start in list(self.seen.items()):
            stat = _stat(pid)
            if stat is not None and stat[3] == start and pid != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    async def watch(self) -> None:
        """Record the tree until cancelled (only the /proc fallback needs it)."""
        if self.cgroup is not None:
            await trio.sleep_forever()
        while True:
            self.record()
            await trio.sleep(WATCH_INTERVAL_S)

    async def close(self) -> None:
        """Kill what is left, wait for the cgroup to empty and remove it. Shielded."""
        with trio.CancelScope(shield=True):
            try:
                await self._kill_and_remove()
            finally:
                if self.reaped_as is not None:
                    _reaper.forget(self.reaped_as)
                    self.reaped_as = None

    async def _kill_and_remove(self) -> None:
        self.signal(signal.SIGKILL)
        if self.cgroup is not None:
            with trio.move_on_after(5):
                while self.members():
                    self.signal(signal.SIGKILL)
                    await trio.sleep(0.02)
            with trio.move_on_after(1):
                while True:
                    try:
                        self.cgroup.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        await trio.sleep(0.02)
