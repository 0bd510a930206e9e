"""The floor of ``bench_scale.py``: N bare trio + httpx "sessions" at once, nothing else.

Each session is what one claw session does on the wire, without claw: one
``httpx.AsyncClient`` (httpx's default transport, the TLS context made once for
all, as claw makes it), then five streamed Anthropic
Messages requests, the event stream of each read to its end and its events
decoded with ``json``; after each of the first four answers it reads the file
the answer asked for (plain ``open``) and sends the conversation so far, tool
result included. The bodies carry no system prompt and no tool definitions
(claw's carry about 20 KB of both), so this floor is, if anything, low.

    python benchmarks/floors/many_sessions.py N BASE_URL FILE

Prints one JSON line: wall and CPU seconds (all threads) over the N sessions,
after one warm-up session, and the garbage collector's time. Below N=100, N
sessions run at once, round after round until 100 have run, and the figures
are per round (as ``bench_scale.py`` measures claw).
"""

import gc
import json
import os
import sys
import time
import types

sys.modules["httpx._main"] = types.ModuleType("httpx._main")  # as claw defers it
sys.modules["httpx._main"].main = lambda: None  # type: ignore[attr-defined]

import httpx  # noqa: E402
import trio  # noqa: E402

TOOL_TURNS = 4
ROUNDS_OF = 100


TLS = httpx.create_ssl_context()
"""Made once and shared, as claw shares its one: building it costs ~40 ms per client."""


async def session(url: str, target: str) -> None:
    headers = {
        "x-api-key": "bench",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    messages: list[dict[str, object]] = [{"role": "user", "content": "Read the notes."}]
    async with httpx.AsyncClient(verify=TLS, timeout=600) as client:
        for _ in range(TOOL_TURNS + 1):
            body = {
                "model": "claude-sonnet-4-5",
                "max_tokens": 8192,
                "stream": True,
                "messages": messages,
            }
            blocks: dict[int, dict[str, object]] = {}
            partial: dict[int, list[str]] = {}
            async with client.stream(
                "POST", url, content=json.dumps(body).encode(), headers=headers
            ) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    kind = event.get("type")
                    if kind == "content_block_start":
                        blocks[event["index"]] = dict(event["content_block"])
                    elif kind == "content_block_delta":
                        delta = event["delta"]
                        if delta.get("type") == "input_json_delta":
                            partial.setdefault(event["index"], []).append(delta["partial_json"])
                        elif delta.get("type") == "text_delta":
                            block = blocks[event["index"]]
                            block["text"] = str(block.get("text", "")) + delta["text"]
            for index, pieces in partial.items():
                blocks[index]["input"] = json.loads("".join(pieces) or "{}")
            content = [blocks[i] for i in sorted(blocks)]
            calls = [b for b in content if b.get("type") == "tool_use"]
            if not calls:
                return
            messages.append({"role": "assistant", "content": content})
            results = []
            for call in calls:
                with open(target) as file:  # noqa: ASYNC230 (the floor: a plain read)
                    text = file.read()
                results.append({"type": "tool_result", "tool_use_id": call["id"], "content": text})
            messages.append({"role": "user", "content": results})


async def main(n: int, base_url: str, target: str) -> None:
    url = base_url.rstrip("/") + "/v1/messages"
    await session(url, target)  # warm-up
    pauses: list[float] = []
    full = 0
    started = 0.0

    def record(phase: str, info: dict[str, int]) -> None:
        nonlocal started, full
        if phase == "start":
            started = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started)
            full += info["generation"] == 2

    gc.callbacks.append(record)
    rounds = max(1, ROUNDS_OF // n)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(session, url, target)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.callbacks.remove(record)
    print(
        json.dumps(
            {
                "wall_s": wall / rounds,
                "cpu_s": cpu / rounds,
                "failed": 0,
                "gc_s": sum(pauses) / rounds,
                "gc_full": full / rounds,
                "gc_longest_s": max(pauses, default=0.0),
            }
        )
    )


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]), sys.argv[2], os.path.abspath(sys.argv[3]))
