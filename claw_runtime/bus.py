"""The event bus: typed events fanned out to any number of subscribers.

Every subscriber has its own bounded trio memory channel (never unbounded) and
picks what happens when it falls behind:

``drop`` (the default, for renderers, plugins and loggers)
    ``publish`` never waits for this subscriber. When its buffer is full the
    event is dropped *for this subscriber only* and counted; before the next
    event it receives, it gets an :class:`~claw_runtime.events.EventsDropped`
    saying how many it missed. Loss is possible, silent loss is not.

``block`` (for lossless consumers: ``--output-format stream-json``, transcripts)
    ``publish`` waits until this subscriber has room: backpressure. Use it only
    for consumers that keep up (they write to a file or a pipe).

Publishing with no subscribers costs a loop over an empty tuple. Publishing
does not pass through the scheduler unless a ``block`` subscriber's buffer is
full, and a subscriber takes the events already waiting for it in one step:
with a renderer subscribed, an event costs a buffer append, not two task
switches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Literal, TypeAlias

import attrs
import trio

from claw_runtime.events import Event, EventsDropped

__all__ = ["DeliveryPolicy", "EventBus", "Subscription"]

DeliveryPolicy: TypeAlias = Literal["drop", "block"]


@attrs.define(eq=False)
class Subscription:
    """One subscriber's view of the bus: iterate it to receive events.

    Use it as a context manager so it unsubscribes however the consumer ends.
    """

    name: str
    policy: DeliveryPolicy
    _bus: EventBus
    _send: trio.MemorySendChannel[Event]
    _receive: trio.MemoryReceiveChannel[Event]
    dropped: int = 0
    """Events this subscriber missed in all (drop policy)."""
    types: tuple[type[Event], ...] | None = None
    """The only event classes this subscriber receives (None: every event)."""
    _pending_drops: int = 0

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        # An event already waiting is taken without a trip through the scheduler (a
        # reader handles a burst of events in one step); cancellation is still seen.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            return self._receive.receive_nowait()
        except trio.WouldBlock:
            pass
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Unsubscribe; events already buffered are discarded."""
        self._bus._remove(self)
        self._send.close()
        self._receive.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _offer(self, event: Event) -> bool:
        """Try to deliver without waiting; False (and counted) when the buffer is full."""
        try:
            if self._pending_drops:
                self._send.send_nowait(EventsDropped(count=self._pending_drops))
                self._pending_drops = 0
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self._pending_drops += 1
            self.dropped += 1
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._bus._remove(self)
        return True

    async def _deliver(self, event: Event) -> None:
        """Deliver, waiting only while the buffer is full (backpressure)."""
        try:
            try:
                self._send.send_nowait(event)
            except trio.WouldBlock:
                await self._send.send(event)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._bus._remove(self)


@attrs.define(eq=False)
class EventBus:
    """Fan-out of events to subscribers, each with its own buffer and policy."""

    _subscribers: tuple[Subscription, ...] = ()
    _closed: bool = False

    def subscribe(
        self,
        name: str,
        *,
        buffer: int = 256,
        policy: DeliveryPolicy = "drop",
        types: tuple[type[Event], ...] | None = None,
    ) -> Subscription:
        """A new subscription; events published from now on reach it.

        Args:
            types: receive only events of these classes (and ``EventsDropped``
                notices); a reader that ignores most events is then not woken
                for them. None: every event.
        """
        if buffer < 1:
            raise ValueError("a subscription needs a buffer of at least 1 event")
        if policy not in ("drop", "block"):
            raise ValueError(f"unknown delivery policy {policy!r}")
        send, receive = trio.open_memory_channel[Event](buffer)
        subscription = Subscription(name, policy, self, send, receive, types=types)
        if self._closed:
            send.close()
        else:
            self._subscribers = (*self._subscribers, subscription)
        return subscription

    def wants(self, kind: type[Event]) -> bool:
        """Whether a subscriber would receive an event of ``kind``: a publisher may skip
        building events nobody reads (the scheduler does, two per task)."""
        return any(s.types is None or issubclass(kind, s.types) for s in self._subscribers)

    def may_wait(self, kind: type[Event]) -> bool:
        """Whether publishing an event of ``kind`` could wait: only a ``block``
        subscriber that takes it, with its buffer full, makes ``publish`` wait."""
        return any(
            s.policy == "block" and (s.types is None or issubclass(kind, s.types))
            for s in self._subscribers
        )

    def _remove(self, subscription: Subscription) -> None:
        self._subscribers = tuple(s for s in self._subscribers if s is not subscription)

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber by its policy (waits only for ``block`` ones)."""
        for subscription in self._subscribers:
            if subscription.types is not None and not isinstance(event, subscription.types):
                continue
            if subscription.policy == "block":
                await subscription._deliver(event)
            else:
                subscription._offer(event)

    def publish_nowait(self, event: Event) -> None:
        """Deliver from synchronous code: every subscriber gets drop-with-notice treatment."""
        for subscription in self._subscribers:
            if subscription.types is not None and not isinstance(event, subscription.types):
                continue
            subscription._offer(event)

    async def aclose(self) -> None:
        """End every subscription's iteration once it has drained its buffer."""
        self._closed = True
        subscribers, self._subscribers = self._subscribers, ()
        for subscription in subscribers:
            subscription._send.close()
        await trio.lowlevel.checkpoint()
