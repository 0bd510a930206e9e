"""Many sessions in one process: CPU per session from 10 to 1,000 concurrent sessions.

N sessions run at once on one runtime, through ``runtime.open_session`` and the
Anthropic provider, against the fake model server in its own process (its CPU
is not counted). Each session is 5 turns: 4 that call ``Read`` on a small file,
then a final answer; every model answer takes 0.5 s (the server stalls the
stream 0.5 s after its first events: a ``Fault(stall_s=0.5)``, since
``Turn.delay_s`` pauses between *every* event and would make a turn take
several times that). The ideal wall time is therefore 2.5 s at any N.

Each (design, N) runs in a fresh process, which opens its runtime, runs one
warm-up session (lazy imports, the first connection), then measures the N
sessions: wall time and the process's CPU time (user + system, all threads)
over them. Below N=100, N sessions run at once, round after round until 100
have run, and the numbers are per round; below N=1000, the median of
``--runs`` processes by CPU. Also shown: the model server's CPU meanwhile (it
has the machine's other core; a busy server stretches the wall time).

Designs (``http`` settings, see docs/settings.md):

* ``floor``: not claw: a bare trio + httpx program doing on the wire what each
  session does, with one client per session (``benchmarks/floors/many_sessions.py``),
  measured first in the same run against the same server; each design's wall
  time is shown against the floor's at the same N.
* ``shared``: one client for every session (``clientPerSession: false``): before.
* ``per-session``: each session its own client (the default): after.
* with ``--alternatives``, also: the shared client behind ``maxInFlight: 100``;
  the shared client with its pool raised to 1,000 connections; sessions spread
  over 16 shared clients; per-session clients with ``maxInFlight: 250``; and
  per-session clients with Python's own garbage collector thresholds
  (``CLAW_GC_THRESHOLD=0``; the runtime raises the first one from 700 to 50,000
  allocations, see ``claw_runtime/gc_tuning.py``).

Each line also says how long the cyclic garbage collector ran over the N
sessions, how many of its passes were full collections, and its longest pause.

    python benchmarks/bench_scale.py [--quick] [--alternatives] [--sizes 10,100,1000]

``--quick`` runs ``shared`` at 10 and 100 only (at 1,000 it takes minutes) and
one process per measurement. A run over ``--limit`` seconds is shown as such.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

TOOL_TURNS = 4
ROUNDS_OF = 100
"""Below N=100, N sessions at once, again and again until 100 ran (0.2 s of CPU is noise)."""
ANSWER_S = 0.5
FINAL = "All files read."

SHARED = {"clientPerSession": False}
FLOOR = "floor: trio + httpx"
DESIGNS: dict[str, dict[str, Any]] = {
    FLOOR: {},
    "shared": SHARED,
    "per-session": {},
}
"""Each design's ``http`` settings (the floor first: the others' wall time is shown
against its wall time at the same N)."""
ALTERNATIVES: dict[str, dict[str, Any]] = {
    "shared, maxInFlight 100": {**SHARED, "maxInFlight": 100},
    "shared, pool of 1000": SHARED,  # and a client whose pool allows 1,000 connections
    "16 shared clients": SHARED,  # sessions dealt round-robin over 16 clients
    "per-session, maxInFlight 250": {"maxInFlight": 250},
    "per-session, Python's gc thresholds": {},  # CLAW_GC_THRESHOLD=0
}


# ------------------------------------------------------------------ the server


def serve(target: str) -> None:
    """The fake model server, answering each request by how far its session got."""
    from claw_runtime.testing import Script, ToolCallSpec, Turn
    from claw_runtime.testing.fake_server import serve_for_benchmark
    from claw_runtime.testing.script import Fault

    stall = Fault(stall_s=ANSWER_S)
    read = ToolCallSpec("Read", {"file_path": target})

    def respond(body: dict[str, Any]) -> Turn:
        results = sum(
            1
            for m in body.get("messages", [])
            if m.get("role") == "user"
            and isinstance(m.get("content"), list)
            and any(b.get("type") == "tool_result" for b in m["content"])
        )
        if results < TOOL_TURNS:
            return Turn.call(read, fault=stall)
        return Turn.say(FINAL, fault=stall)

    serve_for_benchmark(Script([], responder=respond), lean=True)


# ------------------------------------------------------------------- a client


def child(design: str, n: int, base_url: str, workdir: str) -> None:
    """Run ``n`` sessions at once with ``design``; print one JSON line of measurements."""
    import httpx
    import trio

    from claw_runtime.config.settings import HttpSettings, Settings
    from claw_runtime.http import clients as http_clients
    from claw_runtime.runtime import open_runtime

    http = {**DESIGNS, **ALTERNATIVES}[design]
    settings = Settings(
        model="claude-sonnet-4-5",
        http=HttpSettings(
            client_per_session=http.get("clientPerSession", True),
            max_in_flight=http.get("maxInFlight"),
        ),
    )
    env = {
        **os.environ,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "bench",
        "CLAW_CONFIG_DIR": str(Path(workdir) / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(Path(workdir) / "claude-home"),
    }
    if design == "per-session, Python's gc thresholds":
        env["CLAW_GC_THRESHOLD"] = "0"

    async def session(runtime: Any, errors: list[str]) -> None:
        async with runtime.open_session(cwd=workdir, persist=False) as s:
            result = await s.run("Read notes.txt four times.")
        if result.is_error or result.result != FINAL or result.num_turns != TOOL_TURNS + 1:
            errors.append(f"{result.stop_reason}: {result.result[:200]}")

    async def run() -> dict[str, float]:
        async with open_runtime(settings, cwd=workdir, environ=env, no_plugins=True) as runtime:
            if design == "shared, pool of 1000":
                limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
                await runtime.clients.shared.aclose()
                runtime.clients.shared = httpx.AsyncClient(
                    limits=limits, timeout=http_clients.DEFAULT_TIMEOUT
                )
            errors: list[str] = []
            await session(runtime, errors)  # warm-up, not measured
            rounds = max(1, ROUNDS_OF // n)
            pauses = CollectorPauses()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(rounds):
                async with trio.open_nursery() as nursery:
                    for _ in range(n):
                        nursery.start_soon(session, runtime, errors)
            wall = (time.perf_counter() - wall) / rounds
            cpu = (time.process_time() - cpu) / rounds
            gc.callbacks.remove(pauses.record)
            if errors:
                print(f"{len(errors)} sessions failed, e.g. {errors[0]}", file=sys.stderr)
            return {
                "wall_s": wall,
                "cpu_s": cpu,
                "failed": len(errors),
                "gc_s": sum(pauses.seconds) / rounds,
                "gc_full": pauses.full / rounds,
                "gc_longest_s": max(pauses.seconds, default=0.0),
            }

    if design == "16 shared clients":
        shards: list[Any] = []
        cycle = itertools.count()

        def for_session(self: http_clients.HttpClients) -> httpx.AsyncClient:
            if not shards:
                shards.extend([self.shared] + [self._client(None) for _ in range(15)])
                self._open.update(shards[1:])  # closed with the runtime
            return shards[next(cycle) % len(shards)]  # type: ignore[no-any-return]

        async def release(self: http_clients.HttpClients, client: httpx.AsyncClient) -> None:
            pass  # the shards live as long as the runtime (its end closes them)

        with (
            mock.patch.object(http_clients.HttpClients, "for_session", for_session),
            mock.patch.object(http_clients.HttpClients, "release", release),
        ):
            print(json.dumps(trio.run(run)))
    else:
        print(json.dumps(trio.run(run)))


class CollectorPauses:
    """Each cyclic collection's duration while the sessions run (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.full = 0
        self._start = 0.0
        gc.callbacks.append(self.record)

    def record(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        self.seconds.append(time.perf_counter() - self._start)
        self.full += info["generation"] == 2


# ----------------------------------------------------------------- the runner


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    design: str, n: int, server: subprocess.Popen[bytes], base_url: str, workdir: Path, limit: float
) -> dict[str, float] | None:
    """One fresh process; its measurements and the model server's CPU meanwhile (None: over
    ``limit`` seconds)."""
    command = [sys.executable, __file__, "--child", design, str(n), base_url, str(workdir)]
    if design == FLOOR:
        floor = Path(__file__).parent / "floors" / "many_sessions.py"
        command = [sys.executable, str(floor), str(n), base_url, str(workdir / "notes.txt")]
    served = cpu_seconds(server.pid)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    if process.returncode != 0:
        raise RuntimeError(f"{design} N={n} failed ({process.returncode}):\n{err.decode()[-2000:]}")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    result["server_cpu_s"] = cpu_seconds(server.pid) - served
    if result["failed"]:
        print(f"{design} N={n}: {err.decode().strip()[-300:]}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip shared at N=1000")
    parser.add_argument("--alternatives", action="store_true", help="measure other designs too")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument(
        "--design",
        action="append",
        help="a design to measure (repeatable; default: those the other flags choose)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="runs below N=1000 (the median CPU is shown)"
    )
    parser.add_argument("--limit", type=float, default=900.0, help="seconds one run may take")
    parser.add_argument("--serve", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.child:
        design, n, base_url, workdir = args.child
        child(design, int(n), base_url, workdir)
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    designs = {**DESIGNS, **(ALTERNATIVES if args.alternatives else {})}
    if args.design:
        designs = {name: {**DESIGNS, **ALTERNATIVES}[name] for name in args.design}
    with tempfile.TemporaryDirectory(prefix="claw-bench-scale-") as temp:
        workdir = Path(temp)
        target = workdir / "notes.txt"
        target.write_text("".join(f"line {i}\n" for i in range(40)))
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(target)], stdout=subprocess.PIPE
        )
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().decode().strip()
            print(
                f"{TOOL_TURNS + 1} turns per session, each answer {ANSWER_S} s; "
                f"ideal wall time {(TOOL_TURNS + 1) * ANSWER_S:.1f} s; "
                f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start\n"
            )
            print(
                "| design | N | wall (s) | wall vs floor | CPU (s) | CPU/session (ms) "
                "| vs smallest N | model server CPU (s) | GC (s) | full GCs | longest GC (ms) "
                "| sessions failed |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            floor_wall: dict[int, float] = {}
            for design in designs:
                first = None
                for n in sizes:
                    if args.quick and design.startswith("shared") and n >= 1000:
                        continue
                    runs = [
                        measure(design, n, server, base_url, workdir, args.limit)
                        for _ in range(args.runs if n < 1000 and not args.quick else 1)
                    ]
                    if any(r is None for r in runs):
                        print(
                            f"| {design} | {n} | > {args.limit:.0f} | | | | | | | | | |",
                            flush=True,
                        )
                        break
                    done = sorted((r for r in runs if r is not None), key=lambda r: r["cpu_s"])
                    r = done[(len(done) - 1) // 2]  # the median run by CPU
                    per = r["cpu_s"] / n * 1000
                    rounds = max(1, ROUNDS_OF // n)
                    first = first or per
                    if design == FLOOR:
                        floor_wall[n] = r["wall_s"]
                    versus = f"{r['wall_s'] / floor_wall[n]:.2f}x" if n in floor_wall else ""
                    print(
                        f"| {design} | {n} | {r['wall_s']:.2f} | {versus} | {r['cpu_s']:.2f} "
                        f"| {per:.2f} | {per / first:.2f}x | {r['server_cpu_s'] / rounds:.2f} "
                        f"| {r['gc_s']:.2f} | {r['gc_full']:.0f} | {r['gc_longest_s'] * 1000:.0f} "
                        f"| {r['failed']:.0f} |",
                        flush=True,
                    )
            print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
