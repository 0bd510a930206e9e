"""Short blocking work on the event loop once it has proved short; a worker thread otherwise.

Each session's ``prepare`` work (``ContextProcessor.prepare``) is a few dozen
``stat`` calls and small reads. In a worker thread, every one of those calls
gives Python's GIL away and must win it back from the busy trio thread, which
waits up to the interpreter's switch interval each time: with many sessions
opening at once, that hand-over cost more than the work itself (1,000
concurrent sessions of 5 turns: 8.9-9.9 s of CPU with a thread per prepare,
7.0-8.5 s run in place; docs/performance.md). On a slow filesystem (a network
home directory) the same calls wait on the disk, and the loop must not.

So the first call of a trio run goes to a worker thread; once a call has spent
less than ``budget_s`` waiting (wall time minus the calling thread's CPU time,
so a long garbage collection does not count as waiting), the next ones run in
place. One run in place that waited longer (the disk, or the machine, was slow)
sends the calls of the next ``cooldown_s`` back to worker threads. How long a
call in a worker thread waited says little when the loop is busy (it includes
winning the GIL back), so only a quick one counts there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import attrs
import trio

__all__ = ["InlineWhileFast", "for_this_run"]

T = TypeVar("T")

DEFAULT_BUDGET_S = 0.05
"""A call that waited longer than this (50 ms) was slow: 1,000 sessions preparing in
place on this project's 2-core test machine waited 1 µs at the median, 16 ms at most."""

DEFAULT_COOLDOWN_S = 1.0
"""After a slow call in place, how long calls go to worker threads again."""


@attrs.define(eq=False)
class InlineWhileFast:
    """Runs blocking calls in place while they keep proving quick (see the module)."""

    budget_s: float = DEFAULT_BUDGET_S
    cooldown_s: float = DEFAULT_COOLDOWN_S
    wall: Callable[[], float] = time.perf_counter
    cpu: Callable[[], float] = time.thread_time
    in_place_from: float = math.inf
    """The ``wall`` time from which calls run on the event loop (none proved quick: never)."""

    async def run(self, fn: Callable[[], T]) -> T:
        if self.wall() >= self.in_place_from:
            return self._timed(fn, in_place=True)
        return await trio.to_thread.run_sync(self._timed, fn, False)

    def _timed(self, fn: Callable[[], T], in_place: bool) -> T:
        wall, cpu = self.wall(), self.cpu()
        try:
            return fn()
        finally:
            now = self.wall()
            if (now - wall) - (self.cpu() - cpu) < self.budget_s:
                if not in_place:
                    self.in_place_from = now
            elif in_place:
                self.in_place_from = now + self.cooldown_s


_RUNNERS: trio.lowlevel.RunVar[InlineWhileFast] = trio.lowlevel.RunVar("claw_inline_while_fast")


def for_this_run() -> InlineWhileFast:
    """The trio run's runner, shared by its runtimes and sessions (one filesystem)."""
    try:
        return _RUNNERS.get()
    except LookupError:
        runner = InlineWhileFast()
        _RUNNERS.set(runner)
        return runner
