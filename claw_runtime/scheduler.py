"""The scheduler: concurrent task lifecycles on trio nurseries.

Every concurrent piece of work in claw (an agent run, a tool call, a background
shell, a sub-agent, a batch item) is a *task*: a name, a parent, a state, an
optional timeout and an optional capacity group. The rules:

* **Structure.** A child runs inside its parent's nursery. Cancelling a task
  cancels its whole subtree; a parent is not final until all its children are.
* **Isolation.** A task's exception is captured in its handle and reported by
  :meth:`TaskHandle.result`; it never tears down siblings, the parent, or the
  scheduler's nursery.
* **Fail-fast, on request.** A parent spawned with ``fail_fast=True`` cancels
  its other children when one fails or times out, and itself ends ``FAILED``
  with that child's error as the cause.
* **Capacity.** Tasks in a group wait (``PENDING``) for a slot of the group's
  ``trio.CapacityLimiter``; a timeout counts running time only.
* **Visibility.** Every state change is published on the bus as
  :class:`~claw_runtime.events.TaskStateChanged`.

States: ``PENDING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED | TIMED_OUT``;
a task cancelled while pending goes straight to ``CANCELLED``.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from typing import Any, Generic, TypeVar

import attrs
import trio

from claw_runtime.bus import EventBus
from claw_runtime.errors import ClawError, TaskCancelled, TaskFailed, TaskTimedOut
from claw_runtime.events import TaskStateChanged
from claw_runtime.models import TaskState

__all__ = ["DEFAULT_GROUP_CAPACITY", "Scheduler", "TaskHandle", "current_task", "open_scheduler"]

T = TypeVar("T")

DEFAULT_GROUP_CAPACITY = 8
"""Slots of a capacity group that was used before ``set_capacity`` named it."""

_NO_VALUE: Any = object()

_current: contextvars.ContextVar[TaskHandle[Any] | None] = contextvars.ContextVar(
    "claw_current_task", default=None
)


def current_task() -> TaskHandle[Any] | None:
    """The scheduler task the caller runs in (its innermost one), or None outside any."""
    return _current.get()


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@attrs.define(eq=False, kw_only=True)
class TaskHandle(Generic[T]):
    """A scheduled task: watch its state, wait for its result, cancel it."""

    id: int
    name: str
    parent: TaskHandle[Any] | None
    group: str | None = None
    timeout: float | None = None
    fail_fast: bool = False
    session_id: str | None = None
    """The session the task works for (inherited from the parent when not given)."""
    children: list[TaskHandle[Any]] = attrs.field(factory=list)
    """The children that have not finished yet (a finished child is let go)."""
    state: TaskState = TaskState.PENDING
    error: BaseException | None = None
    """The exception the task raised (FAILED), or its failed child's (fail-fast)."""

    _value: Any = _NO_VALUE
    _done: trio.Event = attrs.field(factory=trio.Event)
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _nursery: trio.Nursery | None = None
    _failed_child: TaskHandle[Any] | None = None

    @property
    def done(self) -> bool:
        return self.state.is_final

    def cancel(self) -> None:
        """Cancel this task and its whole subtree (also before it started)."""
        self._scope.cancel()

    async def wait(self) -> None:
        """Wait until the task is final; never raises."""
        await self._done.wait()

    async def result(self) -> T:
        """The task's return value.

        Raises:
            TaskFailed: the task raised (``__cause__``) or, with fail-fast, a child failed.
            TaskCancelled: the task or an ancestor was cancelled.
            TaskTimedOut: the task ran past its timeout.
        """
        await self._done.wait()
        if self.state is TaskState.SUCCEEDED:
            value: T = self._value
            return value
        if self.state is TaskState.FAILED:
            assert self.error is not None
            raise TaskFailed(f"task {self.name!r} failed: {_describe(self.error)}") from self.error
        if self.state is TaskState.TIMED_OUT:
            raise TaskTimedOut(f"task {self.name!r} timed out after {self.timeout} s")
        raise TaskCancelled(f"task {self.name!r} was cancelled")


@attrs.define(eq=False)
class Scheduler:
    """Spawns and tracks tasks. Get one from :func:`open_scheduler`."""

    _root: trio.Nursery
    _bus: EventBus | None = None
    _limiters: dict[str, trio.CapacityLimiter] = attrs.field(factory=dict)
    _live: dict[int, TaskHandle[Any]] = attrs.field(factory=dict)
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    _closed: bool = False

    def set_capacity(self, group: str, limit: int) -> None:
        """Bound how many tasks of ``group`` run at once (changeable at any time)."""
        if limit < 1:
            raise ValueError("a capacity group needs at least one slot")
        limiter = self._limiters.get(group)
        if limiter is None:
            self._limiters[group] = trio.CapacityLimiter(limit)
        else:
            limiter.total_tokens = limit

    def tasks(self) -> list[TaskHandle[Any]]:
        """The tasks that are not final yet, oldest first."""
        return list(self._live.values())

    def cancel_all(self) -> None:
        for handle in list(self._live.values()):
            handle.cancel()

    def spawn(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        name: str,
        parent: TaskHandle[Any] | None = None,
        timeout: float | None = None,
        group: str | None = None,
        fail_fast: bool = False,
        session_id: str | None = None,
    ) -> TaskHandle[T]:
        """Start ``fn(*args)`` as a task and return its handle at once.

        Raises:
            ClawError: the scheduler is closed, or ``parent`` is not running.
        """
        if self._closed:
            raise ClawError(f"cannot spawn {name!r}: the scheduler is closed")
        if parent is None:
            nursery = self._root
        else:
            if parent._nursery is None:
                raise ClawError(
                    f"cannot spawn {name!r} under {parent.name!r}: "
                    f"the parent is {parent.state.value}, not running"
                )
            nursery = parent._nursery
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive")
        handle: TaskHandle[T] = TaskHandle(
            id=next(self._ids),
            name=name,
            parent=parent,
            group=group,
            timeout=timeout,
            fail_fast=fail_fast,
            session_id=session_id or (parent.session_id if parent is not None else None),
        )
        if parent is not None:
            parent.children.append(handle)
        self._live[handle.id] = handle
        nursery.start_soon(self._run, handle, fn, args, name=f"claw:{name}")
        return handle

    def _limiter(self, group: str | None) -> trio.CapacityLimiter | None:
        if group is None:
            return None
        if group not in self._limiters:
            self._limiters[group] = trio.CapacityLimiter(DEFAULT_GROUP_CAPACITY)
        return self._limiters[group]

    async def _set_state(self, handle: TaskHandle[Any], new: TaskState) -> None:
        old, handle.state = handle.state, new
        if self._bus is not None and self._bus.wants(TaskStateChanged):
            error = _describe(handle.error) if handle.error is not None else None
            await self._bus.publish(
                TaskStateChanged(
                    session_id=handle.session_id,
                    task_id=handle.id,
                    name=handle.name,
                    parent_id=handle.parent.id if handle.parent else None,
                    old=old,
                    new=new,
                    error=error,
                )
            )

    async def _run(
        self, handle: TaskHandle[Any], fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]
    ) -> None:
        final = TaskState.CANCELLED
        # A scope for the timeout only when there is one: each scope costs every task.
        timeout_scope = None if handle.timeout is None else trio.CancelScope()
        _current.set(handle)  # this trio task's own context: its children inherit it
        try:
            with handle._scope:
                limiter = self._limiter(handle.group)
                if limiter is not None:
                    await limiter.acquire_on_behalf_of(handle)
                try:
                    await self._set_state(handle, TaskState.RUNNING)
                    if timeout_scope is not None and handle.timeout is not None:
                        timeout_scope.deadline = trio.current_time() + handle.timeout
                    with timeout_scope if timeout_scope is not None else nullcontext():
                        async with trio.open_nursery() as children:
                            handle._nursery = children
                            try:
                                handle._value = await fn(*args)
                            except Exception as exc:
                                handle.error = exc
                                children.cancel_scope.cancel()
                finally:
                    handle._nursery = None
                    if limiter is not None:
                        limiter.release_on_behalf_of(handle)
            final = self._outcome(handle, timeout_scope)
        finally:
            # Runs for an ancestor's cancellation too (then Cancelled propagates on), so it
            # must not be cut short: shielded when publishing the final state could wait
            # (a ``block`` subscriber); otherwise nothing in it checkpoints, and a shield,
            # a cancel scope more for every task, would guard nothing.
            if self._bus is not None and self._bus.may_wait(TaskStateChanged):
                with trio.CancelScope(shield=True):
                    await self._finish(handle, final)
            else:
                await self._finish(handle, final)

    def _outcome(
        self, handle: TaskHandle[Any], timeout_scope: trio.CancelScope | None
    ) -> TaskState:
        if handle._failed_child is not None:
            handle.error = handle._failed_child.error
            return TaskState.FAILED
        if handle.error is not None:
            return TaskState.FAILED
        if timeout_scope is not None and timeout_scope.cancelled_caught:
            return TaskState.TIMED_OUT
        if handle._value is _NO_VALUE:
            return TaskState.CANCELLED
        return TaskState.SUCCEEDED

    async def _finish(self, handle: TaskHandle[Any], final: TaskState) -> None:
        await self._set_state(handle, final)
        self._live.pop(handle.id, None)
        handle._done.set()
        parent = handle.parent
        if parent is not None:
            # Let the handle go: a long-lived parent (a session) must not keep
            # every tool call it ever ran. The caller that awaits it holds it.
            with contextlib.suppress(ValueError):
                parent.children.remove(handle)
        if (
            parent is not None
            and parent.fail_fast
            and final in (TaskState.FAILED, TaskState.TIMED_OUT)
            and parent._failed_child is None
        ):
            if handle.error is None:
                handle.error = TaskTimedOut(f"task {handle.name!r} timed out")
            parent._failed_child = handle
            parent.cancel()


@asynccontextmanager
async def open_scheduler(bus: EventBus | None = None) -> AsyncIterator[Scheduler]:
    """A scheduler whose tasks live in a root nursery bounded by this block.

    Leaving the block cancels every task still running and waits for them to
    finish cleaning up (their processes killed, their results recorded).
    """
    async with trio.open_nursery() as root:
        scheduler = Scheduler(root, bus)
        try:
            yield scheduler
        finally:
            scheduler._closed = True
            scheduler.cancel_all()
