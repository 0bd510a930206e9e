"""Convert each message to its wire shape once, not once per turn.

Messages are immutable, and every request resends the whole conversation, so
a provider that converted them all on every turn would do quadratic work over
a long session. The cache is keyed by object identity and keeps the message
alive beside its conversion, so an id can never be reused for another one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from claw_runtime.models import Message

__all__ = ["WireCache"]

T = TypeVar("T")


class WireCache(Generic[T]):
    """``cache.get(message)`` is ``convert(message)``, computed once per message object."""

    def __init__(self, convert: Callable[[Message], T]) -> None:
        self._convert = convert
        self._entries: dict[int, tuple[Message, T]] = {}

    def get(self, message: Message) -> T:
        entry = self._entries.get(id(message))
        if entry is not None and entry[0] is message:
            return entry[1]
        value = self._convert(message)
        self._entries[id(message)] = (message, value)
        return value
