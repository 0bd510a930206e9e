"""Noticing code that blocks the event loop, and still ending on a signal while it does.

Everything in claw shares one trio thread. A tool or hook that calls
``time.sleep(5)`` (or reads a big file synchronously) inside an ``async def``
freezes every other task: the renderer, the model stream, the signal watcher.

:class:`LoopWatchdog` is a ``trio.abc.Instrument``: it stamps the start of each
task step and, when a step ran longer than ``threshold_s`` (default 1 s,
``CLAW_BLOCKED_LOOP_WARN_S``; ``0`` turns the watchdog off), logs one warning
naming the trio task (``claw:tool:<Name>`` for tools) and how long the loop was
blocked. The per-step cost is two ``perf_counter`` calls and two attribute writes.

A daemon thread watches the same stamp while the loop is stuck (the loop cannot
watch itself). It logs ``event loop still blocked`` once per step that exceeds
``stuck_warn_s``, and, when :meth:`LoopWatchdog.exit_on_signals` is armed, ends
the process if a signal (SIGTERM) arrived while the loop was blocked and stays
unanswered for ``grace_s``: it calls the ``on_exit`` callback the caller gave
(write the result line, kill tool process groups) and then ``os._exit(128 + signum)``.

The chained signal handler runs in the main thread between bytecodes, which
Python does even while synchronous code blocks the loop (``time.sleep`` is
interrupted, the handler runs, the sleep resumes); trio's own handler, the
one it chains to, only queues the signal for a loop that is not running.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from types import FrameType
from typing import Any

import trio

from claw_runtime.logs import get_logger

__all__ = [
    "DEFAULT_THRESHOLD_S",
    "LoopWatchdog",
    "active_watchdog",
    "threshold_from_env",
    "watch_event_loop",
]

log = get_logger(__name__)

DEFAULT_THRESHOLD_S = 1.0
"""A step longer than this is reported (``CLAW_BLOCKED_LOOP_WARN_S``)."""

_ACTIVE: trio.lowlevel.RunVar[tuple[LoopWatchdog, ...]] = trio.lowlevel.RunVar(
    "claw_active_watchdogs", default=()
)
"""The watchdogs installed on the running trio loop, innermost last.

A ``RunVar`` is one value per ``trio.run``: two runs in two threads (an embedder
running several claws) never see each other's watchdog. It holds a tuple, replaced
rather than mutated, so a value read is never changed under the reader.
"""


def threshold_from_env(environ: Mapping[str, str]) -> float:
    """``CLAW_BLOCKED_LOOP_WARN_S`` as seconds; the default if unset or not a number."""
    raw = environ.get("CLAW_BLOCKED_LOOP_WARN_S", "").strip()
    if not raw:
        return DEFAULT_THRESHOLD_S
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_THRESHOLD_S
    return value if value >= 0 and value == value else DEFAULT_THRESHOLD_S


def active_watchdog() -> LoopWatchdog | None:
    """The innermost watchdog on this trio run (what ``claw -p`` arms for signals), or None.

    None as well outside a trio run.
    """
    try:
        active = _ACTIVE.get()
    except RuntimeError:  # not inside trio.run
        return None
    return active[-1] if active else None


class LoopWatchdog(trio.abc.Instrument):
    """Reports task steps that block the trio loop longer than ``threshold_s``."""

    def __init__(
        self,
        threshold_s: float = DEFAULT_THRESHOLD_S,
        *,
        stuck_warn_s: float = 10.0,
        poll_s: float | None = None,
        exit: Callable[[int], Any] = os._exit,
    ) -> None:
        self.threshold_s = threshold_s
        self.stuck_warn_s = stuck_warn_s
        self.poll_s = poll_s if poll_s is not None else min(0.25, max(threshold_s / 4, 0.01))
        self.reports: list[tuple[str, float]] = []
        """``(task name, seconds blocked)`` for each reported step, oldest first."""
        self._started = 0.0  # perf_counter at the start of the running step; 0: none running
        self._task_name = ""
        self._exit = exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._signal: tuple[int, float] | None = None  # (signum, perf_counter) not yet answered
        self._grace_s = 3.0
        self._on_exit: Callable[[int], None] | None = None

    # ----------------------------------------------------- trio.abc.Instrument

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._task_name = task.name
        self._started = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        started, self._started = self._started, 0.0
        if not started:
            return  # installed in the middle of this step
        blocked = time.perf_counter() - started
        if blocked > self.threshold_s:
            self._report(task.name, blocked)

    def _report(self, name: str, blocked: float) -> None:
        self.reports.append((name, blocked))
        log.warning(
            "event loop blocked",
            task=name,
            blocked_s=round(blocked, 3),
            threshold_s=self.threshold_s,
            hint="synchronous code in an async function: use trio.to_thread.run_sync or await",
        )

    # ----------------------------------------------------------------- thread

    def start(self) -> None:
        """Start the watching thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="claw-loop-watchdog")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None

    def blocked_for(self) -> float:
        """How long the step running now has held the loop (0 when none runs)."""
        started = self._started
        return time.perf_counter() - started if started else 0.0

    def _watch(self) -> None:
        warned_for = 0.0
        while not self._stop.wait(self.poll_s):
            started = self._started
            if not started:
                continue
            now = time.perf_counter()
            if now - started > self.stuck_warn_s and warned_for != started:
                warned_for = started
                log.warning(
                    "event loop still blocked",
                    task=self._task_name,
                    blocked_s=round(now - started, 3),
                )
            pending = self._signal
            if pending is None:
                continue
            signum, at = pending
            if started > at:
                self._signal = None  # the loop ran after the signal: trio has it
                continue
            if now - max(at, started) >= self._grace_s:
                self._emergency_exit(signum, now - started)
                return

    def _emergency_exit(self, signum: int, blocked: float) -> None:
        log.warning(
            "exiting: a signal arrived while the event loop was blocked",
            signal=signal.Signals(signum).name,
            task=self._task_name,
            blocked_s=round(blocked, 3),
        )
        try:
            if self._on_exit is not None:
                self._on_exit(signum)
        finally:
            self._exit(128 + signum)

    # ---------------------------------------------------------------- signals

    def note_signal(self, signum: int) -> None:
        """Record that ``signum`` arrived (safe from a signal handler)."""
        if self._signal is None:
            self._signal = (signum, time.perf_counter())

    @contextmanager
    def exit_on_signals(
        self,
        signals: Sequence[int],
        *,
        grace_s: float = 3.0,
        on_exit: Callable[[int], None] | None = None,
    ) -> Iterator[None]:
        """While inside, a signal the blocked loop cannot answer within ``grace_s`` ends us.

        Call it from the main thread *after* the trio signal receiver is open
        (it chains to the handler installed now, trio's, and restores it on
        exit). ``on_exit(signum)`` runs in the watchdog thread just before
        ``os._exit(128 + signum)``: it must be quick and thread-safe (write the
        result line, ``os.killpg`` the tool process groups).
        """
        self._grace_s = grace_s
        self._on_exit = on_exit
        previous = {s: signal.getsignal(s) for s in signals}

        def handler(signum: int, frame: FrameType | None) -> None:
            self.note_signal(signum)
            chained = previous.get(signum)
            if callable(chained):
                chained(signum, frame)

        for s in signals:
            signal.signal(s, handler)
        self.start()
        try:
            yield
        finally:
            for s, old in previous.items():
                if signal.getsignal(s) is handler:
                    signal.signal(s, old)
            self._on_exit = None
            self._signal = None


@asynccontextmanager
async def watch_event_loop(environ: Mapping[str, str]) -> AsyncIterator[LoopWatchdog | None]:
    """Install a :class:`LoopWatchdog` on the running trio loop for the block's duration.

    ``CLAW_BLOCKED_LOOP_WARN_S`` sets the threshold; ``0`` installs nothing.
    """
    threshold = threshold_from_env(environ)
    if threshold == 0:
        yield None
        return
    watchdog = LoopWatchdog(threshold)
    trio.lowlevel.add_instrument(watchdog)
    watchdog.start()
    _ACTIVE.set((*_ACTIVE.get(), watchdog))
    try:
        yield watchdog
    finally:
        _ACTIVE.set(tuple(w for w in _ACTIVE.get() if w is not watchdog))
        watchdog.stop()
        with suppress(KeyError):
            trio.lowlevel.remove_instrument(watchdog)
