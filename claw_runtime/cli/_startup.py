"""The ``claw`` command's start-up: the garbage collector, and generated code kept.

Loading modules (claw's, its dependencies', the plugins') creates hundreds of
thousands of objects that live as long as the process. While they load, the
collector keeps walking them for cycles that are not there: a quarter of the
import time of a run. So the command pauses the collector from its first line
(:func:`pause`) until start-up is over (:func:`resume`), then freezes what was
loaded (``gc.freeze``: later collections skip those objects, which also makes
each turn's collections cheaper) and collects normally from there on.

It also serves the code attrs and cattrs generate from a cache kept between
runs (:mod:`claw_runtime.cli._codegen_cache`), saved when start-up is over and
again when the command ends (for what was generated later), and keeps the list
of installed plugins beside it (:mod:`claw_runtime.entry_points`).

Only the command does this: a program embedding claw owns its own collector
and imports.
"""

from __future__ import annotations

import gc
import os

from claw_runtime import entry_points
from claw_runtime.cli import _codegen_cache

__all__ = ["pause", "resume"]


def pause() -> None:
    """Stop automatic collection until :func:`resume`, and serve generated code from the
    cache (the command's first line)."""
    gc.disable()
    if _codegen_cache.install() is not None:
        entry_points.remember_in(_codegen_cache.cache_dir(os.environ))


def resume() -> None:
    """Start-up is over: keep what was loaded out of future collections, collect again.

    Safe to call more than once; each call saves what was compiled since the last.
    """
    _codegen_cache.save()
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
