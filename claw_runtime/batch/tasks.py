"""The lines of a batch file: what each may say, read leniently.

A line is a JSON object::

    {"id": "fix-1", "prompt": "fix the failing test", "cwd": "repo", "model": "sonnet",
     "agent": "Explore", "max_turns": 10}

Only ``prompt`` is required. Keys claw does not know are ignored (and reported
once), so files written for other tools still run. A line that is not JSON, not
an object, or has a wrong value becomes a :class:`BadLine`, which the batch
records as a failed result: one bad line never stops the others.

A line without an ``id`` gets a stable one from a hash of its text, so
re-running the same file skips what is done; the same text twice gets ``-2``,
``-3``... in file order.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import cattrs
import orjson

from claw_runtime._strict import make_strict_converter

__all__ = ["BadLine", "BatchTask", "parse_lines", "read_tasks"]


@attrs.frozen(kw_only=True)
class BatchTask:
    """One task of a batch: a prompt for a new session, and how to run it."""

    id: str
    prompt: str
    line: int
    """Where it came from: its 1-based line number in the batch file."""
    cwd: str | None = None
    """The session's workspace; relative paths are taken from the batch's directory."""
    model: str | None = None
    agent: str | None = None
    """An agent definition's name (its tools, prompt, model and turn limit)."""
    max_turns: int | None = None


@attrs.frozen(kw_only=True)
class BadLine:
    """A line that could not be read as a task; recorded as a failed result."""

    id: str
    line: int
    error: str


@attrs.frozen(kw_only=True)
class _Line:
    """The JSON shape of a line, as cattrs structures it (strictly typed values)."""

    prompt: str
    id: str | None = None
    cwd: str | None = None
    model: str | None = None
    agent: str | None = None
    max_turns: int | None = None


_KNOWN = frozenset(f.name for f in attrs.fields(_Line))
_CONVERTER = make_strict_converter(show=lambda v: json.dumps(v)[:60], bool_label="true or false")


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc)


def _hash_id(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def _structure(data: Any) -> _Line:
    """The line's known keys as a :class:`_Line`.

    Raises:
        ValueError: one message naming each wrong key.
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    known = {k: v for k, v in data.items() if k in _KNOWN}
    if isinstance(known.get("id"), int) and not isinstance(known["id"], bool):
        known["id"] = str(known["id"])  # {"id": 7} is as good an id as {"id": "7"}
    try:
        line: _Line = _CONVERTER.structure(known, _Line)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ValueError("; ".join(p.replace("$.", "", 1) for p in problems)) from None
    if not line.prompt.strip():
        raise ValueError("prompt is empty")
    if line.id is not None and not line.id.strip():
        raise ValueError("id is empty")
    if line.max_turns is not None and line.max_turns <= 0:
        raise ValueError(f"max_turns must be a positive whole number, got {line.max_turns}")
    return line


def parse_lines(
    lines: Iterable[str], *, unknown_keys: Counter[str] | None = None
) -> Iterator[BatchTask | BadLine]:
    """Each non-blank line as a task, or as the reason it is not one.

    Args:
        unknown_keys: counts the keys that were ignored, for one warning at the end.
    """
    seen_hashes: Counter[str] = Counter()
    seen_ids: set[str] = set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        digest = _hash_id(text)
        seen_hashes[digest] += 1
        fallback = digest if seen_hashes[digest] == 1 else f"{digest}-{seen_hashes[digest]}"
        try:
            data = orjson.loads(text)
            shape = _structure(data)
        except orjson.JSONDecodeError as exc:
            seen_ids.add(fallback)
            yield BadLine(id=fallback, line=number, error=f"line {number}: not JSON ({exc})")
            continue
        except ValueError as exc:
            seen_ids.add(fallback)
            yield BadLine(id=fallback, line=number, error=f"line {number}: {exc}")
            continue
        if unknown_keys is not None:
            unknown_keys.update(k for k in data if k not in _KNOWN)
        task_id = shape.id if shape.id is not None else fallback
        if task_id in seen_ids:
            yield BadLine(
                id=f"{task_id}@line{number}",
                line=number,
                error=f"line {number}: id {task_id!r} is used by an earlier line",
            )
            continue
        seen_ids.add(task_id)
        yield BatchTask(
            id=task_id,
            prompt=shape.prompt,
            line=number,
            cwd=shape.cwd,
            model=shape.model,
            agent=shape.agent,
            max_turns=shape.max_turns,
        )


def read_tasks(
    path: Path, *, unknown_keys: Counter[str] | None = None
) -> list[BatchTask | BadLine]:
    """Every line of the batch file ``path`` (UTF-8; undecodable bytes replaced).

    Raises:
        OSError: the file cannot be read.
    """
    text = path.read_bytes().decode("utf-8", "replace")
    # Only newlines end lines: JSON strings may hold U+2028 and friends, which splitlines() splits.
    return list(parse_lines(text.split("\n"), unknown_keys=unknown_keys))
