"""The garbage collector during the ``claw`` command's start-up.

Loading modules (claw's, its dependencies', the plugins') creates hundreds of
thousands of objects that live as long as the process. While they load, the
collector keeps walking them for cycles that are not there: a quarter of the
import time of a run. So the command pauses the collector from its first line
(:func:`pause`) until start-up is over (:func:`resume`), then freezes what was
loaded (``gc.freeze``: later collections skip those objects, which also makes
each turn's collections cheaper) and collects normally from there on.

Only the command does this: a program embedding claw owns its own collector.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "resume"]


def pause() -> None:
    """Stop automatic collection until :func:`resume` (the command's first line)."""
    gc.disable()


def resume() -> None:
    """Start-up is over: keep what was loaded out of future collections, collect again.

    Safe to call more than once.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
