"""Renderers: turn bus events into what ``--output-format`` promises on stdout.

Each renderer is a bus subscriber with the ``block`` (lossless) policy, so
nothing is dropped from machine-readable output; it ends when it sees
``SessionEnded``. The one-line result object is written last, after every
event, so ``tail -n 1`` of stdout is always the result.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO, ClassVar

import orjson
import trio

from claw_runtime import serde
from claw_runtime.bus import EventBus
from claw_runtime.events import (
    Compacted,
    Event,
    ModelRetry,
    SessionEnded,
    SessionStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from claw_runtime.loop import RunResult

__all__ = ["Renderer", "compaction_line", "make_renderer", "result_to_dict"]


def _short_tokens(count: int) -> str:
    """``183k``, ``4.2k``, ``850``: a token count at a glance."""
    if count >= 10_000:
        return f"{count / 1000:.0f}k"
    if count >= 1_000:
        return f"{count / 1000:.1f}k"
    return str(count)


def compaction_line(event: Compacted) -> str | None:
    """``Conversation compacted (183k → 21k tokens)`` for an automatic compaction, or None.

    A compaction by hand (``/compact``) is not announced: the command's own
    answer says what it did, in more detail. A failed one is not either: the
    session's notice says so (``auto-compaction failed: ...``).
    """
    if event.trigger != "auto":
        return None
    before, after = _short_tokens(event.tokens_before), _short_tokens(event.tokens_after)
    return f"Conversation compacted ({before} → {after} tokens)"


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """The result object as ``--output-format json`` prints it."""
    body: dict[str, Any] = serde.unstructure(result)
    subtype = "success" if not result.is_error else f"error_{result.stop_reason}"
    return {"type": "result", "subtype": subtype, **body}


class Renderer:
    """Base renderer: subclasses say what an event and the final result print."""

    shows: ClassVar[tuple[type[Event], ...] | None] = None
    """The events :meth:`handle` does something with (None: all); the renderer
    subscribes to these only (and ``SessionEnded``, its end)."""

    def __init__(self, out: BinaryIO | None = None, err: Any = None) -> None:
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr

    def handle(self, event: Event) -> None:
        raise NotImplementedError

    async def consume(self, bus: EventBus, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        types = None if self.shows is None else (*self.shows, SessionEnded)
        name = f"render.{type(self).__name__}"
        with bus.subscribe(name, policy="block", buffer=1024, types=types) as sub:
            task_status.started()
            async for event in sub:
                self.handle(event)
                if isinstance(event, SessionEnded):
                    break
        self.out.flush()

    def write_line(self, data: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(data) + b"\n")

    def finish(self, result: RunResult) -> None:
        raise NotImplementedError


class TextRenderer(Renderer):
    """Prints the final answer only (retries and compactions go to stderr, one line each)."""

    shows = (ModelRetry, Compacted)

    def handle(self, event: Event) -> None:
        if isinstance(event, Compacted):
            line = compaction_line(event) if event.agent_id is None else None
            if line is not None:
                print(f"claw: {line[0].lower()}{line[1:]}", file=self.err)
        elif isinstance(event, ModelRetry):
            print(
                f"claw: model attempt {event.attempt} failed ({event.reason}); "
                f"retrying in {event.delay_s:.1f}s",
                file=self.err,
            )

    def finish(self, result: RunResult) -> None:
        text = result.result
        if result.is_error:
            print(f"claw: {text}", file=self.err)
            return
        self.out.write(text.encode() + (b"" if text.endswith("\n") else b"\n"))
        self.out.flush()


class JsonRenderer(Renderer):
    """Prints one result object, as the last line of stdout."""

    shows = ()

    def handle(self, event: Event) -> None:
        return None

    def finish(self, result: RunResult) -> None:
        self.write_line(result_to_dict(result))
        self.out.flush()


class StreamJsonRenderer(Renderer):
    """Prints every event as one JSON object per line, then the result object.

    ``session_started`` comes first, as Claude Code's ``system/init`` does: it is
    published once the session's MCP servers started, after the session's first
    tasks did, so events before it are held and written right after it.
    """

    def __init__(self, out: BinaryIO | None = None, err: Any = None) -> None:
        super().__init__(out, err)
        self._held: list[Event] | None = []
        """Events that came before ``session_started`` (None once it was written)."""

    def handle(self, event: Event) -> None:
        if self._held is not None:
            if not isinstance(event, SessionStarted | SessionEnded):
                self._held.append(event)
                return
            held, self._held = self._held, None
            for early in [event, *held] if isinstance(event, SessionStarted) else [*held, event]:
                self.handle(early)
            return
        self.out.write(serde.dumps(event) + b"\n")
        if isinstance(event, TextDelta | TurnFinished | ToolCallStarted | ToolCallFinished):
            self.out.flush()

    def finish(self, result: RunResult) -> None:
        self.write_line(result_to_dict(result))
        self.out.flush()


def make_renderer(output_format: str) -> Renderer:
    return {"text": TextRenderer, "json": JsonRenderer, "stream-json": StreamJsonRenderer}[
        output_format
    ]()
