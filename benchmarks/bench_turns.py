"""Cost of one tool turn, claw beside a bare trio + httpx loop making the same requests.

Every client plays the same conversation against the fake model server
(Anthropic Messages protocol, streaming, on loopback, in its own process so its
CPU is not counted): N - 1 turns that each ask for ``Read`` of a 40-line file,
then a final answer. The clients:

* ``claw --no-session``: ``claw -p "Read notes.txt" --no-session``;
* ``claw``: the same, writing its session file (that is part of a real turn);
* the floor: ``benchmarks/floors/bare_loop.py``, a bare trio + httpx + orjson
  loop sending the same bytes (the ``system``, ``tools`` and first message of a
  request claw sent, each ``Read`` answered with plain ``open()``).

Each run is a fresh process, timed from spawn to exit, with its CPU time::

    per tool turn = (T(201 turns) - T(1 turn)) / 200     (median of --runs)

Flatness: the server records when each request arrived (``received_at``) and
this script times how long the server spent answering each one. A turn's gap is
the time between two requests' arrivals; its client gap is that minus the
server's answer to the first of them, so the server's own growth (it hashes
the whole prompt for its cache simulation) is taken out. Growth is the mean
client gap of turns 180-200 over that of turns 1-20.

    python benchmarks/bench_turns.py [--quick] [--runs 7] [--turns 201]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from claw_runtime.testing.script import ToolCallSpec, Turn, dump_script, load_script

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
BARE = HERE / "floors" / "bare_loop.py"
PROMPT = "Read notes.txt"
FINAL = "All files read."
EARLY = range(1, 21)
"""Turns 1-20 (the gap before request n is turn n's)."""
LATE_FROM = 180


# ---------------------------------------------------------------- the server


def serve(script_path: Path, record_path: Path) -> None:
    """Serve a script until SIGTERM, then write what arrived and when (``--serve``)."""
    import trio

    from claw_runtime.testing import fake_server

    answered: list[tuple[float, float, int]] = []
    answer = fake_server._answer

    async def timed_answer(server: Any, stream: Any, conn: Any, request: Any, raw: bytes) -> None:
        start = time.monotonic()
        try:
            await answer(server, stream, conn, request, raw)
        finally:
            answered.append((start, time.monotonic(), len(raw)))

    fake_server._answer = timed_answer  # this process only: time each answer

    async def run() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            with trio.open_signal_receiver(signal.SIGTERM) as signals:
                server = await nursery.start(
                    partial(fake_server.serve_fake_model, load_script(script_path))
                )
                print(server.base_url, flush=True)
                async for _ in signals:
                    break
            nursery.cancel_scope.cancel()
        requests = server.requests
        return {
            "received_at": [r.received_at for r in requests],
            "answered_s": [end - start for start, end, _ in answered],
            "bytes": [size for _, _, size in answered],
            "first_body": requests[0].body if requests else None,
        }

    record_path.write_bytes(orjson.dumps(trio.run(run)))


def start_server(script: Path, record: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(script), str(record)], stdout=subprocess.PIPE
    )
    assert server.stdout is not None
    return server, server.stdout.readline().decode().strip()


def stop_server(server: subprocess.Popen[bytes], record: Path) -> dict[str, Any]:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    data: dict[str, Any] = orjson.loads(record.read_bytes())
    return data


# ---------------------------------------------------------------- one run


def write_script(directory: Path, turns: int, target: Path) -> Path:
    script = [Turn.call(ToolCallSpec("Read", {"file_path": str(target)})) for _ in range(turns - 1)]
    script.append(Turn.say(FINAL))
    path = directory / f"script-{turns}.json"
    path.write_bytes(dump_script(script))
    return path


def timed_run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds from spawn to exit and CPU seconds (user + system) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or FINAL not in out:
        raise RuntimeError(f"{command[:4]} failed ({code}):\n{out[-800:]}\n{err[-1500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def client_gaps(record: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Each turn's gap (index n: from request n-1 to request n) and its client gap."""
    arrived, answered = record["received_at"], record["answered_s"]
    gaps = [0.0] + [arrived[n] - arrived[n - 1] for n in range(1, len(arrived))]
    client = [0.0] + [gaps[n] - answered[n - 1] for n in range(1, len(arrived))]
    return gaps, client


def mean_of(values: list[float], turns: range) -> float:
    return statistics.fmean(values[n] for n in turns)


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--turns", type=int, default=201)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    parser.add_argument("--serve", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    runs = 3 if args.quick else args.runs
    long_run = args.turns
    late = range(LATE_FROM, long_run)
    with tempfile.TemporaryDirectory(prefix="claw-turns-") as temp:
        work = Path(temp)
        target = work / "notes.txt"
        target.write_text("".join(f"line {i}\n" for i in range(40)))
        scripts = {n: write_script(work, n, target) for n in (1, long_run)}
        record_path = work / "record.json"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work / "home"),
            "CLAW_CONFIG_DIR": str(work / "claw-home"),
            "CLAUDE_CONFIG_DIR": str(work / "claude-home"),
            "ANTHROPIC_API_KEY": "bench-key",
        }
        claw = [str(BIN / "claw"), "-p", PROMPT, "--no-plugins"]
        template = work / "request.json"
        clients = {
            "claw --no-session": [*claw, "--no-session"],
            "claw (session file)": claw,
            "bare trio + httpx": [sys.executable, str(BARE), str(template)],
        }

        def one(name: str, turns: int) -> tuple[float, float, dict[str, Any]]:
            server, url = start_server(scripts[turns], record_path)
            try:
                wall, cpu = timed_run(clients[name], {**env, "ANTHROPIC_BASE_URL": url}, work)
            finally:
                record = stop_server(server, record_path)
            return wall, cpu, record

        # What claw sends is what the floor sends: its system prompt, tools, first message.
        _, _, first = one("claw --no-session", 1)
        template.write_bytes(orjson.dumps(first["first_body"]))

        samples: dict[str, dict[int, list[tuple[float, float]]]] = {
            name: {1: [], long_run: []} for name in clients
        }
        records: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
        for run in range(runs):
            for name in clients:
                for turns in (1, long_run):
                    wall, cpu, record = one(name, turns)
                    samples[name][turns].append((wall, cpu))
                    if turns == long_run:
                        records[name].append(record)
            print(f"run {run + 1}/{runs} done", file=sys.stderr)

    def per_turn(name: str, which: int) -> float:
        """(median T(long) - median T(1)) / tool turns, of wall (0) or CPU (1) seconds."""
        long_ = statistics.median(s[which] for s in samples[name][long_run])
        return (long_ - statistics.median(s[which] for s in samples[name][1])) / (long_run - 1)

    rows = {}
    for name in clients:
        wall, cpu = per_turn(name, 0), per_turn(name, 1)
        early_gap, late_gap, early_client, late_client = [], [], [], []
        for record in records[name]:
            gaps, client = client_gaps(record)
            early_gap.append(mean_of(gaps, EARLY))
            late_gap.append(mean_of(gaps, late))
            early_client.append(mean_of(client, EARLY))
            late_client.append(mean_of(client, late))
        rows[name] = {
            "wall": wall,
            "cpu": cpu,
            "one": statistics.median(w for w, _ in samples[name][1]),
            "early_gap": statistics.median(early_gap),
            "late_gap": statistics.median(late_gap),
            "early_client": statistics.median(early_client),
            "late_client": statistics.median(late_client),
            "last_bytes": records[name][-1]["bytes"][-1],
        }
    floor = rows["bare trio + httpx"]
    print(
        f"\n{long_run - 1} tool turns (Read of a 40-line file) + a final answer; "
        f"median of {runs} runs; the fake server in its own process\n"
    )
    print(
        "| client | per tool turn (ms) | ratio to floor | CPU per turn (ms) | 1-turn run (s) "
        f"| gap turns 1-20 (ms) | gap turns {LATE_FROM}-{long_run - 1} (ms) | growth "
        "| growth, server's time taken out | last request (bytes) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['wall'] * 1000:.2f} | {r['wall'] / floor['wall']:.2f}x "
            f"| {r['cpu'] * 1000:.2f} | {r['one']:.3f} "
            f"| {r['early_gap'] * 1000:.2f} | {r['late_gap'] * 1000:.2f} "
            f"| {r['late_gap'] / r['early_gap']:.2f}x "
            f"| {r['late_client'] / r['early_client']:.2f}x | {r['last_bytes']} |"
        )
    if any(r["last_bytes"] != floor["last_bytes"] for r in rows.values()):
        print("\nwarning: the last requests differ in size: the floor is not sending claw's bytes")
    floor_growth = floor["late_client"] / floor["early_client"]
    for name, r in rows.items():
        if name != "bare trio + httpx":
            growth = r["late_client"] / r["early_client"]
            print(f"\n{name}: growth {growth:.2f}x, {growth / floor_growth:.2f}x the floor's")


if __name__ == "__main__":
    main()
