"""``claw batch TASKS.jsonl --out RESULTS.jsonl``: one session per line, results as they finish.

This maps flags to the core (:mod:`claw_runtime.batch`) and signals to
cancelling it. The first SIGINT, SIGTERM or SIGHUP cancels the running tasks
(their sessions end cleanly, their processes are stopped); results already
written stay, and the exit code is 130. A second signal also stops SessionEnd
hooks at once. Running the same command again skips the ids the results file
already has and does the rest.

Exit codes: 0 every task run now succeeded; 1 one failed (or the batch could
not start); 2 usage; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.batch.local import Record, start_local_batch
from claw_runtime.batch.results import BatchResult, ResultWriter, finished_ids
from claw_runtime.batch.runner import SessionDefaults, WorkerJob, bad_line_result
from claw_runtime.batch.tasks import BadLine, BatchTask, read_tasks
from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.headless import EXIT_CANCELLED, Interrupts, open_cli_runtime
from claw_runtime.errors import ClawError, TaskCancelled, TaskFailed

__all__ = ["run_batch_command"]

DEFAULT_CONCURRENCY = 4


@attrs.define(eq=False)
class _Tally:
    """What this run of the batch did, for the summary line and the exit code."""

    total: int
    succeeded: int = 0
    failed: int = 0
    progress: Any = None
    progress_task: Any = None

    def count(self, result: BatchResult) -> None:
        if result.status == "succeeded":
            self.succeeded += 1
        else:
            self.failed += 1
        if self.progress is not None:
            self.progress.update(self.progress_task, advance=1, description=self._describe())

    def _describe(self) -> str:
        return f"batch ({self.failed} failed)" if self.failed else "batch"


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _progress_bar(tally: _Tally) -> Any:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not _isatty(sys.stderr):
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        tally.progress = progress
        tally.progress_task = progress.add_task("batch", total=tally.total)
        try:
            yield
        finally:
            tally.progress = None


async def _run(
    context: CliContext,
    args: argparse.Namespace,
    tasks: list[BatchTask | BadLine],
    writer: ResultWriter,
    tally: _Tally,
    interrupts: Interrupts,
) -> None:
    """Run ``tasks`` with the executor the flags name; each result written as it finishes.

    Raises:
        TaskCancelled: a signal stopped the batch.
        TaskFailed, OSError: a result could not be written (the batch stopped).
        ClawError: the batch could not start (Ray missing, a settings problem...).
    """

    async def record(result: BatchResult) -> None:
        await trio.to_thread.run_sync(writer.write, result)
        tally.count(result)

    defaults = SessionDefaults(workdir=context.cwd, persist=not args.no_session)
    if args.executor == "ray":
        await _run_on_ray(context, args, tasks, defaults, record, interrupts)
        return
    async with open_cli_runtime(context) as runtime:
        if interrupts.received:  # stopped while plugins loaded
            return
        runtime.provider_settings()  # no credentials: one line now, not a failure per task
        batch = start_local_batch(
            runtime,
            tasks,
            defaults,
            concurrency=args.concurrency or DEFAULT_CONCURRENCY,
            record=record,
            hook_scope=interrupts.cancellable,
        )
        interrupts.graceful = batch.cancel
        try:
            await batch.result()
        finally:
            interrupts.graceful = None


async def _run_on_ray(
    context: CliContext,
    args: argparse.Namespace,
    tasks: list[BatchTask | BadLine],
    defaults: SessionDefaults,
    record: Record,
    interrupts: Interrupts,
) -> None:
    from claw_runtime.batch.ray_executor import forwarded_environ, run_on_ray

    async with open_cli_runtime(context) as runtime:
        runtime.provider_settings()  # no credentials: one line now, not a failure per task
    for task in tasks:  # lines that are not tasks are recorded here, not shipped to a worker
        if isinstance(task, BadLine):
            await record(bad_line_result(task))
    job = WorkerJob(
        settings=context.settings,
        environ=forwarded_environ(context.environ, context.settings),
        defaults=defaults,
        no_plugins=context.no_plugins,
    )
    with trio.CancelScope() as scope:
        interrupts.graceful = scope.cancel
        try:
            await run_on_ray(
                [t for t in tasks if isinstance(t, BatchTask)],
                job,
                address=args.ray_address,
                record=record,
                in_flight=args.concurrency,
                task_cpus=args.ray_task_cpus,
            )
        finally:
            interrupts.graceful = None
    if scope.cancelled_caught:
        raise TaskCancelled("the batch was cancelled")


async def _main(
    context: CliContext,
    args: argparse.Namespace,
    tasks: list[BatchTask | BadLine],
    writer: ResultWriter,
    tally: _Tally,
) -> str | None:
    """Run the batch: None when it ran to the end, ``"interrupted"`` when a signal
    stopped it, else the one line saying why it could not go on."""
    interrupts = Interrupts()
    outcome: str | None = None
    async with trio.open_nursery() as watcher:
        await watcher.start(interrupts.watch)
        try:
            await _run(context, args, tasks, writer, tally, interrupts)
        except TaskCancelled:
            pass
        except TaskFailed as exc:  # recording a result failed: the batch stopped
            outcome = f"batch stopped: cannot write {writer.path}: {exc.__cause__ or exc}"
        except ClawError as exc:
            outcome = str(exc)
        except OSError as exc:  # the Ray executor records in this task: no TaskFailed around it
            outcome = f"batch stopped: cannot write {writer.path}: {exc.strerror or exc}"
        finally:
            watcher.cancel_scope.cancel()
    if outcome is None and interrupts.received:
        outcome = "interrupted"
    return outcome


def run_batch_command(context: CliContext, args: argparse.Namespace) -> int:
    tasks_path = Path(args.tasks)
    out = Path(args.out)
    if args.executor != "ray" and (args.ray_address or args.ray_task_cpus != 1.0):
        print("claw: --ray-address and --ray-task-cpus go with --executor ray", file=sys.stderr)
        return 2
    unknown: Counter[str] = Counter()
    try:
        tasks = read_tasks(tasks_path, unknown_keys=unknown)
        done = finished_ids(out, retry_failed=args.retry_failed)
    except OSError as exc:
        print(f"claw: cannot read {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if unknown:
        keys = ", ".join(sorted(unknown))
        print(f"claw: warning: {tasks_path}: ignored unknown key(s): {keys}", file=sys.stderr)
    pending = [t for t in tasks if t.id not in done]
    skipped = len(tasks) - len(pending)
    if skipped:
        print(f"claw: {skipped} task(s) already in {out}; skipping them", file=sys.stderr)
    if not pending:
        print(f"claw: batch done; nothing left to run (every task is in {out})", file=sys.stderr)
        return 0
    writer = ResultWriter(out)
    try:
        writer.open()
    except OSError as exc:
        print(f"claw: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    tally = _Tally(total=len(pending))
    try:
        with _progress_bar(tally):
            outcome = trio.run(_main, context, args, pending, writer, tally)
    finally:
        writer.close()
    if outcome not in (None, "interrupted"):
        print(f"claw: {outcome}", file=sys.stderr)
        return 1
    ran = tally.succeeded + tally.failed
    summary = f"{ran} of {len(pending)} task(s) finished: {tally.succeeded} succeeded"
    summary += f", {tally.failed} failed (see {out})" if tally.failed else ""
    if outcome == "interrupted":
        print(
            f"claw: batch interrupted; {summary}. Run the same command again to finish the rest.",
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    print(f"claw: batch done; {summary}", file=sys.stderr)
    return 1 if tally.failed else 0
