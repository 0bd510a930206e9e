"""Convert each message to its wire shape once, not once per turn.

Messages are immutable, and every request resends the whole conversation, so
a provider that converted them all on every turn would do quadratic work over
a long session. The cache is keyed by object identity and holds each message
weakly: an entry lives as long as its message does (in some conversation), so
a provider shared by many conversations holds only those still alive, and an
id can never be reused for another message while its entry exists.

:meth:`WireCache.conversation` goes one step further: a request is usually
the previous one plus a message or two, so the wire list of the previous
request is kept and only the new messages are added to it. A turn then costs
the new messages, not a walk over the whole conversation; with
:meth:`WireCache.encoded_conversation` it costs their JSON too, not the
encoding of the whole conversation.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import orjson

from claw_runtime.models import Message

__all__ = ["WireCache"]

T = TypeVar("T")
W = TypeVar("W")


class WireCache(Generic[T]):
    """``cache.get(message)`` is ``convert(message)``, computed once per live message object."""

    def __init__(self, convert: Callable[[Message], T]) -> None:
        self._convert = convert
        self._entries: dict[int, tuple[weakref.ref[Message], T]] = {}
        self._deaths = [0]
        """How many cached messages have died: their ids may belong to new messages now."""
        # The last conversation: its messages' ids, its wire items, how they were made,
        # and the JSON of its first items (as far as :meth:`encoded_conversation` went).
        self._last_ids: list[int] = []
        self._last_items: list[Any] = []
        self._last_how: tuple[Callable[[T], Iterable[Any]], int] | None = None
        self._last_json: list[bytes] = []

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

    def conversation(
        self, messages: Sequence[Message], items: Callable[[T], Iterable[W]]
    ) -> list[W]:
        """``[*items(get(m)) for m in messages]`` (a new list), built from the last call's.

        When the messages start with the ones the last call had (the same
        objects, and ``items`` the same function), only the rest are converted
        and added. The check compares ids, and is trusted only while none of
        the cached messages has died since (else an id could name another).
        """
        ids = [*map(id, messages)]
        known = len(self._last_ids)
        how = (items, self._deaths[0])
        if how == self._last_how and ids[:known] == self._last_ids:
            wire: list[Any] = self._last_items
            start = known
        else:
            wire, start = [], 0
            self._last_json = []
        for index in range(start, len(ids)):
            wire.extend(items(self.get(messages[index])))
        self._last_ids, self._last_items, self._last_how = ids, wire, how
        return list(wire)

    def encoded_conversation(
        self, messages: Sequence[Message], items: Callable[[T], Iterable[W]]
    ) -> tuple[list[W], list[bytes]]:
        """:meth:`conversation`, and each item's JSON (``orjson.dumps``) in a list of its own.

        An item's JSON is made once, like the item: a body can then be joined
        from the pieces instead of encoding the whole conversation every turn.
        """
        wire = self.conversation(messages, items)
        encoded = self._last_json
        encoded.extend(orjson.dumps(item) for item in wire[len(encoded) :])
        return wire, list(encoded)

    def _forget(self, key: int) -> Callable[[weakref.ref[Message]], None]:
        # Holds the dict, not the cache: the callback must not keep the cache alive.
        entries = self._entries
        deaths = self._deaths

        def forget(ref: weakref.ref[Message]) -> None:
            deaths[0] += 1
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                del entries[key]

        return forget
