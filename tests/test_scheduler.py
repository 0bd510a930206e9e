"""Scheduler lifecycles on trio's virtual clock (every test takes ``autojump_clock``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

from claw_runtime.bus import EventBus
from claw_runtime.errors import ClawError, TaskCancelled, TaskFailed, TaskTimedOut
from claw_runtime.events import TaskStateChanged
from claw_runtime.models import TaskState
from claw_runtime.scheduler import Scheduler, TaskHandle, current_task, open_scheduler


@pytest.fixture
async def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def sched(bus: EventBus) -> AsyncIterator[Scheduler]:
    async with open_scheduler(bus) as scheduler:
        yield scheduler


async def value_after(delay: float, value: Any) -> Any:
    await trio.sleep(delay)
    return value


async def fail_after_delay(delay: float, message: str = "boom") -> None:
    await trio.sleep(delay)
    raise ValueError(message)


async def test_success_goes_pending_running_succeeded(
    sched: Scheduler, bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    with bus.subscribe("test", policy="block", buffer=16) as events:
        handle = sched.spawn(value_after, 1.0, 42, name="answer")
        assert handle.state is TaskState.PENDING
        assert await handle.result() == 42
        first, second = events._receive.receive_nowait(), events._receive.receive_nowait()
    assert isinstance(first, TaskStateChanged) and isinstance(second, TaskStateChanged)
    assert [(e.old, e.new) for e in (first, second)] == [
        (TaskState.PENDING, TaskState.RUNNING),
        (TaskState.RUNNING, TaskState.SUCCEEDED),
    ]
    assert first.name == "answer" and first.task_id == handle.id
    assert sched.tasks() == []


async def test_failure_is_captured_with_its_cause(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    handle = sched.spawn(fail_after_delay, 1.0, "disk full", name="writer")
    with pytest.raises(TaskFailed, match="disk full") as info:
        await handle.result()
    assert isinstance(info.value.__cause__, ValueError)
    assert handle.state is TaskState.FAILED
    await handle.wait()  # never raises


async def test_a_failing_child_leaves_siblings_and_parent_alone(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    results: dict[str, Any] = {}

    async def parent() -> str:
        bad = sched.spawn(fail_after_delay, 1.0, name="bad", parent=me)
        good = sched.spawn(value_after, 3.0, "fine", name="good", parent=me)
        results["good"] = await good.result()
        await bad.wait()
        results["bad"] = bad.state
        return "parent done"

    me = sched.spawn(parent, name="parent")
    assert await me.result() == "parent done"
    assert results == {"good": "fine", "bad": TaskState.FAILED}


async def test_fail_fast_cancels_siblings_and_fails_the_parent(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    kids: list[TaskHandle[Any]] = []

    async def parent() -> None:
        kids.append(sched.spawn(trio.sleep_forever, name="sibling", parent=me))
        kids.append(sched.spawn(fail_after_delay, 1.0, "child broke", name="bad", parent=me))
        await trio.sleep_forever()

    me = sched.spawn(parent, name="parent", fail_fast=True)
    with pytest.raises(TaskFailed, match="child broke"):
        await me.result()
    states = {c.name: c.state for c in kids}
    assert states == {"sibling": TaskState.CANCELLED, "bad": TaskState.FAILED}


async def test_cancelling_a_parent_cancels_the_whole_subtree(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    grandchildren: list[TaskHandle[Any]] = []

    async def child() -> None:
        grandchildren.append(sched.spawn(trio.sleep_forever, name="grandchild", parent=kid))
        await trio.sleep_forever()

    async def parent() -> None:
        nonlocal kid
        kid = sched.spawn(child, name="child", parent=top)
        await trio.sleep_forever()

    kid: TaskHandle[Any]
    top = sched.spawn(parent, name="parent")
    await trio.sleep(1)
    assert grandchildren[0].state is TaskState.RUNNING
    top.cancel()
    with pytest.raises(TaskCancelled):
        await top.result()
    assert grandchildren[0].state is TaskState.CANCELLED
    assert kid.state is TaskState.CANCELLED


async def test_a_parent_is_final_only_after_its_children(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    async def parent() -> str:
        sched.spawn(value_after, 5.0, None, name="slow child", parent=me)
        return "returned early"

    me = sched.spawn(parent, name="parent")
    await trio.sleep(1)
    assert me.state is TaskState.RUNNING
    start = trio.current_time()
    assert await me.result() == "returned early"
    assert trio.current_time() - start == pytest.approx(4.0, abs=0.05)


async def test_timeout_ends_timed_out_and_cancels_children(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    kids: list[TaskHandle[Any]] = []

    async def parent() -> None:
        kids.append(sched.spawn(trio.sleep_forever, name="child", parent=me))
        await trio.sleep_forever()

    me = sched.spawn(parent, name="slow", timeout=2.0)
    start = trio.current_time()
    with pytest.raises(TaskTimedOut):
        await me.result()
    assert trio.current_time() - start == pytest.approx(2.0, abs=0.05)
    assert me.state is TaskState.TIMED_OUT
    assert kids[0].state is TaskState.CANCELLED


async def test_capacity_group_bounds_concurrency_and_pending_time_is_not_timeout(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    running = 0
    peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1.0)
        running -= 1

    sched.set_capacity("tools", 3)
    start = trio.current_time()
    handles = [sched.spawn(job, name=f"job{i}", group="tools", timeout=1.5) for i in range(10)]
    await trio.sleep(0.5)
    assert sum(h.state is TaskState.PENDING for h in handles) == 7
    for h in handles:
        await h.result()  # none timed out: waiting for a slot is not running time
    assert peak == 3
    assert trio.current_time() - start == pytest.approx(4.0, abs=0.05)


async def test_cancel_while_pending_never_starts(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    started: list[str] = []

    async def job(name: str) -> None:
        started.append(name)
        await trio.sleep(1)

    sched.set_capacity("one", 1)
    a = sched.spawn(job, "a", name="a", group="one")
    b = sched.spawn(job, "b", name="b", group="one")
    await trio.sleep(0.1)
    [waiting] = [h for h in (a, b) if h.state is TaskState.PENDING]
    [running] = [h for h in (a, b) if h.state is TaskState.RUNNING]
    waiting.cancel()
    with pytest.raises(TaskCancelled):
        await waiting.result()
    await running.result()
    assert started == [running.name]


async def test_spawn_under_a_finished_parent_or_after_close_is_a_clear_error(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_scheduler(bus) as sched:
        done = sched.spawn(value_after, 0.0, 1, name="done")
        await done.result()
        with pytest.raises(ClawError, match="not running"):
            sched.spawn(value_after, 0.0, 1, name="orphan", parent=done)
    with pytest.raises(ClawError, match="closed"):
        sched.spawn(value_after, 0.0, 1, name="late")


async def test_leaving_the_scheduler_cancels_what_is_still_running(
    bus: EventBus, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_scheduler(bus) as sched:
        forever = sched.spawn(trio.sleep_forever, name="forever")
        await trio.sleep(1)
    assert forever.state is TaskState.CANCELLED


async def test_thousands_of_tasks(sched: Scheduler, autojump_clock: trio.testing.MockClock) -> None:
    handles = [sched.spawn(value_after, 0.001 * (i % 7), i, name=f"t{i}") for i in range(3000)]
    assert [await h.result() for h in handles] == list(range(3000))


async def test_finished_children_are_released_and_know_their_task_and_session(
    sched: Scheduler, autojump_clock: trio.testing.MockClock
) -> None:
    """A long-lived parent (a session) does not keep every finished call it ran."""
    seen: list[tuple[int | None, str | None]] = []

    async def child() -> None:
        task = current_task()
        seen.append((task.id if task else None, task.session_id if task else None))

    async def parent() -> None:
        for _ in range(50):
            await sched.spawn(child, name="call", parent=me).result()
        await trio.sleep_forever()

    me = sched.spawn(parent, name="session", session_id="s-1")
    await trio.sleep(1)
    assert me.children == []
    assert len(seen) == 50
    assert all(session == "s-1" for _, session in seen)
    assert len({task for task, _ in seen}) == 50 and me.id not in {t for t, _ in seen}
    me.cancel()
    assert current_task() is None


@pytest.mark.parametrize("reader", ["none", "drop", "block, full"])
async def test_a_task_cancelled_with_its_parent_always_reaches_its_final_state(
    sched: Scheduler, bus: EventBus, reader: str, autojump_clock: trio.testing.MockClock
) -> None:
    """A task's end is recorded whatever cancels it, an ancestor too. With a ``block``
    reader whose buffer is full, publishing the final state waits, and that wait is
    shielded from the parent's cancellation; with no reader (the events are then not
    even built) or a ``drop`` one, nothing there can wait."""
    subscription = None
    if reader != "none":
        policy = "block" if reader.startswith("block") else "drop"
        subscription = bus.subscribe("slow reader", policy=policy, buffer=1)
    children: list[TaskHandle[Any]] = []

    async def parent() -> None:
        children.append(sched.spawn(trio.sleep_forever, name="child", parent=me))
        await trio.sleep_forever()

    me = sched.spawn(parent, name="parent")
    await trio.sleep(1)  # both running; a block reader's one place is full by now
    me.cancel()

    async def read_late() -> None:
        await trio.sleep(5)  # the final states wait this long for room
        if subscription is not None:
            async for _ in subscription:
                pass

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_late)
        with trio.fail_after(30):
            await me.wait()
        finished = trio.current_time()
        nursery.cancel_scope.cancel()
    (child,) = children
    assert (child.state, me.state) == (TaskState.CANCELLED, TaskState.CANCELLED)
    assert sched.tasks() == []
    assert (finished >= 6) is (reader == "block, full")
    assert bus.wants(TaskStateChanged) is (reader != "none")
