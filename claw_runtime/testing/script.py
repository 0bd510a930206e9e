"""Scripts for the fake model server: what the "model" says, turn by turn.

A :class:`Script` is a list of :class:`Turn` values; each request to the
server consumes the next one. A turn is text, tool calls, or both, with
optional thinking, pacing (``chunk_size``, ``delay_s``, ``byte_chunk``) and a
fault (``status``, ``truncate_after_events``, ``error_event``,
``garbage_lines``, ``stall_s``, ``keepalive_s``, ``content_type``) that
breaks the response on purpose. A turn
with ``stop_reason="max_tokens"`` and tool calls cuts the last call's JSON in
half, as the API does when the limit strikes mid call; ``raw_stream`` replays
a recorded stream verbatim.

Scripts are plain attrs values, so they round-trip through JSON for the
standalone server (``python -m claw_runtime.testing --script``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

import attrs
import cattrs
import orjson

__all__ = [
    "Fault",
    "Responder",
    "Script",
    "ToolCallSpec",
    "Turn",
    "by_conversation",
    "dump_script",
    "load_script",
]

StopReason: TypeAlias = Literal[
    "end_turn", "tool_use", "max_tokens", "stop_sequence", "refusal", "pause_turn"
]


@attrs.frozen
class ToolCallSpec:
    """One tool call the scripted model makes."""

    name: str
    input: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Fault:
    """A way for one response to go wrong.

    Attributes:
        status: answer with this HTTP status and an API-shaped error body.
        retry_after: seconds for the ``retry-after`` header (with ``status``).
        retry_after_ms: milliseconds for ``retry-after-ms``.
        error_type: the error body's type (default picked from the status).
        truncate_after_events: end the stream after this many SSE events,
            with no end marker.
        error_event: after the first events of a 200 response, send an SSE
            ``error`` event of this type (e.g. ``overloaded_error``).
        garbage_lines: put lines that are not valid SSE or JSON into the stream.
        stall_s: stop sending mid-stream for this long.
        no_final_newline: not a failure: end the stream right after the end
            marker's data line, with no newline (``data: [DONE]<EOF>``), as the
            SDKs' recorded fixtures end. A client must take it as complete.
        keepalive_s: after the first events, never finish: send an SSE comment
            line (``: ping``) every this many seconds, forever (a server that
            holds a run without tripping any idle timeout).
        content_type: answer 200 with this content type and ``body`` instead
            of an event stream (an HTML error page, a JSON API at the wrong URL).
        body: the body sent with ``content_type`` (default: a small HTML page).
    """

    status: int | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    truncate_after_events: int | None = None
    error_event: str | None = None
    garbage_lines: bool = False
    stall_s: float | None = None
    no_final_newline: bool = False
    keepalive_s: float | None = None
    content_type: str | None = None
    body: str | None = None


@attrs.frozen(kw_only=True)
class Turn:
    """One scripted response."""

    text: str = ""
    thinking: str = ""
    tool_calls: tuple[ToolCallSpec, ...] = ()
    stop_reason: StopReason | None = None
    """Defaults to ``tool_use`` when there are tool calls, else ``end_turn``."""
    chunk_size: int = 0
    """Split text and tool-call JSON into pieces of this many characters (0: whole)."""
    byte_chunk: int = 0
    """Write the response in writes of this many bytes (splits UTF-8 characters)."""
    delay_s: float = 0.0
    """Pause between chunks."""
    refusal: str = ""
    """A refusal: OpenAI streams it as ``delta.refusal``; Anthropic as text with
    ``stop_reason: "refusal"``."""
    finish_reason: str | None = None
    """OpenAI only: the ``finish_reason`` to send instead of the one the stop reason
    implies (``"stop"`` with tool calls, as vLLM and Ollama do)."""
    raw_stream: str | None = None
    """A recorded SSE stream sent byte for byte instead of one built from this turn."""
    input_tokens: int | None = None
    """Scripted usage. When None, input tokens are the request's bytes / 4, and an
    Anthropic request with ``cache_control`` breakpoints gets its cache reads and
    writes simulated (see ``FakeModelServer.prompt_cache``)."""
    output_tokens: int | None = None
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    fault: Fault | None = None

    @classmethod
    def say(cls, text: str, **options: Any) -> Turn:
        """A text-only answer (``Turn.say("Done.")``): it ends the agent's run."""
        return cls(text=text, **options)

    @classmethod
    def call(cls, *calls: ToolCallSpec, text: str = "", **options: Any) -> Turn:
        """Tool calls, optionally after some text (``Turn.call(ToolCallSpec("Read", {...}))``)."""
        return cls(text=text, tool_calls=tuple(calls), **options)

    @classmethod
    def fail(cls, **fault: Any) -> Turn:
        """A response that only fails (``Turn.fail(status=529, retry_after=2)``)."""
        return cls(fault=Fault(**fault))

    def with_fault(self, **fault: Any) -> Turn:
        """This turn, broken in the given way (the content is what gets cut off)."""
        return attrs.evolve(self, fault=Fault(**fault))

    @property
    def effective_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        if self.refusal:
            return "refusal"
        return "tool_use" if self.tool_calls else "end_turn"


Responder: TypeAlias = Callable[[dict[str, Any]], Turn]
"""A function from the request body to the turn to answer with (dynamic scripts)."""


@attrs.define(eq=False)
class Script:
    """Turns served in order; a responder, if given, answers once they run out."""

    turns: list[Turn] = attrs.field(factory=list)
    responder: Responder | None = None
    position: int = 0

    def next_turn(self, body: dict[str, Any]) -> Turn | None:
        if self.position < len(self.turns):
            turn = self.turns[self.position]
            self.position += 1
            return turn
        if self.responder is not None:
            return self.responder(body)
        return None

    @property
    def remaining(self) -> int:
        return len(self.turns) - self.position


def _first_user_text(body: dict[str, Any]) -> str:
    for message in body.get("messages") or ():
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(b.get("text", "") for b in content if isinstance(b, dict))
        return ""
    return ""


def by_conversation(routes: Mapping[str, Sequence[Turn]]) -> Responder:
    """A responder that scripts several conversations at once: a session and its sub-agents.

    A request belongs to the first route whose key occurs in its first user
    message (a sub-agent's prompt, the session's first prompt); it gets that
    route's turn at the position of the request in its conversation (the number
    of assistant messages it carries). Requests of the same route are answered
    independently, so many concurrent conversations can share one route::

        Script(responder=by_conversation({
            "main task": [Turn.call(ToolCallSpec("Task", {...})), Turn.say("all done")],
            "child task": [Turn.say("child answer", delay_s=0.2)],
        }))

    A request no route matches, or past a route's end, is answered with HTTP 500.
    """

    def respond(body: dict[str, Any]) -> Turn:
        first = _first_user_text(body)
        position = sum(
            1
            for m in body.get("messages") or ()
            if isinstance(m, dict) and m.get("role") == "assistant"
        )
        for key, turns in routes.items():
            if key in first:
                if position < len(turns):
                    return turns[position]
                return Turn.fail(status=500, error_message=f"route {key!r} has no turn {position}")
        return Turn.fail(status=500, error_message=f"no route for a conversation: {first[:80]!r}")

    return respond


_converter = cattrs.Converter(forbid_extra_keys=True)


def dump_script(turns: Sequence[Turn]) -> bytes:
    """A script as JSON (a list of turns)."""
    return orjson.dumps(_converter.unstructure(list(turns), list[Turn]))


def load_script(source: bytes | str | Path) -> Script:
    """A script from JSON text or a JSON file."""
    data = source.read_bytes() if isinstance(source, Path) else source
    turns: list[Turn] = _converter.structure(orjson.loads(data), list[Turn])
    return Script(turns)
