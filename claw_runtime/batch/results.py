"""The results file: one JSON line per finished task, durable as soon as it is written.

Each line is a :class:`BatchResult`. Lines are appended, flushed and fsynced
one at a time (off the event loop), so an interruption, even ``kill -9``, keeps
every result written so far; a line torn by a crash mid-write is skipped when
the file is read back and the next line starts on a line of its own.

Re-running a batch reads the file first (:func:`finished_ids`): an id whose
latest line is there is done and skipped (with ``retry_failed``, only the
ones that succeeded).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

import attrs
import orjson

from claw_runtime.models import Usage

__all__ = ["BatchResult", "ResultWriter", "finished_ids", "read_results"]

Status = Literal["succeeded", "failed"]


@attrs.frozen(kw_only=True)
class BatchResult:
    """What one task came to: a line of the results file."""

    id: str
    status: Status
    result: str = ""
    """The session's final answer (or, for a failed run, what it said last)."""
    error: str | None = None
    """Why the task failed, in one line; None when it succeeded."""
    stop_reason: str | None = None
    turns: int = 0
    usage: Usage = Usage()
    cost_usd: float = 0.0
    session_id: str | None = None
    duration_ms: float = 0.0
    line: int | None = None
    """The task's line in the batch file."""

    def to_json(self) -> bytes:
        data: dict[str, Any] = attrs.asdict(self, recurse=True)
        return orjson.dumps(data)


def read_results(path: Path) -> Iterator[dict[str, Any]]:
    """The result lines of ``path`` as dicts; lines that do not parse are skipped.

    Raises:
        OSError: the file exists but cannot be read.
    """
    try:
        if not path.is_file():  # missing, or a pipe or device (/dev/stdout): nothing done yet
            return
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # torn by a crash mid-write
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            yield record


def finished_ids(path: Path, *, retry_failed: bool = False) -> set[str]:
    """The ids a re-run skips: each id's latest line, if it succeeded (or failed,
    unless ``retry_failed``)."""
    latest: dict[str, Any] = {}
    for record in read_results(path):
        latest[record["id"]] = record.get("status")
    if retry_failed:
        return {task_id for task_id, status in latest.items() if status == "succeeded"}
    return set(latest)


@attrs.define(eq=False)
class ResultWriter:
    """Appends results to a file, each one durable before :meth:`write` returns.

    :meth:`write` blocks (``fsync``): async callers run it in a worker thread.
    The lock keeps lines whole when several threads write at once.
    """

    path: Path
    _file: IO[bytes] | None = None
    _regular: bool = True
    """A regular file (fsynced); else a pipe or a device such as ``/dev/stdout``."""
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def open(self) -> None:
        """Open for appending; a torn last line (a crash mid-write) is ended first.

        Raises:
            OSError: the file cannot be created or written.
        """
        self._file = self.path.open("ab")
        self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        if self._regular and self._file.tell() > 0:
            with self.path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                if existing.read(1) != b"\n":
                    self._file.write(b"\n")

    def write(self, result: BatchResult) -> None:
        """Append ``result`` as one line, flushed and fsynced."""
        assert self._file is not None, "open() the writer first"
        line = result.to_json() + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if self._regular:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file; a write that failed was reported by :meth:`write` already."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
