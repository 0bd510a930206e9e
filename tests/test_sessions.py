"""The Session API: one conversation across runs, many sessions per runtime, and claw
from trio, synchronous and asyncio code. Real HTTP to the fake model on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import trio

import claw_runtime
from claw_runtime.bus import Subscription
from claw_runtime.errors import ProviderConfigError
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

from _harness import fake_server_in_thread, processes_once, processes_with


def env_for(server_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": server_url,
        "ANTHROPIC_API_KEY": "test-key",
        "HOME": str(tmp_path / "home"),
        "CLAW_CONFIG_DIR": str(tmp_path / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"),
        "PATH": os.environ["PATH"],
    }


async def test_a_second_run_continues_the_conversation_with_fresh_counters(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    read = ToolCallSpec("Read", {"file_path": str(tmp_path / "notes.txt")})
    script = Script([Turn.call(read), Turn.say("milk"), Turn.say("eggs")])
    async with open_fake_model_server(script) as server:
        environ = env_for(server.base_url, tmp_path)
        async with (
            claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime,
            runtime.open_session(cwd=tmp_path, max_turns=2) as session,
        ):
            first = await session.run("what should I buy?")
            second = await session.run("and then?")
            sent = server.requests[2].body["messages"]
    assert (first.result, first.num_turns) == ("milk", 2)
    assert (second.result, second.num_turns) == ("eggs", 1)  # its own counter and budget
    assert second.usage.input_tokens < first.usage.input_tokens + second.usage.input_tokens
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[-1]["content"][0]["text"] == "and then?"
    assert session.results == (first, second)
    path = next((tmp_path / "claw-home" / "projects").glob(f"*/{session.id}.jsonl"))
    kinds = [json.loads(line)["type"] for line in path.read_text().splitlines()]
    assert kinds.count("result") == 2 and path.stat().st_mode & 0o777 == 0o600


async def test_many_sessions_share_one_runtime(tmp_path: Path) -> None:
    script = Script(responder=lambda body: Turn.say(f"seen {len(body['messages'])}"))
    async with open_fake_model_server(script) as server:
        environ = env_for(server.base_url, tmp_path)
        results: dict[int, str] = {}
        async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:

            async def one(number: int) -> None:
                async with runtime.open_session(cwd=tmp_path, persist=False) as session:
                    await session.run(f"hello {number}")
                    results[number] = (await session.run("again")).result

            async with trio.open_nursery() as nursery:
                for number in range(50):
                    nursery.start_soon(one, number)
    assert results == {n: "seen 3" for n in range(50)}


async def test_a_background_shell_does_not_hold_the_session_open(tmp_path: Path) -> None:
    marker = f"claw-bg-{os.getpid()}-{time.monotonic_ns()}"
    start = ToolCallSpec(
        "Bash", {"command": f"sleep 300; echo {marker}", "run_in_background": True}
    )
    script = Script([Turn.call(start), Turn.say("server started")])
    stopped: list[str] = []
    async with open_fake_model_server(script) as server:
        environ = env_for(server.base_url, tmp_path)
        with trio.fail_after(30):
            async with (
                claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime,
                runtime.open_session(
                    cwd=tmp_path,
                    permission_mode="bypassPermissions",
                    notify=stopped.append,
                ) as session,
            ):
                result = await session.run("start the dev server")
                assert result.result == "server started", session.agent.messages
                running = await processes_once(marker, running=True)
                assert running, session.agent.messages[2]  # still running
    assert stopped  # the session's end stopped it, and said so
    assert await processes_once(marker, running=False) == []


async def test_errors_leave_the_public_api_unwrapped(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "CLAW_CONFIG_DIR": str(tmp_path / "c")}
    with pytest.raises(ProviderConfigError):
        async with (
            claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime,
            runtime.open_session(cwd=tmp_path, provider="no-such-provider"),
        ):
            pass

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:
            runtime.scheduler.spawn(trio.sleep_forever, name="busy")
            raise Boom


def test_run_sync_from_plain_code(tmp_path: Path) -> None:
    with fake_server_in_thread(Script([Turn.say("synchronous answer")])) as server:
        result = claw_runtime.run_sync(
            "hi", cwd=tmp_path, environ=env_for(server.base_url, tmp_path), persist=False
        )
    assert result.result == "synchronous answer" and not result.is_error


def test_run_asyncio_concurrently_without_blocking_the_loop(tmp_path: Path) -> None:
    script = Script(responder=lambda body: Turn.say("ok", delay_s=0.3, chunk_size=1))
    with fake_server_in_thread(script) as server:
        environ = env_for(server.base_url, tmp_path)

        async def main() -> tuple[list[str], int]:
            ticks = 0
            done = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not done.is_set():
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(ticker())
            results = await asyncio.gather(
                *(
                    claw_runtime.run_asyncio(
                        f"prompt {n}", cwd=tmp_path, environ=environ, persist=False
                    )
                    for n in range(4)
                )
            )
            done.set()
            await ticking
            return [r.result for r in results], ticks

        started = time.monotonic()
        texts, ticks = asyncio.run(main())
        elapsed = time.monotonic() - started
    assert texts == ["ok"] * 4
    assert ticks > 20  # the asyncio loop kept running other tasks meanwhile
    assert elapsed < 4 * 0.6 + 5  # concurrent, not one after another (generous for CI)


def test_cancelling_run_asyncio_stops_the_run_and_its_processes(tmp_path: Path) -> None:
    marker = f"claw-aio-{os.getpid()}-{time.monotonic_ns()}"
    started = tmp_path / "started"
    slow = ToolCallSpec("Bash", {"command": f"touch {started}; sleep 300 # {marker}"})
    with fake_server_in_thread(Script([Turn.call(slow), Turn.say("never")])) as server:
        environ = env_for(server.base_url, tmp_path)

        async def main() -> float:
            task = asyncio.create_task(
                claw_runtime.run_asyncio(
                    "run it", cwd=tmp_path, environ=environ, permission_mode="bypassPermissions"
                )
            )
            while not started.exists():
                await asyncio.sleep(0.05)
            assert processes_with(marker)
            cancelled_at = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - cancelled_at

        took = asyncio.run(asyncio.wait_for(main(), 60))
    assert took < 10
    assert processes_with(marker) == []  # gone by the time the cancelled task resumed
    [path] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records[-1]["type"] == "result" and records[-1]["result"]["stop_reason"] == "cancelled"


async def test_events_carry_their_session_and_task(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    read = ToolCallSpec("Read", {"file_path": str(tmp_path / "a.txt")})

    def answer(body: dict[str, Any]) -> Turn:
        last = body["messages"][-1]["content"]
        if isinstance(last, list) and last[0]["type"] == "tool_result":
            return Turn.say("done", chunk_size=2)
        return Turn.call(read)

    script = Script(responder=answer)
    async with open_fake_model_server(script) as server:
        environ = env_for(server.base_url, tmp_path)
        seen: dict[str, list[claw_runtime.Event]] = {}
        async with claw_runtime.open_runtime(cwd=tmp_path, environ=environ) as runtime:

            async def read_all(events: Subscription, into: list[claw_runtime.Event]) -> None:
                with events:
                    into.extend([event async for event in events])

            async def one(name: str) -> None:
                async with (
                    trio.open_nursery() as nursery,
                    runtime.open_session(cwd=tmp_path, persist=False) as session,
                ):
                    seen[session.id] = []
                    events = session.events(policy="block")
                    nursery.start_soon(read_all, events, seen[session.id])
                    await session.run(f"read it, {name}")
                # the readers ended by themselves once their session had ended

            async def both() -> None:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(one, "first")
                    nursery.start_soon(one, "second")

            with trio.fail_after(30):
                await both()
    assert len(seen) == 2
    for session_id, events in seen.items():
        assert {e.session_id for e in events} == {session_id}
        kinds = [e.type for e in events]
        assert kinds[-1] == "session_ended" and "tool_call_started" in kinds
        [tool] = [e for e in events if isinstance(e, claw_runtime.ToolCallStarted)]
        deltas = [e for e in events if isinstance(e, claw_runtime.TextDelta)]
        assert deltas and len({e.task_id for e in deltas}) == 1
        assert tool.task_id is not None and tool.task_id != deltas[0].task_id
