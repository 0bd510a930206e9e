"""Sessions: resuming a long session file, appending a record, many sessions at once.

Three measurements, each against a floor measured in the same run:

1. **Resume.** A 10,000-record session file written with claw's own
   ``Transcript`` (prompts; assistant messages with a ``tool_use``; tool results,
   mostly ``Read`` output of 1-6 KB taken from the standard library's sources;
   a ``result`` record per prompt), read back with ``load_session``.
   Floor: ``orjson.loads`` of every line of the same file. Target: under 300 ms.
2. **Append.** ``Transcript.append_message`` of a typical assistant message
   (text and a ``Read`` call, every one different so no cache helps), and of a
   3 KB tool result: one redacted, encoded line written with one ``os.write``
   per record, as a session does. Floor: ``os.write`` of the same bytes, line
   by line, to an ``O_APPEND`` descriptor. Target: well under 1 ms.
3. **Many sessions.** N sessions open at once in one runtime
   (``runtime.open_session``, default settings: each session its own HTTP
   client; session files written), each running one prompt: 5 turns that call
   ``Read`` on a small file, then a final answer (6 model turns). The fake
   model server (Anthropic protocol, streaming) runs in a separate process, so
   its CPU is not counted against claw; it is shown apart. Each N runs in a
   fresh process (after one warm-up session), so the peak RSS
   (``VmHWM``) is that configuration's. Floor: a bare trio + httpx process
   sending the very same request bodies (recorded from a claw session) with
   the same concurrency, one client per session as claw has, reading each
   stream to its end. Target: peak RSS under 600 MB at N = 1,000.

Resume and append are the median of ``--runs`` (9) runs, wall and CPU time;
the sessions measurement is the median of ``--session-runs`` (3) runs per N,
one run at N = 1,000 (over a minute each). The machine's load average is
printed, since other work on it skews wall times; CPU times suffer less.

    python benchmarks/bench_sessions.py [--quick] [--runs 9] [--sizes 1,10,100,1000]
        [--parts resume,append,sessions] [--latency 0] [--without-files]

``--quick`` writes a 2,000-record file, runs 5 times, and stops at N = 100.
``--latency S`` makes every model answer take S seconds (the stream stalls after
its first events), to see sessions that wait on the model rather than on CPU.
``--without-files`` also runs the sessions with ``persist=False``, to show what
writing session files costs per turn.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOL_TURNS = 5
FINAL = "All files read."
RESUME_TARGET_MS = 300.0
APPEND_TARGET_MS = 1.0
RSS_TARGET_MB = 600.0


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


# ------------------------------------------------------------ the session file


def source_lines() -> list[str]:
    """Real code to read: the standard library's own sources, in a fixed order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines: list[str] = []
    for path in sorted(stdlib.glob("*.py"))[:120]:
        lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


def read_output(lines: list[str], rng: random.Random) -> tuple[str, str]:
    """A ``Read`` result as the tool formats it (numbered lines), 1-6 KB."""
    want = rng.randint(1024, 6 * 1024)
    start = rng.randrange(len(lines) - 400)
    out: list[str] = []
    size = 0
    number = 0
    while size < want:
        text = f"{number + 1:>6}\t{lines[start + number]}"
        out.append(text)
        size += len(text) + 1
        number += 1
    return f"/home/dev/project/src/module_{start}.py", "\n".join(out)


def build_session_file(path: Path, records: int) -> float:
    """Write ``records`` lines with claw's ``Transcript``; seconds it took."""
    from claw_runtime.loop import RunResult
    from claw_runtime.models import Message, TextBlock, ToolResultBlock, ToolUseBlock, Usage
    from claw_runtime.sessions.transcript import Transcript

    rng = random.Random(11)
    lines = source_lines()
    transcript = Transcript(path, session_id="bench-resume", cwd="/home/dev/project")
    written = 0
    prompt = 0
    tool = 0
    start = time.perf_counter()

    def add(message: Message) -> None:
        nonlocal written
        transcript.append_message(message)
        written += 1

    while written < records:
        prompt += 1
        add(Message.user(f"Prompt {prompt}: find why the parser test fails and fix it."))
        for _ in range(rng.randint(4, 14)):
            if written >= records - 1:
                break
            tool += 1
            tool_id = f"toolu_{tool:024d}"
            kind = rng.random()
            if kind < 0.8:
                file_path, output = read_output(lines, rng)
                call = ToolUseBlock(id=tool_id, name="Read", input={"file_path": file_path})
            elif kind < 0.9:
                call = ToolUseBlock(id=tool_id, name="Grep", input={"pattern": f"def f{tool}"})
                output = "\n".join(f"src/pkg/module_{i}.py" for i in range(rng.randint(1, 30)))
            else:
                call = ToolUseBlock(id=tool_id, name="Bash", input={"command": "pytest -q -x"})
                output = f"{rng.randint(1, 400)} passed, 1 failed in 2.{tool % 100:02d}s"
            thought = f"Step {tool}: I will look at this next, to see how the {call.name} helps."
            add(Message(role="assistant", content=(TextBlock(text=thought), call)))
            result = ToolResultBlock(tool_use_id=tool_id, content=(TextBlock(text=output),))
            add(Message(role="user", content=(result,)))
        if written < records:
            add(Message.assistant(f"Fixed: the parser now handles case {prompt}."))
        if written < records:
            transcript.append(
                "result",
                result=RunResult(
                    result=f"Fixed: the parser now handles case {prompt}.",
                    is_error=False,
                    num_turns=7,
                    duration_ms=12345.0,
                    usage=Usage(input_tokens=30000, output_tokens=800),
                    total_cost_usd=0.1,
                    session_id="bench-resume",
                    stop_reason="end_turn",
                ),
            )
            written += 1
    transcript.close()
    return time.perf_counter() - start


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


def bench_resume(workdir: Path, records: int, runs: int) -> list[dict[str, Any]]:
    import orjson

    from claw_runtime.sessions.store import load_session

    path = workdir / "resume.jsonl"
    build_s = build_session_file(path, records)
    size_mb = path.stat().st_size / 1e6
    count = len(path.read_bytes().splitlines())
    loaded = load_session(path)
    print(
        f"resume file: {count:,} records, {size_mb:.1f} MB, {len(loaded.messages):,} messages; "
        f"written with Transcript in {build_s:.2f} s ({build_s / count * 1000:.3f} ms/record)"
    )

    def floor() -> None:
        for line in path.read_bytes().splitlines():
            orjson.loads(line)

    claw_ms, claw_cpu_ms = timed(lambda: load_session(path), runs)
    floor_ms, floor_cpu_ms = timed(floor, runs)
    return [
        {
            "what": f"resume: load_session, {count:,} records",
            "ms": claw_ms,
            "cpu_ms": claw_cpu_ms,
            "floor": "orjson.loads of every line",
            "floor_ms": floor_ms,
            "floor_cpu_ms": floor_cpu_ms,
            "target": f"< {RESUME_TARGET_MS:.0f} ms",
            "met": claw_ms < RESUME_TARGET_MS,
        }
    ]


# ------------------------------------------------------------------- appending


def bench_append(workdir: Path, records: int, runs: int) -> list[dict[str, Any]]:
    from claw_runtime.models import Message, TextBlock, ToolResultBlock, ToolUseBlock
    from claw_runtime.sessions.transcript import Transcript

    rng = random.Random(5)
    lines = source_lines()
    kinds: dict[str, Callable[[int, int], Message]] = {}

    def assistant(run: int, i: int) -> Message:
        target = f"/home/dev/project/src/pkg/module_{run}_{i}.py"
        text = (
            f"The failing test calls parse() with an empty header ({run}.{i}). Let me read "
            f"{target} to see how the tokenizer treats a missing section before I change it."
        )
        call = ToolUseBlock(id=f"toolu_{run:08d}{i:016d}", name="Read", input={"file_path": target})
        return Message(role="assistant", content=(TextBlock(text=text), call))

    outputs = [read_output(lines, rng)[1][:3072] for _ in range(64)]

    def tool_result(run: int, i: int) -> Message:
        text = f"{outputs[i % len(outputs)]}\n# {run}.{i}"  # each one different
        block = ToolResultBlock(
            tool_use_id=f"toolu_{run:08d}{i:016d}", content=(TextBlock(text=text),)
        )
        return Message(role="user", content=(block,))

    kinds["assistant message (text + Read call)"] = assistant
    kinds["tool result (3 KB of Read output)"] = tool_result
    rows = []
    for label, make in kinds.items():
        claw_wall: list[float] = []
        claw_cpu: list[float] = []
        floor_wall: list[float] = []
        floor_cpu: list[float] = []
        sizes: list[int] = []
        for run in range(runs):
            messages = [make(run, i) for i in range(records)]
            path = workdir / f"append-{run}.jsonl"
            transcript = Transcript(path, session_id="bench-append", cwd="/home/dev/project")
            transcript.open()  # the file exists already: time the appends only
            wall, cpu = time.perf_counter(), time.process_time()
            for message in messages:
                transcript.append_message(message)
            claw_wall.append((time.perf_counter() - wall) / records)
            claw_cpu.append((time.process_time() - cpu) / records)
            transcript.close()
            written = path.read_bytes().splitlines(keepends=True)
            sizes += [len(line) for line in written]
            path.unlink()
            floor_path = workdir / f"append-floor-{run}.jsonl"
            fd = os.open(floor_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            wall, cpu = time.perf_counter(), time.process_time()
            for line in written:
                os.write(fd, line)
            floor_wall.append((time.perf_counter() - wall) / len(written))
            floor_cpu.append((time.process_time() - cpu) / len(written))
            os.close(fd)
            floor_path.unlink()
        ms = statistics.median(claw_wall) * 1000
        rows.append(
            {
                "what": f"append: {label}, {statistics.median(sizes) / 1024:.1f} KB line",
                "ms": ms,
                "cpu_ms": statistics.median(claw_cpu) * 1000,
                "floor": "os.write of the same bytes (O_APPEND)",
                "floor_ms": statistics.median(floor_wall) * 1000,
                "floor_cpu_ms": statistics.median(floor_cpu) * 1000,
                "target": f"< {APPEND_TARGET_MS:g} ms",
                "met": ms < APPEND_TARGET_MS,
            }
        )
    return rows


# ----------------------------------------------------------- many sessions: server


def serve(target: str, bodies_file: str, latency: float) -> None:
    """The fake model server, answering each request by how far its session got.

    The first session's request bodies are saved to ``bodies_file`` for the floor.
    """
    from functools import partial

    import orjson
    import trio

    from claw_runtime.testing import Script, ToolCallSpec, Turn
    from claw_runtime.testing.fake_server import FakeModelServer, serve_fake_model
    from claw_runtime.testing.script import Fault

    fault = Fault(stall_s=latency) if latency > 0 else None
    read = ToolCallSpec("Read", {"file_path": target})
    first_session: list[Any] = []

    def respond(body: dict[str, Any]) -> Turn:
        if len(first_session) <= TOOL_TURNS:
            first_session.append(body)
            if len(first_session) == TOOL_TURNS + 1:
                Path(bodies_file).write_bytes(orjson.dumps(first_session))
        results = sum(
            1
            for m in body.get("messages", [])
            if m.get("role") == "user"
            and isinstance(m.get("content"), list)
            and any(b.get("type") == "tool_result" for b in m["content"])
        )
        if results < TOOL_TURNS:
            return Turn.call(read, fault=fault)
        return Turn.say(FINAL, fault=fault)

    async def run() -> None:
        script = Script([], responder=respond)
        async with trio.open_nursery() as nursery:
            server: FakeModelServer = await nursery.start(partial(serve_fake_model, script))
            print(server.base_url, flush=True)
            while True:  # it remembers every request; the benchmark sends thousands
                await trio.sleep(0.5)
                server.requests.clear()
                server.prompt_cache.clear()

    trio.run(run)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in MB.

    The peak is read from /proc rather than ``ru_maxrss``: Linux carries the
    parent's peak across fork and exec into the child's ``ru_maxrss``, so a
    child started by a big parent would report the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


# ----------------------------------------------------------- many sessions: clients


def claw_child(n: int, base_url: str, workdir: str, persist: bool) -> dict[str, float]:
    """Run ``n`` sessions at once on one runtime; the measurements."""
    import trio

    from claw_runtime.config.settings import Settings
    from claw_runtime.runtime import open_runtime

    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench",
        "CLAW_CONFIG_DIR": str(Path(workdir) / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(Path(workdir) / "claude-home"),
    }

    async def session(runtime: Any, errors: list[str]) -> None:
        async with runtime.open_session(cwd=workdir, persist=persist) as s:
            result = await s.run("Read notes.txt five times.")
        if result.is_error or result.result != FINAL or result.num_turns != TOOL_TURNS + 1:
            errors.append(f"{result.stop_reason}: {result.result[:200]}")

    async def run() -> dict[str, float]:
        settings = Settings(model="claude-sonnet-4-5")
        async with open_runtime(settings, cwd=workdir, environ=env, no_plugins=True) as runtime:
            errors: list[str] = []
            await session(runtime, errors)  # warm-up: lazy imports, first connection
            before = memory_mb("VmRSS")
            wall, cpu = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(session, runtime, errors)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if errors:
            raise SystemExit(f"{len(errors)} sessions failed, e.g. {errors[0]}")
        peak = memory_mb("VmHWM")
        return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak, "before_mb": before}

    return trio.run(run)


def floor_child(n: int, base_url: str, bodies_file: str) -> dict[str, float]:
    """``n`` bare clients replaying one claw session's requests: the HTTP floor."""
    import httpx
    import trio

    bodies = [json.dumps(b).encode() for b in json.loads(Path(bodies_file).read_bytes())]
    url = base_url.rstrip("/") + "/v1/messages"
    headers = {
        "x-api-key": "bench",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }

    tls = httpx.create_ssl_context()  # made once: the floor pays no TLS set-up per client

    async def session() -> None:
        # one client per session, as claw does by default: one shared client's pool
        # slows down past ~100 concurrent streams (docs/settings.md, http)
        async with httpx.AsyncClient(verify=tls, timeout=600) as client:
            for body in bodies:
                async with client.stream("POST", url, content=body, headers=headers) as response:
                    async for _ in response.aiter_raw():
                        pass
                    response.raise_for_status()

    async def run() -> dict[str, float]:
        await session()  # warm-up
        before = memory_mb("VmRSS")
        wall, cpu = time.perf_counter(), time.process_time()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(session)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = memory_mb("VmHWM")
        return {"wall_s": wall, "cpu_s": cpu, "peak_mb": peak, "before_mb": before}

    return trio.run(run)


def measure(kind: str, n: int, base_url: str, workdir: Path, server_pid: int) -> dict[str, float]:
    """One child process of ``kind`` (claw, claw-without-files, floor) running ``n`` sessions."""
    child = "--floor-child" if kind == "floor" else "--claw-child"
    command = [sys.executable, __file__, child, str(n), base_url, str(workdir)]
    if kind == "claw-without-files":
        command.append("--no-persist")
    server_cpu = process_cpu_s(server_pid)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{kind} N={n} failed ({process.returncode}):\n{err.decode()[-2000:]}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    # the server's CPU over the whole child (warm-up included): an upper bound
    result["server_cpu_s"] = process_cpu_s(server_pid) - server_cpu
    return result


def bench_sessions(
    workdir: Path, sizes: list[int], runs: int, latency: float, without_files: bool
) -> None:
    target = workdir / "notes.txt"
    target.write_text("".join(f"line {i}: some notes about the parser\n" for i in range(40)))
    bodies = workdir / "bodies.json"
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(target), str(bodies), str(latency)],
        stdout=subprocess.PIPE,
    )
    turns = TOOL_TURNS + 1
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().decode().strip()
        print(
            f"\nMany sessions: each session {TOOL_TURNS} Read turns + a final answer "
            f"({turns} model turns); model latency {latency:g} s; the fake server runs in its "
            f"own process (pid {server.pid}), its CPU shown apart; median of {runs} runs per N "
            f"(1 run at N >= 1,000); {load_average()}\n"
        )
        extra = " claw CPU/turn without session files (ms) |" if without_files else ""
        print(
            "| N | claw turns/s | floor turns/s | ratio to floor | claw wall (s) "
            "| claw CPU/turn (ms) | floor CPU/turn (ms) | server CPU/turn (ms) "
            f"| claw peak RSS (MB) | RSS/session (KB) | floor peak RSS (MB) |{extra}"
        )
        print("|---" * (11 + without_files) + "|")
        for n in sizes:
            repeat = 1 if n >= 1000 else runs

            def median(kind: str, n: int = n, repeat: int = repeat) -> dict[str, float]:
                results = [measure(kind, n, base_url, workdir, server.pid) for _ in range(repeat)]
                return {k: statistics.median([r[k] for r in results]) for k in results[0]}

            claw = median("claw")
            floor = median("floor")
            claw_rate = n * turns / claw["wall_s"]
            floor_rate = n * turns / floor["wall_s"]
            per_session_kb = (claw["peak_mb"] - claw["before_mb"]) * 1024 / n
            rss_note = ""
            if n >= 1000:
                rss_note = " (met)" if claw["peak_mb"] < RSS_TARGET_MB else " (MISSED)"
            row = (
                f"| {n:,} | {claw_rate:.0f} | {floor_rate:.0f} | {floor_rate / claw_rate:.1f}x "
                f"| {claw['wall_s']:.2f} | {claw['cpu_s'] / (n * turns) * 1000:.2f} "
                f"| {floor['cpu_s'] / (n * turns) * 1000:.2f} "
                f"| {claw['server_cpu_s'] / ((n + 1) * turns) * 1000:.2f} "
                f"| {claw['peak_mb']:.0f}{rss_note} | {per_session_kb:.0f} "
                f"| {floor['peak_mb']:.0f} |"
            )
            if without_files:
                bare = median("claw-without-files")
                row += f" {bare['cpu_s'] / (n * turns) * 1000:.2f} |"
            print(row, flush=True)
    finally:
        server.terminate()
        server.wait()


# -------------------------------------------------------------------- the runner


def print_rows(rows: list[dict[str, Any]], runs: int) -> None:
    print(f"\nSession files (median of {runs} runs; {load_average()})\n")
    print(
        "| measurement | claw (ms) | claw CPU (ms) | floor | floor (ms) | floor CPU (ms) "
        "| ratio to floor | target |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        met = "met" if r["met"] else "MISSED"
        digits = 1 if r["ms"] >= 10 else 3
        floor_digits = 1 if r["floor_ms"] >= 10 else 4
        print(
            f"| {r['what']} | {r['ms']:.{digits}f} | {r['cpu_ms']:.{digits}f} | {r['floor']} "
            f"| {r['floor_ms']:.{floor_digits}f} | {r['floor_cpu_ms']:.{floor_digits}f} "
            f"| {r['ms'] / r['floor_ms']:.0f}x | {r['target']}: {met} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small version")
    parser.add_argument("--runs", type=int, help="runs of resume and append (default 9)")
    parser.add_argument("--session-runs", type=int, help="runs per N of sessions (default 3)")
    parser.add_argument("--sizes", help="concurrent sessions (default 1,10,100,1000)")
    parser.add_argument("--records", type=int, help="records in the resumed file (10000)")
    parser.add_argument("--parts", default="resume,append,sessions")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per model answer")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--without-files",
        action="store_true",
        help="also run the sessions with persist=False, to see what session files cost",
    )
    parser.add_argument("--claw-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--no-persist", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], float(args.serve[2]))
        return
    if args.claw_child:
        n, base_url, workdir = args.claw_child
        print(json.dumps(claw_child(int(n), base_url, workdir, not args.no_persist)))
        return
    if args.floor_child:
        n, base_url, workdir = args.floor_child
        print(json.dumps(floor_child(int(n), base_url, str(Path(workdir) / "bodies.json"))))
        return

    runs = args.runs or (5 if args.quick else 9)
    session_runs = args.session_runs or (1 if args.quick else 3)
    records = args.records or (2000 if args.quick else 10_000)
    sizes = [
        int(s) for s in (args.sizes or ("1,10,100" if args.quick else "1,10,100,1000")).split(",")
    ]
    parts = set(args.parts.split(","))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="claw-bench-sessions-") as temp:
        workdir = Path(temp)
        rows: list[dict[str, Any]] = []
        if "resume" in parts:
            rows += bench_resume(workdir, records, runs)
        if "append" in parts:
            rows += bench_append(workdir, 200 if args.quick else 1000, runs)
        if rows:
            print_rows(rows, runs)
        if "sessions" in parts:
            bench_sessions(workdir, sizes, session_runs, args.latency, args.without_files)


if __name__ == "__main__":
    main()
