"""The ``claw`` entry points of the installed distributions, without a scan at every start.

Finding plugins means asking ``importlib.metadata`` for the entry points of
every installed distribution: it imports its own machinery (the ``email``
parser among it) and reads the metadata of each of the ~100 distributions a
typical environment holds, about 25 ms of every start of the command, for a
list that changes only when something is installed or removed.

So the command keeps the list in its cache directory (see :func:`remember_in`),
next to the code cache of :mod:`claw_runtime.cli._codegen_cache`, with the
modification time of every ``sys.path`` entry it was found under. Installing,
upgrading or removing a distribution adds or removes a ``.dist-info``
directory in one of them, which changes that directory's time: the list is
then found again. Without :func:`remember_in` (a program embedding claw), every
call scans, exactly as before.

What a cached entry point loads is what ``EntryPoint.load`` would: the module,
then the attributes after the colon.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import tempfile
from pathlib import Path

import attrs
import orjson

__all__ = ["FoundEntryPoint", "find", "remember_in"]

_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")
"""An entry point's value, as ``importlib.metadata.EntryPoint`` reads it."""
_FORMAT = 1


@attrs.frozen
class FoundEntryPoint:
    """One entry point of the group: its name, its ``module:attr`` value, where it came from."""

    name: str
    value: str
    distribution: str | None = None
    version: str | None = None

    def load(self) -> object:
        """Import the module and follow the attributes, as ``EntryPoint.load`` does."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} has an unreadable value {self.value!r}")
        loaded: object = importlib.import_module(match.group("module"))
        attributes = match.group("attr")
        for part in attributes.split(".") if attributes else ():
            loaded = getattr(loaded, part)
        return loaded


_cache_dir: Path | None = None


def remember_in(directory: Path | None) -> None:
    """Keep the lists found from now on in ``directory`` (None: scan every time).

    The ``claw`` command calls this at start-up; it owns its process.
    """
    global _cache_dir
    _cache_dir = directory


def find(group: str) -> list[FoundEntryPoint]:
    """The entry points of ``group`` in the distributions on ``sys.path``, in scan order."""
    if _cache_dir is None:
        return _scan(group)
    path = _cache_dir / f"entry-points-{group}.json"
    paths = _path_times()
    kept = _read(path)
    if kept is not None and kept.get("format") == _FORMAT and kept.get("paths") == paths:
        entries = kept.get("entry_points")
        if isinstance(entries, list) and all(
            isinstance(entry, list) and len(entry) == 4 for entry in entries
        ):
            return [FoundEntryPoint(*entry) for entry in entries]
    found = _scan(group)
    _write(
        path,
        {
            "format": _FORMAT,
            "paths": paths,
            "entry_points": [[ep.name, ep.value, ep.distribution, ep.version] for ep in found],
        },
    )
    return found


def _scan(group: str) -> list[FoundEntryPoint]:
    import importlib.metadata

    found = []
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist
        found.append(
            FoundEntryPoint(
                name=ep.name,
                value=ep.value,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
            )
        )
    return found


def _path_times() -> list[list[object]]:
    """Each ``sys.path`` entry with its modification time (None if it does not exist)."""
    times: list[list[object]] = []
    for entry in sys.path:
        where = os.path.abspath(entry)  # "" is the working directory (``python -m``)
        try:
            mtime: int | None = os.stat(where).st_mtime_ns
        except OSError:
            mtime = None
        # A name that is not UTF-8 (kept as surrogates) is written with its bytes escaped.
        times.append(
            [where.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), mtime]
        )
    return times


def _read(path: Path) -> dict[str, object] | None:
    try:
        info = path.stat()
        if info.st_mode & 0o022 or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            return None  # only a file nobody else can write decides what claw imports
        loaded = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _write(path: Path, data: dict[str, object]) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".entry-points-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(data))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except (OSError, TypeError):  # TypeError: orjson refuses a string it cannot encode
        return
