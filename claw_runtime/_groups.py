"""Exception groups stop at the public API: callers get the exception that happened.

trio wraps every error that leaves a nursery in an ``ExceptionGroup``. A
caller writing ``except ProviderError`` around ``open_runtime`` must not need
``except*``: where a group holds one real error (nested groups of one, and
``trio.Cancelled`` beside it, do not count), that error is what leaves.
"""

from __future__ import annotations

import trio

__all__ = ["sole_error"]


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one error inside ``group`` (ignoring cancellations beside it), or None."""
    leaves = _leaves(group)
    real = [e for e in leaves if not isinstance(e, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real and len(leaves) == 1:
        return leaves[0]
    return None
