"""The fake model server as plugin authors use it: fixture, JSON scripts, subprocess mode."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import trio

from claw_runtime.testing import Script, ToolCallSpec, Turn, dump_script, load_script


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


async def test_standalone_server_process_prints_its_url_and_serves(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_bytes(dump_script([Turn.say("from a subprocess")]))
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
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
