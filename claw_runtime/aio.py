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

Cancelling the awaiting asyncio task does not stop the thread's run early
(asyncio cannot cancel a thread); the run ends at its own limits.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Mapping
from typing import Any

from claw_runtime.embed import run_sync
from claw_runtime.loop import RunResult

__all__ = ["run_asyncio"]


async def run_asyncio(
    prompt: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    limiter: asyncio.Semaphore | None = None,
    **options: Any,
) -> RunResult:
    """``run_sync`` in a worker thread: awaitable, concurrent, not blocking the loop."""
    call = functools.partial(run_sync, prompt, cwd=cwd, environ=environ, **options)
    if limiter is None:
        return await asyncio.to_thread(call)
    async with limiter:
        return await asyncio.to_thread(call)
