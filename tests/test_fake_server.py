"""The fake model server as plugin authors use it: fixture, JSON scripts, subprocess mode."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import h11
import httpx
import orjson
import pytest
import trio

from claw_runtime.testing import (
    Fault,
    Script,
    ToolCallSpec,
    Turn,
    dump_script,
    load_script,
    serve_fake_model,
)


async def test_fixture_serves_both_protocols_and_records_requests(fake_model_server: Any) -> None:
    server = await fake_model_server(Script([Turn.say("a"), Turn.say("b")]))
    async with httpx.AsyncClient() as http:
        anthropic = await http.post(
            f"{server.base_url}/v1/messages", json={"model": "m", "messages": []}
        )
        openai = await http.post(
            f"{server.base_url}/v1/chat/completions", json={"model": "m", "messages": []}
        )
        exhausted = await http.post(
            f"{server.base_url}/v1/messages", json={"model": "m", "stream": True}
        )
    assert anthropic.json()["content"] == [{"type": "text", "text": "a"}]
    assert openai.json()["choices"][0]["message"]["content"] == "b"
    assert exhausted.status_code == 500 and "no more turns" in exhausted.text
    assert [r.path for r in server.requests] == [
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/messages",
    ]


async def test_responder_answers_once_the_script_runs_out(fake_model_server: Any) -> None:
    def echo(body: dict[str, Any]) -> Turn:
        return Turn.say(f"you sent {len(body['messages'])} messages")

    server = await fake_model_server(Script([], responder=echo))
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{server.base_url}/v1/messages", json={"model": "m", "messages": [1, 2]}
        )
    assert reply.json()["content"][0]["text"] == "you sent 2 messages"


def test_scripts_round_trip_through_json() -> None:
    turns = [
        Turn.call(ToolCallSpec("Read", {"file_path": "/a"}), text="t", chunk_size=3),
        Turn.fail(status=529, retry_after=1.5),
        Turn.say("done").with_fault(truncate_after_events=2),
    ]
    assert load_script(dump_script(turns)).turns == turns


@pytest.mark.parametrize("options", [[], ["--lean"]])
async def test_standalone_server_process_prints_its_url_and_serves(
    tmp_path: Path, options: list[str]
) -> None:
    script = tmp_path / "script.json"
    script.write_bytes(dump_script([Turn.say("from a subprocess")]))
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, "-m", "claw_runtime.testing", "--script", str(script), *options],
                stdout=subprocess.PIPE,
                check=False,
            )
        )
        try:
            with trio.fail_after(30):
                line = b""
                while not line.endswith(b"\n"):
                    line += await process.stdout.receive_some(1)
            base_url = line.decode().strip()
            async with httpx.AsyncClient() as http:
                reply = await http.post(
                    f"{base_url}/v1/messages", json={"model": "m", "messages": []}
                )
            assert orjson.loads(reply.content)["content"][0]["text"] == "from a subprocess"
        finally:
            process.terminate()
    assert process.returncode is not None


async def test_no_final_newline_raw_streams_and_new_turn_fields(fake_model_server: Any) -> None:
    raw = 'event: ping\ndata: {"type": "ping"}\n\n'
    raw += 'event: message_stop\ndata: {"type":"message_stop"}'
    turns = [
        Turn.say("hi").with_fault(no_final_newline=True),
        Turn.say("hi").with_fault(no_final_newline=True),
        Turn(raw_stream=raw),
    ]
    assert load_script(dump_script(turns)).turns == turns
    server = await fake_model_server(Script(turns))
    body = {"model": "m", "stream": True, "messages": []}
    async with httpx.AsyncClient() as http:
        anthropic = await http.post(f"{server.base_url}/v1/messages", json=body)
        openai = await http.post(f"{server.base_url}/v1/chat/completions", json=body)
        replay = await http.post(f"{server.base_url}/v1/messages", json=body)
    assert anthropic.content.endswith(b'data: {"type":"message_stop"}')
    assert openai.content.endswith(b"\n\ndata: [DONE]")
    assert replay.text == raw


# ------------------------------------------------------------ the wire, lean mode

WIRE_TURNS = [
    Turn.call(
        ToolCallSpec("Read", {"file_path": "/a"}), text="reading", thinking="hm", chunk_size=3
    ),
    Turn.say("stalled", fault=Fault(stall_s=0.25)),
    Turn.say("openai", chunk_size=2),
    Turn.say("not streamed"),
    Turn.fail(status=529, retry_after=1.5),
    Turn.say("cut").with_fault(no_final_newline=True, garbage_lines=True),
    Turn.say("slow", delay_s=0.01, byte_chunk=5),
]
WIRE_REQUESTS = [
    (
        "/v1/messages",
        {"model": "m", "stream": True, "messages": [{"role": "user", "content": "a"}]},
    ),
    ("/v1/messages", {"model": "m", "stream": True, "messages": []}),
    (
        "/v1/chat/completions",
        {"model": "m", "stream": True, "stream_options": {"include_usage": True}, "messages": []},
    ),
    ("/v1/messages", {"model": "m", "messages": []}),
    ("/v1/messages", {"model": "m", "stream": True, "messages": []}),
    ("/v1/messages", {"model": "m", "stream": True, "messages": []}),
    ("/v1/messages", {"model": "m", "stream": True, "messages": []}),
    ("/v1/nowhere", {}),
]


async def _wire(port: int, path: str, body: Any) -> tuple[list[tuple[float, bytes]], bytes]:
    """One request on its own connection: what arrived when, and all of it, framing included."""
    payload = orjson.dumps(body)
    request = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n"
    ).encode() + payload
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        arrivals = []
        while data := await stream.receive_some(65536):
            arrivals.append((trio.current_time(), data))
    return arrivals, b"".join(data for _, data in arrivals)


def _chunks(wire: bytes) -> list[bytes]:
    """The chunks of a chunked HTTP/1.1 response, in order (the final empty one left out)."""
    rest = wire.split(b"\r\n\r\n", 1)[1]
    chunks = []
    while True:
        size, rest = rest.split(b"\r\n", 1)
        if not int(size, 16):
            return chunks
        chunks.append(rest[: int(size, 16)])
        assert rest[int(size, 16) : int(size, 16) + 2] == b"\r\n"
        rest = rest[int(size, 16) + 2 :]


def _framed_by_h11(chunks: list[bytes]) -> bytes:
    """The body h11 writes when sent ``chunks`` one ``Data`` event each."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
    while conn.next_event() is not h11.NEED_DATA:
        pass
    conn.send(h11.Response(status_code=200, headers=[]))
    body = [conn.send(h11.Data(data=chunk)) or b"" for chunk in chunks]
    return b"".join(body) + (conn.send(h11.EndOfMessage()) or b"")


async def test_lean_mode_sends_the_same_bytes_and_records_nothing(nursery: Any) -> None:
    answers = {}
    for lean in (False, True):
        server = await nursery.start(partial(serve_fake_model, Script(list(WIRE_TURNS)), lean=lean))
        answers[lean] = [(await _wire(server.port, path, body))[1] for path, body in WIRE_REQUESTS]
        assert server.received == len(WIRE_REQUESTS)
        assert len(server.requests) == (0 if lean else len(WIRE_REQUESTS))
    assert answers[True] == answers[False]
    first = answers[True][0]
    assert b"transfer-encoding: chunked" in first.lower()
    assert b'"type":"input_json_delta","partial_json":"{\\"f"' in first
    assert b"retry-after: 1.5" in answers[True][4]


async def test_each_event_is_one_chunk_and_what_precedes_a_stall_arrives_before_it(
    nursery: Any, autojump_clock: trio.testing.MockClock
) -> None:
    turn = Turn.call(ToolCallSpec("Read", {"file_path": "/a"}), text="ab", chunk_size=1)
    server = await nursery.start(serve_fake_model, Script([turn.with_fault(stall_s=30.0)]))
    start = trio.current_time()
    arrivals, wire = await _wire(server.port, "/v1/messages", {"model": "m", "stream": True})
    chunks = _chunks(wire)
    assert wire.split(b"\r\n\r\n", 1)[1] == _framed_by_h11(chunks)
    assert all(c.count(b"\n\n") == 1 and c.endswith(b"\n\n") for c in chunks)
    assert [c.split(b"\n", 1)[0] for c in chunks[:4]] == [
        b"event: message_start",
        b"event: ping",
        b"event: content_block_start",
        b"event: content_block_delta",
    ]
    early = b"".join(data for at, data in arrivals if at - start < 30.0)
    assert _chunks(early + b"0\r\n\r\n") == chunks[:2]
    assert arrivals[-1][0] - start >= 30.0


async def test_lean_mode_reports_usage_without_the_prompt_cache(nursery: Any) -> None:
    cached = {"type": "text", "text": "x" * 400, "cache_control": {"type": "ephemeral"}}
    body = {"model": "m", "system": [cached], "messages": [{"role": "user", "content": "hi"}]}
    usage = {}
    for lean in (False, True):
        server = await nursery.start(
            partial(serve_fake_model, Script([Turn.say("a"), Turn.say("b")]), lean=lean)
        )
        async with httpx.AsyncClient() as http:
            replies = [
                await http.post(f"{server.base_url}/v1/messages", content=orjson.dumps(body))
                for _ in "ab"
            ]
        usage[lean] = [r.json()["usage"] for r in replies]
    assert usage[False][1]["cache_read_input_tokens"] > 0  # the simulation, normally
    raw_tokens = len(orjson.dumps(body)) // 4 + 1
    assert (
        usage[True]
        == [
            {
                "input_tokens": raw_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            }
        ]
        * 2
    )
