"""claw from asyncio code: ``await run_asyncio(prompt)``, many at once, never blocking the loop.

::

    import asyncio
    from claw_runtime.aio import run_asyncio

    async def main() -> None:
        results = await asyncio.gather(*(run_asyncio(p, cwd=".") for p in prompts))

This is the one module of claw that touches asyncio. Each call runs a trio run
in a worker thread (``asyncio.to_thread``), so the asyncio loop keeps serving
its other tasks while claw works, and concurrent calls are concurrent threads
(the default executor's size bounds how many run at once; pass ``limiter``, an
``asyncio.Semaphore``, to bound it yourself).

Why not trio's guest mode (``trio.lowlevel.start_guest_run``)? A guest run
shares the host's thread, and one thread holds one trio run at a time, so
concurrent calls from one loop would have to share a single long-lived guest
run fed through a queue: more machinery for no gain here, since the model's
answers, not the CPU, bound a run. A worker thread gives each call its own
complete runtime with nothing shared, which is also what keeps one failing
call from touching another.

Cancelling the awaiting asyncio task (``task.cancel()``, ``asyncio.wait_for``,
a ``TaskGroup`` failing) cancels the claw run in its thread the way Ctrl-C
does: tool processes are killed, unfinished calls get "aborted" results, the
session file is closed valid. The cancelled task waits for that cleanup (it is
quick) before ``CancelledError`` reaches it, so nothing outlives the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio

from claw_runtime.embed import run_trio
from claw_runtime.loop import RunResult

__all__ = ["run_asyncio"]


class _CancellableRun:
    """A trio run in a worker thread that another thread can cancel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: trio.lowlevel.TrioToken | None = None
        self._scope: trio.CancelScope | None = None
        self._cancelled = False

    def run(self, fn: Callable[[], Awaitable[RunResult]]) -> RunResult | None:
        return trio.run(self._main, fn)

    async def _main(self, fn: Callable[[], Awaitable[RunResult]]) -> RunResult | None:
        with trio.CancelScope() as scope:
            with self._lock:
                self._token, self._scope = trio.lowlevel.current_trio_token(), scope
                if self._cancelled:
                    scope.cancel()
            return await fn()
        return None  # cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            token, scope = self._token, self._scope
        if token is not None and scope is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)


async def run_asyncio(
    prompt: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    limiter: asyncio.Semaphore | None = None,
    **options: Any,
) -> RunResult:
    """One prompt in its own runtime and session, in a worker thread: awaitable,
    concurrent, not blocking the loop, cancellable.

    ``options`` are :func:`claw_runtime.sessions.open_session`'s.

    Raises:
        ClawError: the session could not start (settings, credentials).
    """
    if limiter is None:
        return await _in_thread(prompt, cwd, environ, options)
    async with limiter:
        return await _in_thread(prompt, cwd, environ, options)


async def _in_thread(
    prompt: str,
    cwd: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None,
    options: dict[str, Any],
) -> RunResult:
    call = _CancellableRun()
    work = functools.partial(run_trio, prompt, cwd=cwd, environ=environ, **options)
    thread = asyncio.ensure_future(asyncio.to_thread(call.run, work))
    try:
        result = await asyncio.shield(thread)
    except asyncio.CancelledError:
        call.cancel()
        await asyncio.wait([thread])  # the run's cleanup: its processes are gone after this
        raise
    assert result is not None  # only a cancel ends the run without a result
    return result
