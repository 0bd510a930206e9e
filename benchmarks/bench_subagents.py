"""Sub-agents: Task calls in parallel, and N concurrent sub-agents in one process.

A real session on a real runtime sends one message with N ``Task`` calls; each
sub-agent is a child agent (its own conversation, tools, events, HTTP client)
under that tool call. The fake model server runs in its own process (its CPU
is not the client's) and answers by conversation: the main one asks for N
sub-agents, then ends; each sub-agent calls ``Read`` on a small file
``--tool-turns`` times (4), then answers: 5 turns.

Scenarios, each measured in a fresh process:

* ``fan-out``: ten ``Task`` calls whose answers each take 1 s (the server
  stalls the stream 1 s: ``Fault(stall_s=1)``), one turn each. Ideal: 1 s.
* ``scale``: N = 1, 10, 100, 1,000 sub-agents of 5 turns at once, answered
  without delay: sub-agent turns per second (client wall time), the client's
  CPU, and its peak RSS (``ru_maxrss``, the whole process: runtime, session,
  N sub-agents, their HTTP clients).

``subagents.maxConcurrent`` is set to N, so none waits for a slot. Sessions
and sub-agents write no transcript (``persist=False``).

    python benchmarks/bench_subagents.py [--sizes 1,10,100,1000] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FINAL = "All files read."
MAIN_DONE = "Sub-agents done."


# ------------------------------------------------------------------ the server


def serve(target: str, tool_turns: int, answer_s: float) -> None:
    """The fake model server: the main conversation asks for N sub-agents (N is in its
    prompt, ``spawn N``); each sub-agent reads ``target`` ``tool_turns`` times."""
    from claw_runtime.testing import Script, ToolCallSpec, Turn
    from claw_runtime.testing.fake_server import serve_for_benchmark
    from claw_runtime.testing.script import Fault, _first_user_text

    stall = Fault(stall_s=answer_s) if answer_s > 0 else None
    read = ToolCallSpec("Read", {"file_path": target})

    def respond(body: dict[str, Any]) -> Turn:
        first = _first_user_text(body)
        position = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        if first.startswith("spawn "):
            if position == 0:
                n = int(first.split()[1])
                calls = [
                    ToolCallSpec(
                        "Task",
                        {"description": f"reader {i}", "prompt": f"sub-agent {i}: read the file"},
                    )
                    for i in range(n)
                ]
                return Turn.call(*calls)
            return Turn.say(MAIN_DONE)
        if position < tool_turns:
            return Turn.call(read, fault=stall)
        return Turn.say(FINAL, fault=stall)

    serve_for_benchmark(Script([], responder=respond))


# ------------------------------------------------------------------- a client


def child(n: int, base_url: str, workdir: str) -> None:
    """One session whose first message starts ``n`` sub-agents; one JSON line of numbers."""
    import trio

    from claw_runtime.config.settings import Settings, SubagentSettings
    from claw_runtime.events import SubagentFinished, TurnFinished
    from claw_runtime.runtime import open_runtime

    settings = Settings(
        model="claude-sonnet-4-5", subagents=SubagentSettings(max_concurrent=max(n, 1))
    )
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench",
        "CLAW_CONFIG_DIR": str(Path(workdir) / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(Path(workdir) / "claude-home"),
    }

    async def run() -> dict[str, Any]:
        async with open_runtime(settings, cwd=workdir, environ=env, no_plugins=True) as runtime:
            async with runtime.open_session(cwd=workdir, persist=False) as warm:
                await warm.run("spawn 1")  # lazy imports, the first connections: not measured
            counts = {"turns": 0, "agents": 0, "failed": 0}
            async with runtime.open_session(cwd=workdir, persist=False) as session:
                with session.events(policy="drop", buffer=1_000_000) as events:

                    async def count() -> None:
                        async for event in events:
                            if isinstance(event, TurnFinished) and event.agent_id is not None:
                                counts["turns"] += 1
                            elif isinstance(event, SubagentFinished):
                                counts["agents"] += 1
                                counts["failed"] += event.status != "completed"

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(count)
                        wall, cpu = time.perf_counter(), time.process_time()
                        result = await session.run(f"spawn {n}")
                        wall = time.perf_counter() - wall
                        cpu = time.process_time() - cpu
                        await trio.sleep(0.2)  # let the counter drain
                        nursery.cancel_scope.cancel()
            if result.result != MAIN_DONE:
                print(f"main run: {result.stop_reason}: {result.result[:200]}", file=sys.stderr)
            return {
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                **counts,
            }

    print(json.dumps(trio.run(run)))


# ----------------------------------------------------------------- the runner


def start_server(
    target: Path, tool_turns: int, answer_s: float
) -> tuple[subprocess.Popen[bytes], str]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(target), str(tool_turns), str(answer_s)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().decode().strip()


def measure(n: int, base_url: str, workdir: Path, limit: float) -> dict[str, Any] | None:
    command = [sys.executable, __file__, "--child", str(n), base_url, str(workdir)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        sys.exit(done.stderr.decode())
    if done.stderr.strip():
        print(done.stderr.decode().strip(), file=sys.stderr)
    result: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
        return
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--tool-turns", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="processes per size (best wall)")
    parser.add_argument("--limit", type=float, default=600.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        target = workdir / "notes.txt"
        target.write_text("".join(f"line {i}\n" for i in range(20)))

        server, base_url = start_server(target, 0, 1.0)
        try:
            fan = measure(10, base_url, workdir, args.limit)
        finally:
            server.terminate()
            server.wait()
        print("## fan-out: ten Task calls, each answer 1 s\n")
        if fan is None:
            print("over the limit")
        else:
            print(f"wall {fan['wall_s']:.2f} s (ideal 1 s plus the main turn's two answers)")
            print(f"sub-agents {fan['agents']}, failed {fan['failed']}\n")

        server, base_url = start_server(target, args.tool_turns, 0.0)
        try:
            print(f"## scale: sub-agents of {args.tool_turns + 1} turns, immediate answers\n")
            print(
                "| sub-agents | wall (s) | sub-agent turns/s | CPU (s) | peak RSS (MB) | failed |"
            )
            print("|---:|---:|---:|---:|---:|---:|")
            for n in (int(s) for s in args.sizes.split(",")):
                runs = [measure(n, base_url, workdir, args.limit) for _ in range(args.runs)]
                done = [r for r in runs if r is not None]
                if not done:
                    print(f"| {n:,} | over {args.limit:g} s | | | | |")
                    continue
                best = min(done, key=lambda r: r["wall_s"])
                rate = best["turns"] / best["wall_s"]
                print(
                    f"| {n:,} | {best['wall_s']:.2f} | {rate:,.0f} | {best['cpu_s']:.2f} | "
                    f"{best['peak_rss_mb']:.0f} | {best['failed']} |",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
