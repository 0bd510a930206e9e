"""Convert each message to its wire shape once, not once per turn.

Messages are immutable, and every request resends the whole conversation, so
a provider that converted them all on every turn would do quadratic work over
a long session. The cache is keyed by object identity and holds each message
weakly: an entry lives as long as its message does (in some conversation), so
a provider shared by many conversations holds only those still alive, and an
id can never be reused for another message while its entry exists.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from claw_runtime.models import Message

__all__ = ["WireCache"]

T = TypeVar("T")


class WireCache(Generic[T]):
    """``cache.get(message)`` is ``convert(message)``, computed once per live message object."""

    def __init__(self, convert: Callable[[Message], T]) -> None:
        self._convert = convert
        self._entries: dict[int, tuple[weakref.ref[Message], T]] = {}

    def __len__(self) -> int:
        """How many messages have their conversion kept (those still alive)."""
        return len(self._entries)

    def get(self, message: Message) -> T:
        key = id(message)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is message:
            return entry[1]
        value = self._convert(message)
        self._entries[key] = (weakref.ref(message, self._forget(key)), value)
        return value

    def _forget(self, key: int) -> Callable[[weakref.ref[Message]], None]:
        # Holds the dict, not the cache: the callback must not keep the cache alive.
        entries = self._entries

        def forget(ref: weakref.ref[Message]) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]

        return forget
