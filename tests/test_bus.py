"""Event bus delivery policies: drop-with-notice never stalls, block never loses."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from claw_runtime.bus import EventBus
from claw_runtime.events import Event, EventsDropped, TextDelta, TurnStarted


def turns(n: int) -> list[TurnStarted]:
    return [TurnStarted(turn=i) for i in range(1, n + 1)]


async def drain(subscription: object) -> list[Event]:
    received: list[Event] = []
    async for event in subscription:  # type: ignore[attr-defined]
        received.append(event)
    return received


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    first, second = bus.subscribe("a"), bus.subscribe("b", policy="block")
    for event in turns(5):
        await bus.publish(event)
    await bus.aclose()
    assert await drain(first) == turns(5)
    assert await drain(second) == turns(5)


async def test_a_slow_drop_subscriber_is_told_what_it_missed_and_never_stalls_publish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = EventBus()
    slow = bus.subscribe("slow", buffer=3)
    fast = bus.subscribe("fast", buffer=100)
    start = trio.current_time()
    for event in turns(10):
        await bus.publish(event)
    assert trio.current_time() == start  # publishing never waited
    assert slow.dropped == 7
    # Once it catches up, the notice comes before the next event it gets.
    got = [await slow.__anext__() for _ in range(3)]
    assert got == turns(3)
    await bus.publish(TurnStarted(turn=11))
    assert await slow.__anext__() == EventsDropped(count=7)
    assert await slow.__anext__() == TurnStarted(turn=11)
    await bus.aclose()
    assert await drain(fast) == [*turns(10), TurnStarted(turn=11)]


async def test_block_policy_applies_backpressure_and_loses_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bus = EventBus()
    lossless = bus.subscribe("writer", buffer=2, policy="block")
    received: list[Event] = []
    published_at: list[float] = []

    async def slow_reader() -> None:
        async for event in lossless:
            received.append(event)
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_reader)
        for event in turns(6):
            await bus.publish(event)
            published_at.append(trio.current_time())
        await bus.aclose()
    assert received == turns(6)
    assert lossless.dropped == 0
    assert published_at[-1] >= 3  # the publisher waited for the reader


async def test_publish_nowait_drops_with_notice_even_for_block_subscribers() -> None:
    bus = EventBus()
    sub = bus.subscribe("writer", buffer=1, policy="block")
    bus.publish_nowait(TurnStarted(turn=1))
    bus.publish_nowait(TurnStarted(turn=2))
    assert sub.dropped == 1


async def test_unsubscribed_and_closed_subscribers_receive_nothing_more() -> None:
    bus = EventBus()
    with bus.subscribe("temp") as temp:
        await bus.publish(TurnStarted(turn=1))
    kept = bus.subscribe("kept")
    await bus.publish(TurnStarted(turn=2))
    await bus.aclose()
    assert await drain(kept) == [TurnStarted(turn=2)]
    assert await drain(temp) == []
    late = bus.subscribe("late")
    assert await drain(late) == []  # a closed bus ends new subscriptions at once


def test_buffers_are_bounded_and_policies_checked() -> None:
    bus = EventBus()
    with pytest.raises(ValueError, match="at least 1"):
        bus.subscribe("x", buffer=0)
    with pytest.raises(ValueError, match="policy"):
        bus.subscribe("x", policy="maybe")  # type: ignore[arg-type]


async def test_a_subscriber_receives_only_the_event_types_it_asked_for() -> None:
    bus = EventBus()
    some = bus.subscribe("some", policy="block", types=(TurnStarted,))
    every = bus.subscribe("every")
    events: list[Event] = [TurnStarted(turn=1), TextDelta(turn=1, text="x"), TurnStarted(turn=2)]
    for event in events:
        await bus.publish(event)
    bus.publish_nowait(TextDelta(turn=2, text="y"))
    await bus.aclose()
    assert await drain(some) == [TurnStarted(turn=1), TurnStarted(turn=2)]
    assert await drain(every) == [*events, TextDelta(turn=2, text="y")]


async def test_a_reader_with_events_waiting_still_sees_its_cancellation() -> None:
    bus = EventBus()
    reader = bus.subscribe("reader", policy="block", buffer=8)
    for event in turns(3):
        await bus.publish(event)
    with trio.CancelScope() as scope:
        scope.cancel()
        await reader.__anext__()
    assert scope.cancelled_caught
    assert await reader.__anext__() == TurnStarted(turn=1)  # nothing was lost
