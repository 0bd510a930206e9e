"""Python's cyclic garbage collector while a runtime runs: collected less often.

Python collects its youngest generation every 700 net allocations of container
objects, and every live object again at each full collection. A runtime with
hundreds of sessions allocates quickly and holds a large live heap, so the
collector's passes grew to a quarter of the process's CPU at 1,000 concurrent
sessions, with full collections pausing every session for up to 0.4 s
(docs/performance.md, "Many sessions in one process"). While a runtime is
open, the youngest generation's threshold is raised to 50,000: about 70 times
fewer collections, none of them full in that run, at the cost of cyclic garbage
(a few MB at most) living a little longer. Reference counting, which frees
almost everything, is unaffected.

``CLAW_GC_THRESHOLD`` (the runtime's environment) sets the threshold; ``0``
leaves Python's own. A threshold already higher (set by the program) is kept.
The previous threshold comes back when the last runtime of the process closes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

__all__ = ["DEFAULT_THRESHOLD", "THRESHOLD_VAR", "collector_for_runtime", "threshold_from"]

THRESHOLD_VAR = "CLAW_GC_THRESHOLD"
DEFAULT_THRESHOLD = 50_000
"""Net container allocations between two young-generation collections while a runtime runs."""

_lock = threading.Lock()
_open_runtimes = 0
_restore: tuple[int, ...] | None = None
"""The threshold to put back when the last runtime closes (None: nothing was changed)."""


def threshold_from(environ: Mapping[str, str]) -> int | None:
    """``CLAW_GC_THRESHOLD`` as a threshold; None for ``0`` (leave Python's). Anything
    that is not a whole number gives the default."""
    raw = environ.get(THRESHOLD_VAR, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        value = DEFAULT_THRESHOLD
    return value if value > 0 else None


@asynccontextmanager
async def collector_for_runtime(environ: Mapping[str, str]) -> AsyncIterator[None]:
    """Raise the young generation's threshold while the block runs (see the module);
    asynchronous only to sit among the runtime's other ``async with`` resources."""
    global _open_runtimes, _restore
    target = threshold_from(environ)
    with _lock:
        _open_runtimes += 1
        current = gc.get_threshold()
        if target is not None and current[0] < target:
            if _restore is None:
                _restore = current
            gc.set_threshold(target, *current[1:])
    try:
        yield
    finally:
        with _lock:
            _open_runtimes -= 1
            if _open_runtimes == 0 and _restore is not None:
                gc.set_threshold(*_restore)
                _restore = None
