"""The Ray executor: each batch task a Ray task, each worker running its session with ``trio.run``.

The driver (``claw batch --executor ray``) stays a trio program: every Ray call
that blocks (starting or joining the cluster, ``ray.wait``, ``ray.get``,
shutting down) runs in a worker thread, and ``ray.wait`` polls with a short
timeout so cancelling the batch (Ctrl-C) is noticed at once. Results are
recorded as they finish, in whatever order that is.

A worker gets the task, the driver's settings and the variables the driver
forwards (:func:`forwarded_environ`) as arguments: it reads no settings files
and needs no environment of its own beyond an installed claw.

Cancelling: tasks still queued or running are cancelled through Ray (a running
one gets ``KeyboardInterrupt``, which trio turns into cancelling its session:
tools and their processes are stopped); a Ray instance this batch started is
then shut down with its workers.

Ray is imported here only, when a batch asks for it (``claw-runtime[ray]``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import trio

from claw_runtime.batch.local import Record
from claw_runtime.batch.results import BatchResult
from claw_runtime.batch.runner import WorkerJob, run_task_alone
from claw_runtime.batch.tasks import BatchTask
from claw_runtime.config.settings import Settings
from claw_runtime.errors import ClawError

__all__ = ["RayUnavailable", "forwarded_environ", "run_on_ray"]

WAIT_POLL_S = 0.2
"""How long one ``ray.wait`` may block its thread: the latency of noticing a cancel."""

CANCEL_GRACE_S = 5.0
"""How long cancelled Ray tasks get to end their sessions before the instance is shut down."""

_FORWARDED_PREFIXES = ("ANTHROPIC_", "OPENAI_", "CLAW_", "CLAUDE_")


class RayUnavailable(ClawError):
    """Ray is not installed, or the cluster cannot be reached."""


def forwarded_environ(environ: Mapping[str, str], settings: Settings) -> dict[str, str]:
    """The driver's variables a worker needs: providers' keys and URLs, and claw's own.

    That is every ``ANTHROPIC_*``, ``OPENAI_*``, ``CLAW_*`` and ``CLAUDE_*``
    variable, and each variable a provider's ``apiKeyEnv`` names. Nothing else
    of the driver's environment leaves this machine.
    """
    named = {p.api_key_env for p in settings.providers.values() if p.api_key_env}
    return {
        key: value
        for key, value in environ.items()
        if key.startswith(_FORWARDED_PREFIXES) or key in named
    }


def _run_in_worker(task: BatchTask, job: WorkerJob) -> BatchResult:
    """The Ray task: one session in a fresh trio loop in the worker process."""
    import trio

    result: BatchResult = trio.run(run_task_alone, task, job)
    return result


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "the Ray executor needs Ray: pip install 'claw-runtime[ray]'"
        ) from None
    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at ``address``, or start a local instance (None); False when
    this process was connected already (a program embedding claw did it)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,  # not its notices about threads and tokens
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayUnavailable(f"cannot start or join {where}: {exc}") from None
    return True


def _wait_some(ray: Any, refs: list[Any]) -> list[Any]:
    """The tasks done now: waits for the first one at most ``WAIT_POLL_S``, then takes
    every other one that is also done."""
    ready, _ = ray.wait(refs, num_returns=1, timeout=WAIT_POLL_S, fetch_local=True)
    if not ready:
        return []
    more, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=True)
    return list({*ready, *more})


def _collect(ray: Any, ref: Any, task: BatchTask) -> BatchResult:
    try:
        result: BatchResult = ray.get(ref)
    except Exception as exc:  # the worker died, Ray cancelled it, claw is not installed there
        text = " ".join(str(exc).split())[:500]
        return BatchResult(
            id=task.id, status="failed", error=f"ray: {type(exc).__name__}: {text}", line=task.line
        )
    return result


def _default_in_flight(ray: Any, task_cpus: float) -> int:
    """Twice as many as the cluster runs at once: enough queued that no worker waits
    on the driver."""
    cpus = float(ray.cluster_resources().get("CPU", 1))
    return max(2, int(2 * cpus / task_cpus))


async def run_on_ray(
    tasks: Sequence[BatchTask],
    job: WorkerJob,
    *,
    address: str | None,
    record: Record,
    in_flight: int | None = None,
    task_cpus: float = 1.0,
) -> None:
    """Run ``tasks`` on Ray; each result goes to ``record`` as it finishes.

    Args:
        address: the cluster to join (``ray://host:10001``, ``host:6379``,
            ``auto``); None starts a local instance for this batch (or joins
            ``RAY_ADDRESS``). A process already connected to Ray stays
            connected to its cluster, and is not disconnected at the end.
        in_flight: how many tasks are submitted at once (default: twice as
            many as the cluster runs at once).
        task_cpus: the CPUs Ray reserves for each task (``0.25``: four sessions
            per CPU, for sessions that mostly wait on the model).

    Raises:
        RayUnavailable: Ray is not installed or the cluster cannot be joined.
        trio.Cancelled: the batch was cancelled (queued and running tasks were
            cancelled through Ray, the local instance shut down).
    """
    ray = await trio.to_thread.run_sync(_import_ray)
    connected_here = await trio.to_thread.run_sync(_connect, ray, address)
    pending: dict[Any, BatchTask] = {}
    try:
        remote = ray.remote(max_retries=0, num_cpus=task_cpus)(_run_in_worker)
        limit = in_flight
        if limit is None:
            limit = await trio.to_thread.run_sync(_default_in_flight, ray, task_cpus)
        queue: Iterator[BatchTask] = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                task = next(queue, None)
                if task is None:
                    exhausted = True
                    break
                pending[remote.remote(task, job)] = task
            if not pending:
                return
            for ref in await trio.to_thread.run_sync(_wait_some, ray, list(pending)):
                task = pending.pop(ref)
                result = await trio.to_thread.run_sync(_collect, ray, ref, task)
                with trio.CancelScope(shield=True):
                    await record(result)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_stop, ray, list(pending), connected_here)


def _stop(ray: Any, refs: list[Any], disconnect: bool) -> None:
    """Cancel ``refs``, give them a moment to end their sessions, then leave the
    cluster if this batch joined it."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:  # already finished, or the cluster is gone
            continue
    if refs:
        with contextlib.suppress(Exception):  # the cluster is gone: nothing to wait for
            ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    if disconnect:
        ray.shutdown()  # a local instance stops with its workers; a remote one is left
