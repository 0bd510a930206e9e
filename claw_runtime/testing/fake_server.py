"""A fake model server: real HTTP on loopback, real wire protocols, scripted answers.

It speaks the Anthropic Messages API (``POST /v1/messages``, and
``/v1/messages/count_tokens``, which counts the body's bytes / 4) and OpenAI Chat
Completions (``POST /v1/chat/completions`` or ``/chat/completions``), streaming
(SSE, exactly the events the real services send) and non-streaming. Each
request consumes the next :class:`~claw_runtime.testing.script.Turn` of a
script; faults in a turn break the response on purpose (HTTP errors with
``retry-after``, truncated streams, error events after 200, garbage lines,
stalls). Every request is recorded in :attr:`FakeModelServer.requests`.

Anthropic prompt caching is simulated: the prefix up to each ``cache_control``
breakpoint is remembered, and usage reports ``cache_read_input_tokens`` for the
part an earlier request cached and ``cache_creation_input_tokens`` for the rest
up to the last breakpoint, as the API does.

Use it in tests::

    async with open_fake_model_server(Script([Turn.say("hi")])) as server:
        ...  # point ANTHROPIC_BASE_URL or OPENAI_BASE_URL at server.base_url

or standalone, for benchmarks and other frameworks::

    python -m claw_runtime.testing --script turns.json [--port 0] [--lean]

which prints its base URL as the first line of stdout.

Benchmarks send it thousands of requests and only need the answers, so
``--lean`` (``serve_for_benchmark(script, lean=True)``, ``lean=True`` for
:func:`serve_fake_model`) leaves out what only tests look at: no
:class:`RecordedRequest` is kept (``requests`` stays empty; ``received``
still counts) and the prompt cache is not simulated (usage reports the
scripted cache tokens, 0 by default, and input tokens as the body's bytes / 4).
The bytes sent for a script are the same in both modes otherwise. In every
mode the request body is parsed and dropped before the answer starts (so
stalled answers hold no parsed JSON) and an unpaced answer sends whatever
comes between two stalls in one write.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import h11
import orjson
import trio

from claw_runtime.testing.script import Fault, Script, Turn, load_script

__all__ = [
    "FakeModelServer",
    "RecordedRequest",
    "open_fake_model_server",
    "serve_fake_model",
    "serve_for_benchmark",
]

_MAX_BODY = 64 * 1024 * 1024

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = attrs.field(factory=time.monotonic)
    """``time.monotonic()`` when the whole request had arrived (benchmarks time the gaps)."""


@attrs.define(eq=False)
class FakeModelServer:
    """A running fake server: its address and what it has seen."""

    script: Script
    port: int
    host: str = "127.0.0.1"
    lean: bool = False
    """Benchmark mode: record no requests and simulate no prompt cache (see the module)."""
    requests: list[RecordedRequest] = attrs.field(factory=list)
    """What was received, in order (always empty when ``lean``)."""
    received: int = 0
    """How many requests arrived, also when ``lean``."""
    prompt_cache: set[bytes] = attrs.field(factory=set)
    """Digests of the prompt prefixes cached so far (Anthropic ``cache_control``)."""
    _ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def next_id(self) -> int:
        return next(self._ids)


# ---------------------------------------------------------------- HTTP plumbing


async def _read_request(
    stream: trio.SocketStream, conn: h11.Connection
) -> tuple[h11.Request, bytes] | None:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)  # b"" means the peer closed
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > _MAX_BODY:
                return None
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, bytes(body)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def _send_whole(
    stream: trio.SocketStream, conn: h11.Connection, status: int, headers: Any, payload: bytes
) -> None:
    """A complete response in one write (one syscall instead of three)."""
    head = conn.send(h11.Response(status_code=status, headers=headers))
    body = conn.send(h11.Data(data=payload))
    end = conn.send(h11.EndOfMessage())
    await stream.send_all(b"".join(part for part in (head, body, end) if part))


def _chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk, byte for byte as h11's ``ChunkedWriter`` frames it."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


@attrs.frozen
class _Whole:
    """A complete answer: status, headers and body."""

    status: int
    headers: list[tuple[str, str]]
    payload: bytes


@attrs.frozen
class _Stream:
    """An event-stream answer: the events (a float: pause this long) and the turn's pacing."""

    plan: list[bytes | float]
    turn: Turn


def _json(status: int, body: Any, extra_headers: list[tuple[str, str]] | None = None) -> _Whole:
    payload = orjson.dumps(body)
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(payload))),
        *(extra_headers or []),
    ]
    return _Whole(status, headers, payload)


def _error_body(protocol: str, status: int, fault: Fault | None, message: str) -> Any:
    error_type = (fault.error_type if fault else None) or _ERROR_TYPES.get(status, "api_error")
    text = (fault.error_message if fault else None) or message
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": error_type, "message": text}}
    return {"error": {"message": text, "type": error_type, "code": error_type}}


# ------------------------------------------------------------- response content


def _split(text: str, size: int) -> list[str]:
    if size <= 0 or len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage(turn: Turn, raw_body: bytes) -> tuple[int, int]:
    produced = len(turn.text) + len(turn.thinking) + len(turn.refusal)
    produced += sum(len(orjson.dumps(c.input)) + len(c.name) for c in turn.tool_calls)
    input_tokens = turn.input_tokens if turn.input_tokens is not None else len(raw_body) // 4 + 1
    output_tokens = turn.output_tokens if turn.output_tokens is not None else produced // 4 + 1
    return input_tokens, output_tokens


GC_THRESHOLD = 50_000
"""The young generation's collection threshold in a benchmark's server process."""

CACHE_LOOKBACK_BLOCKS = 20
"""How far before a breakpoint the API looks for an earlier cache entry."""


def _prompt_segments(body: dict[str, Any]) -> list[tuple[bytes, bool]]:
    """The request's cacheable prefix in order (tools, system, message blocks).

    Each item is a block's canonical bytes (without ``cache_control``) and
    whether it carried a breakpoint.
    """
    items: list[tuple[Any, bool]] = []

    def add(prefix: str, block: Any) -> None:
        marked = isinstance(block, dict) and "cache_control" in block
        if marked:
            block = {k: v for k, v in block.items() if k != "cache_control"}
        items.append(({"at": prefix, "block": block}, marked))

    for tool in body.get("tools") or ():
        add("tool", tool)
    system = body.get("system")
    if isinstance(system, list):
        for block in system:
            add("system", block)
    elif system:
        add("system", system)
    for n, message in enumerate(body.get("messages") or ()):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        for block in content if isinstance(content, list) else [content]:
            add(f"{n}:{message.get('role')}", block)
    return [(orjson.dumps(item, option=orjson.OPT_SORT_KEYS), marked) for item, marked in items]


def _simulate_prompt_cache(server: FakeModelServer, body: dict[str, Any]) -> tuple[int, int]:
    """(cache read, cache write) tokens for an Anthropic request, as the API bills them.

    The prefix up to each ``cache_control`` breakpoint is a cache entry. The
    longest prefix an earlier request cached (found at a breakpoint or up to 20
    blocks before one) is read; the rest up to the last breakpoint is written.
    Tokens are characters / 4, like the rest of the fake usage.
    """
    segments = _prompt_segments(body)
    digest = hashlib.sha256()
    digests: list[bytes] = []
    lengths: list[int] = []
    total = 0
    for data, _marked in segments:
        digest.update(len(data).to_bytes(8, "big") + data)
        digests.append(digest.digest())
        total += len(data)
        lengths.append(total)
    breakpoints = [i for i, (_data, marked) in enumerate(segments) if marked]
    if not breakpoints:
        return 0, 0
    read = 0
    for point in breakpoints:
        for i in range(point, max(point - CACHE_LOOKBACK_BLOCKS, 0) - 1, -1):
            if digests[i] in server.prompt_cache:
                read = max(read, lengths[i])
                break
    written = max(lengths[breakpoints[-1]] - read, 0)
    server.prompt_cache.update(digests[i] for i in breakpoints)
    return read // 4, written // 4


def _anthropic_usage(
    server: FakeModelServer, turn: Turn, body: dict[str, Any], raw: bytes
) -> dict[str, int]:
    input_tokens, output_tokens = _usage(turn, raw)
    read, written = turn.cache_read_input_tokens, turn.cache_creation_input_tokens
    if turn.input_tokens is None and not server.lean:
        simulated_read, simulated_write = _simulate_prompt_cache(server, body)
        if simulated_read or simulated_write:
            read, written = simulated_read, simulated_write
            input_tokens = max(input_tokens - read - written, 1)
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": output_tokens,
    }


def _arguments(turn: Turn, position: int) -> str:
    """A tool call's JSON; the last call's is cut in half when max_tokens strikes."""
    arguments = orjson.dumps(turn.tool_calls[position].input).decode()
    if turn.effective_stop_reason == "max_tokens" and position == len(turn.tool_calls) - 1:
        return arguments[: len(arguments) // 2]
    return arguments


def _sse(event: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, bytes) else orjson.dumps(data)
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + payload + b"\n\n"


def _anthropic_events(
    server: FakeModelServer, turn: Turn, model: str, body: dict[str, Any], raw: bytes
) -> list[bytes]:
    usage = _anthropic_usage(server, turn, body, raw)
    events = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_fake_{server.next_id():06d}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": usage["input_tokens"],
                        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                        "cache_read_input_tokens": usage["cache_read_input_tokens"],
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
                            "ephemeral_1h_input_tokens": 0,
                        },
                        "output_tokens": 1,
                        "service_tier": "standard",
                    },
                },
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    index = 0

    def block(start: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        events.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        for delta in deltas:
            events.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if turn.thinking:
        pieces = [
            {"type": "thinking_delta", "thinking": p}
            for p in _split(turn.thinking, turn.chunk_size)
        ]
        signature = f"fake-signature-{server.next_id():06d}"
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [*pieces, {"type": "signature_delta", "signature": signature}],
        )
    if turn.text or turn.refusal:
        block(
            {"type": "text", "text": ""},
            [
                {"type": "text_delta", "text": p}
                for p in _split(turn.text + turn.refusal, turn.chunk_size)
            ],
        )
    for position, call in enumerate(turn.tool_calls):
        arguments = _arguments(turn, position)
        block(
            {
                "type": "tool_use",
                "id": f"toolu_fake_{server.next_id():06d}",
                "name": call.name,
                "input": {},
            },
            [
                {"type": "input_json_delta", "partial_json": p}
                for p in _split(arguments, turn.chunk_size)
            ],
        )
    events.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": turn.effective_stop_reason, "stop_sequence": None},
                "usage": {
                    "input_tokens": usage["input_tokens"],
                    "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                    "cache_read_input_tokens": usage["cache_read_input_tokens"],
                    "output_tokens": usage["output_tokens"],
                },
            },
        )
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


_FINISH = {
    "refusal": "stop",
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "stop_sequence": "stop",
}


def _openai_events(
    server: FakeModelServer, turn: Turn, model: str, raw: bytes, include_usage: bool
) -> list[bytes]:
    completion_id = f"chatcmpl-fake-{server.next_id():06d}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse(
            None,
            {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
                "obfuscation": "x7Qm",
            },
        )

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"reasoning_content": p}) for p in _split(turn.thinking, turn.chunk_size) if p]
    events += [chunk({"content": p}) for p in _split(turn.text, turn.chunk_size) if p]
    events += [chunk({"refusal": p}) for p in _split(turn.refusal, turn.chunk_size) if p]
    for i, call in enumerate(turn.tool_calls):
        call_id = f"call_fake_{server.next_id():06d}"
        events.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call_id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in _split(_arguments(turn, i), turn.chunk_size):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    finish = turn.finish_reason or _FINISH.get(turn.effective_stop_reason, "stop")
    events.append(chunk({}, finish))
    if include_usage:
        input_tokens, output_tokens = _usage(turn, raw)
        events.append(
            _sse(
                None,
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": model,
                    "service_tier": "default",
                    "system_fingerprint": "fp_fake",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": input_tokens,
                        "completion_tokens": output_tokens,
                        "total_tokens": input_tokens + output_tokens,
                        "prompt_tokens_details": {
                            "cached_tokens": turn.cache_read_input_tokens,
                            "audio_tokens": 0,
                        },
                        "completion_tokens_details": {
                            "reasoning_tokens": 0,
                            "audio_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                    "obfuscation": "pQ",
                },
            )
        )
    events.append(b"data: [DONE]\n\n")
    return events


def _anthropic_message(
    server: FakeModelServer, turn: Turn, model: str, body: dict[str, Any], raw: bytes
) -> Any:
    usage = _anthropic_usage(server, turn, body, raw)
    content: list[dict[str, Any]] = []
    if turn.thinking:
        content.append(
            {
                "type": "thinking",
                "thinking": turn.thinking,
                "signature": f"fake-signature-{server.next_id():06d}",
            }
        )
    if turn.text or turn.refusal:
        content.append({"type": "text", "text": turn.text + turn.refusal})
    for call in turn.tool_calls:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_fake_{server.next_id():06d}",
                "name": call.name,
                "input": call.input,
            }
        )
    return {
        "id": f"msg_fake_{server.next_id():06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": turn.effective_stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _openai_completion(server: FakeModelServer, turn: Turn, model: str, raw: bytes) -> Any:
    input_tokens, output_tokens = _usage(turn, raw)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": turn.text or None,
        "refusal": turn.refusal or None,
    }
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_fake_{server.next_id():06d}",
                "type": "function",
                "function": {"name": c.name, "arguments": orjson.dumps(c.input).decode()},
            }
            for c in turn.tool_calls
        ]
    return {
        "id": f"chatcmpl-fake-{server.next_id():06d}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": turn.finish_reason
                or _FINISH.get(turn.effective_stop_reason, "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    }


def _apply_stream_faults(
    events: list[bytes], fault: Fault | None, protocol: str
) -> list[bytes | float]:
    """The event list with the fault applied; a float item means "stall this long"."""
    plan: list[bytes | float] = list(events)
    if fault is None:
        return plan
    if fault.garbage_lines:
        plan[1:1] = [b"this line is not server-sent events\n\n", b"data: {not json at all\n\n"]
    if fault.error_event:
        kept = plan[:3]
        if protocol == "anthropic":
            error = _sse(
                "error",
                {
                    "type": "error",
                    "error": {"type": fault.error_event, "message": "fake server error event"},
                },
            )
        else:
            error = _sse(
                None, {"error": {"message": "fake server error event", "type": fault.error_event}}
            )
        plan = [*kept, error]
    if fault.truncate_after_events is not None:
        plan = plan[: fault.truncate_after_events]
    if fault.stall_s is not None:
        plan.insert(min(2, len(plan)), fault.stall_s)
    if fault.no_final_newline:
        for i in range(len(plan) - 1, -1, -1):
            item = plan[i]
            if isinstance(item, bytes):
                plan[i] = item.rstrip(b"\r\n")
                break
    return plan


# -------------------------------------------------------------------- handlers


_NOT_AN_API_PAGE = "<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1></body></html>\n"
KEEPALIVE_LINE = b": ping\n\n"


def _raw(content_type: str, payload: bytes) -> _Whole:
    """A 200 answer that is not an event stream (``Fault.content_type`` / ``Fault.body``)."""
    headers = [("content-type", content_type), ("content-length", str(len(payload)))]
    return _Whole(200, headers, payload)


_STREAM_HEAD = h11.Response(
    status_code=200, headers=[("content-type", "text/event-stream"), ("cache-control", "no-cache")]
)
"""Every event stream's status and headers (one event: h11 validates them once)."""


async def _stream_response(
    stream: trio.SocketStream, conn: h11.Connection, plan: list[bytes | float], turn: Turn
) -> None:
    """Send ``plan``: unpaced, what comes between two stalls goes out in one write.

    The bytes are those h11 sends event by event (one chunk per SSE event), so
    only the number of writes differs: a benchmark's thousands of stalled
    answers cost two syscalls each instead of ten. A paced turn (``delay_s``,
    ``byte_chunk``, ``keepalive_s``) is written event by event through
    :func:`_send`, as pacing means (bench_repl.py wraps ``_send`` to time them).
    """
    keepalive = turn.fault.keepalive_s if turn.fault is not None else None
    if turn.delay_s or turn.byte_chunk > 0 or keepalive is not None:
        await _stream_paced(stream, conn, plan, turn, keepalive)
        return
    head = conn.send(_STREAM_HEAD)
    if b"transfer-encoding: chunked" in head.lower():
        frame = _chunk
    else:  # an HTTP/1.0 client: h11 frames the body by closing the connection
        frame = partial(_framed_by_h11, conn)
    pending = [head]
    for item in plan:
        if isinstance(item, float):
            await _flush(stream, pending)
            await trio.sleep(item)
        else:
            pending.append(frame(item))
    pending.append(conn.send(h11.EndOfMessage()) or b"")
    await _flush(stream, pending)


async def _stream_paced(
    stream: trio.SocketStream,
    conn: h11.Connection,
    plan: list[bytes | float],
    turn: Turn,
    keepalive: float | None,
) -> None:
    await _send(stream, conn, _STREAM_HEAD)
    if keepalive is not None:
        # A few real events, then keep-alive comments forever: never an end marker.
        plan = [item for item in plan[:2] if isinstance(item, bytes)]
    for position, item in enumerate(plan):
        if isinstance(item, float):
            await trio.sleep(item)
            continue
        if turn.delay_s and position:
            await trio.sleep(turn.delay_s)
        if turn.byte_chunk > 0:
            for i in range(0, len(item), turn.byte_chunk):
                await _send(stream, conn, h11.Data(data=item[i : i + turn.byte_chunk]))
        else:
            await _send(stream, conn, h11.Data(data=item))
    while keepalive is not None:
        await trio.sleep(keepalive)
        await _send(stream, conn, h11.Data(data=KEEPALIVE_LINE))
    await _send(stream, conn, h11.EndOfMessage())


async def _send(stream: trio.SocketStream, conn: h11.Connection, event: Any) -> None:
    """Write one h11 event on its own."""
    data = conn.send(event)
    if data:
        await stream.send_all(data)


def _framed_by_h11(conn: h11.Connection, data: bytes) -> bytes:
    return conn.send(h11.Data(data=data)) or b""


async def _flush(stream: trio.SocketStream, pending: list[bytes]) -> None:
    """Write and forget what ``pending`` holds (nothing if it holds nothing)."""
    data = b"".join(pending)
    pending.clear()
    if data:
        await stream.send_all(data)


def _count_tokens(request: h11.Request, body: Any, raw: bytes) -> _Whole:
    """Anthropic's ``POST /v1/messages/count_tokens``: the body's bytes / 4, deterministically.

    It consumes no scripted turn (counting is not a model response).
    """
    if request.method != b"POST" or not isinstance(body, dict) or "messages" not in body:
        message = "count_tokens expects a POST with model and messages"
        return _json(400, _error_body("anthropic", 400, None, message))
    return _json(200, {"input_tokens": len(raw) // 4 + 1})


def _reply(server: FakeModelServer, request: h11.Request, raw: bytes) -> _Whole | _Stream:
    """Record the request and decide the whole answer, before anything is sent.

    Synchronous on purpose: the parsed body is garbage once this returns, so
    a thousand answers stalled mid-stream do not keep a thousand request
    bodies alive for the cyclic garbage collector to walk again and again.
    """
    received_at = time.monotonic()
    path = request.target.decode().split("?", 1)[0]
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    server.received += 1
    if not server.lean:
        server.requests.append(
            RecordedRequest(
                method=request.method.decode(),
                path=path,
                headers={k.decode().lower(): v.decode() for k, v in request.headers},
                body=body,
                received_at=received_at,
            )
        )
    if path.endswith("/messages/count_tokens"):
        return _count_tokens(request, body, raw)
    if path.endswith("/messages"):
        protocol = "anthropic"
    elif path.endswith("/chat/completions"):
        protocol = "openai"
    else:
        return _json(404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})
    if request.method != b"POST" or not isinstance(body, dict):
        message = "expected a POST with a JSON object body"
        return _json(400, _error_body(protocol, 400, None, message))
    turn = server.script.next_turn(body)
    if turn is None:
        message = f"fake model server: the script has no more turns ({server.received - 1} served)"
        return _json(500, _error_body(protocol, 500, None, message))
    fault = turn.fault
    if fault is not None and fault.status is not None:
        extra: list[tuple[str, str]] = []
        if fault.retry_after is not None:
            extra.append(("retry-after", f"{fault.retry_after:g}"))
        if fault.retry_after_ms is not None:
            extra.append(("retry-after-ms", str(fault.retry_after_ms)))
        message = f"fake model server: scripted HTTP {fault.status}"
        return _json(fault.status, _error_body(protocol, fault.status, fault, message), extra)
    if fault is not None and (fault.content_type is not None or fault.body is not None):
        return _raw(
            fault.content_type or "text/html; charset=utf-8",
            (fault.body if fault.body is not None else _NOT_AN_API_PAGE).encode(),
        )
    model = str(body.get("model", "fake-model"))
    if not body.get("stream"):
        if protocol == "anthropic":
            return _json(200, _anthropic_message(server, turn, model, body, raw))
        return _json(200, _openai_completion(server, turn, model, raw))
    if turn.raw_stream is not None:
        events = [turn.raw_stream.encode()]
    elif protocol == "anthropic":
        events = _anthropic_events(server, turn, model, body, raw)
    else:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = _openai_events(server, turn, model, raw, include_usage)
    return _Stream(_apply_stream_faults(events, fault, protocol), turn)


async def _answer(
    server: FakeModelServer,
    stream: trio.SocketStream,
    conn: h11.Connection,
    request: h11.Request,
    raw: bytes,
) -> None:
    reply = _reply(server, request, raw)
    if isinstance(reply, _Stream):
        await _stream_response(stream, conn, reply.plan, reply.turn)
    else:
        await _send_whole(stream, conn, reply.status, reply.headers, reply.payload)


async def _handle_connection(server: FakeModelServer, stream: trio.SocketStream) -> None:
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            received = await _read_request(stream, conn)
            if received is None:
                return
            await _answer(server, stream, conn, *received)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
        return
    finally:
        await trio.aclose_forcefully(stream)


async def serve_fake_model(
    script: Script,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    lean: bool = False,
    task_status: trio.TaskStatus[FakeModelServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``script`` until cancelled; ``await nursery.start(serve_fake_model, script)``."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_port = listeners[0].socket.getsockname()[1]
    server = FakeModelServer(script=script, port=bound_port, host=host, lean=lean)
    task_status.started(server)
    await trio.serve_listeners(partial(_handle_connection, server), listeners)


@asynccontextmanager
async def open_fake_model_server(
    script: Script, *, host: str = "127.0.0.1", lean: bool = False
) -> AsyncIterator[FakeModelServer]:
    """A fake model server for the duration of the block."""
    async with trio.open_nursery() as nursery:
        server: FakeModelServer = await nursery.start(
            partial(serve_fake_model, script, host=host, lean=lean)
        )
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


def serve_for_benchmark(script: Script, *, lean: bool = False) -> None:
    """Serve ``script`` in this process until it is killed, printing the base URL first.

    For benchmarks that start the server as a child process: what was received
    is forgotten every second, since they send thousands of requests. With
    ``lean``, nothing is recorded or cache-simulated at all (see the module).

    The process is the server's alone, so its garbage collector is set for it:
    what exists once the server listens (modules, the script) is frozen out of
    the collector's passes, and the youngest generation is collected every
    50,000 container allocations instead of 700 (a parsed request body alone
    is hundreds; the bodies are freed by reference counting, not the collector).
    """

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            server: FakeModelServer = await nursery.start(
                partial(serve_fake_model, script, lean=lean)
            )
            gc.freeze()
            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
            print(server.base_url, flush=True)
            while True:
                await trio.sleep(1.0)
                server.requests.clear()
                server.prompt_cache.clear()

    trio.run(run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scripted fake model on loopback.")
    parser.add_argument("--script", type=Path, required=True, help="a JSON list of turns")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--lean",
        action="store_true",
        help="benchmark mode: record no requests, simulate no prompt cache",
    )
    args = parser.parse_args(argv)
    script = load_script(args.script)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            server: FakeModelServer = await nursery.start(
                partial(serve_fake_model, script, host=args.host, port=args.port, lean=args.lean)
            )
            print(server.base_url, flush=True)

    try:
        trio.run(run)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
