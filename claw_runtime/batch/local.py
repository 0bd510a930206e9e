"""The local executor: batch tasks as sessions in this process, a bounded number at once.

The batch is one scheduler task; each running item is a child of it (so the
task tree shows the batch, and cancelling the batch cancels every session in
it, their tools and their processes). A feeder starts an item only when one of
``concurrency`` slots is free, so a batch of a hundred thousand lines holds
only ``concurrency`` sessions and their tasks at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import trio

from claw_runtime.batch.results import BatchResult
from claw_runtime.batch.runner import SessionDefaults, run_task
from claw_runtime.batch.tasks import BadLine, BatchTask
from claw_runtime.scheduler import TaskHandle, current_task

if TYPE_CHECKING:
    from claw_runtime.runtime import Runtime
    from claw_runtime.sessions.session import HookScope

__all__ = ["Record", "start_local_batch"]

Record = Callable[[BatchResult], Awaitable[None]]
"""Called with each result as its task finishes (shielded: it must not take long)."""


def start_local_batch(
    runtime: Runtime,
    tasks: Sequence[BatchTask | BadLine],
    defaults: SessionDefaults,
    *,
    concurrency: int,
    record: Record,
    hook_scope: HookScope | None = None,
) -> TaskHandle[None]:
    """Start running ``tasks`` on ``runtime``; the batch's task handle.

    Each result goes to ``record`` as its task finishes. ``handle.cancel()``
    stops the batch: running sessions are cancelled and end cleanly, and their
    tasks make no result. ``await handle.result()`` waits for the end.

    Raises (from ``handle.result()``):
        TaskCancelled: the batch was cancelled.
        TaskFailed: ``record`` raised (results could not be written); the
            batch stopped at once.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    slots = trio.Semaphore(concurrency)

    async def item(task: BatchTask | BadLine) -> None:
        try:
            result = await run_task(runtime, task, defaults, hook_scope=hook_scope)
        finally:
            slots.release()
        with trio.CancelScope(shield=True):  # a finished task's result is kept whatever comes
            await record(result)

    async def feed() -> None:
        batch = current_task()
        for task in tasks:
            await slots.acquire()
            runtime.scheduler.spawn(item, task, name=f"batch:{task.id}", parent=batch)

    return runtime.scheduler.spawn(feed, name="batch", fail_fast=True)
