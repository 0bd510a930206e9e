"""Batch runs: what the Ray executor costs per task against the local one.

The same batch (N one-turn tasks against the fake model server, which runs in
its own process) runs through each executor's own entry point, as ``claw
batch`` calls it: ``start_local_batch`` on one runtime, and ``run_on_ray`` on a
local Ray instance it starts (as without ``--ray-address``). Both run
``--concurrency`` tasks at once (Ray: one per CPU; the instance gets the
machine's CPUs). No session files are written, so the disk is not measured.

Each result is timestamped as it is recorded, which splits a run into

* **start**: from the call to the first result (the runtime and plugins;
  for Ray also starting the instance, its workers, importing claw in them),
* **per task**: the steady state, ``(last - first) / (N - 1)`` results,
* **stop**: from the last result to the return (Ray: shutting the instance down).

The Ray executor's overhead per task is the difference of the per-task times.
Each figure is the median of ``--runs`` runs. The machine's load average is
printed: other work on it skews wall times (Ray's start most of all).

    python benchmarks/bench_batch.py [--tasks 100] [--runs 3] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from claw_runtime.batch.local import start_local_batch
from claw_runtime.batch.ray_executor import forwarded_environ, run_on_ray
from claw_runtime.batch.results import BatchResult
from claw_runtime.batch.runner import SessionDefaults, WorkerJob
from claw_runtime.batch.tasks import BatchTask
from claw_runtime.config.settings import Settings
from claw_runtime.runtime import open_runtime
from claw_runtime.testing.script import Turn, dump_script

Phases = tuple[float, float, float]
"""Start (s), per task (s), stop (s)."""


def _start_server(turns: int, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    script = workdir / "turns.json"
    script.write_bytes(dump_script([Turn.say("done")] * turns))
    server = subprocess.Popen(
        [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().decode().strip()


async def _timed(
    run: Callable[[Callable[[BatchResult], Awaitable[None]]], Awaitable[None]], n: int
) -> Phases:
    stamps: list[float] = []

    async def record(result: BatchResult) -> None:
        if result.status != "succeeded":
            raise SystemExit(f"a task failed: {result.error}")
        stamps.append(time.perf_counter())

    started = time.perf_counter()
    await run(record)
    ended = time.perf_counter()
    assert len(stamps) == n, (len(stamps), n)
    return stamps[0] - started, (stamps[-1] - stamps[0]) / (n - 1), ended - stamps[-1]


async def _local(tasks: list[BatchTask], job: WorkerJob, concurrency: int) -> Phases:
    async def run(record: Callable[[BatchResult], Awaitable[None]]) -> None:
        async with open_runtime(job.settings, environ=dict(job.environ)) as runtime:
            batch = start_local_batch(
                runtime, tasks, job.defaults, concurrency=concurrency, record=record
            )
            await batch.result()

    return await _timed(run, len(tasks))


async def _ray(tasks: list[BatchTask], job: WorkerJob, concurrency: int) -> Phases:
    async def run(record: Callable[[BatchResult], Awaitable[None]]) -> None:
        await run_on_ray(tasks, job, address=None, record=record, in_flight=2 * concurrency)

    return await _timed(run, len(tasks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    tasks = [BatchTask(id=str(i), prompt=f"task {i}", line=i + 1) for i in range(args.tasks)]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        tmp = Path(name)
        server, url = _start_server(args.tasks * args.runs * 2, tmp)
        environ = {
            "HOME": str(tmp / "home"),
            "CLAW_CONFIG_DIR": str(tmp / "claw-home"),
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "bench",
        }
        os.environ.update(environ)  # the local Ray instance's workers inherit it too
        settings = Settings()
        job = WorkerJob(
            settings=settings,
            environ=forwarded_environ(os.environ, settings) | environ,
            defaults=SessionDefaults(workdir=tmp, persist=False),
        )
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"{args.tasks} one-turn tasks, {args.concurrency} at once, median of {args.runs}")
        try:
            figures: dict[str, Phases] = {}
            for label, executor in (("local", _local), ("ray", _ray)):
                runs = [trio.run(executor, tasks, job, args.concurrency) for _ in range(args.runs)]
                figures[label] = (
                    statistics.median(r[0] for r in runs),
                    statistics.median(r[1] for r in runs),
                    statistics.median(r[2] for r in runs),
                )
                start, per_task, stop = figures[label]
                print(
                    f"{label:5}  start {start:6.2f} s   per task {per_task * 1000:6.1f} ms   "
                    f"stop {stop:5.2f} s"
                )
        finally:
            server.terminate()
            server.wait()
    local, ray = figures["local"], figures["ray"]
    fixed = ray[0] + ray[2] - local[0] - local[2]
    print(
        f"ray overhead: {(ray[1] - local[1]) * 1000:+.1f} ms per task "
        f"({ray[1] / local[1]:.1f}x), {fixed:+.1f} s to start and stop"
    )


if __name__ == "__main__":
    main()
