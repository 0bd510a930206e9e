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

    per tool turn = (T(201 turns) - T(1 turn)) / 200

Every figure is the best of ``--runs`` (``--stat median`` for the median): on a
machine shared with other work, the best run is the one least disturbed, and
the clients' runs are interleaved so each sees the same conditions.

The server's time is in that figure, alike for every client. To see the
client's own time, the server notes when each request's first bytes arrive,
when the whole of it has (``received_at``) and when its answer begins and
ends: the client's own time in a turn runs from the end of one answer to the
first bytes of the next request (reading the answer, the tool, building and
encoding the request). The server's time, which grows with the conversation
(it parses every request and hashes the whole prompt for its cache
simulation), and the request's transfer, which grows with its size, are
shown beside it. Flatness: the mean client time of turns 180-200 over that of
turns 1-20, for each client and relative to the floor's.

    python benchmarks/bench_turns.py [--quick] [--runs 7] [--turns 201] [--stat min|median]
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


class _FirstByte:
    """A server-side stream that notes when the first bytes of a request arrive."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.at: float | None = None

    async def receive_some(self, max_bytes: int) -> bytes:
        data: bytes = await self.stream.receive_some(max_bytes)
        if data and self.at is None:
            self.at = time.monotonic()
        return data


def serve(script_path: Path, record_path: Path) -> None:
    """Serve a script until SIGTERM, then write what arrived and when (``--serve``).

    For each request: when its first bytes arrived, when the whole of it had
    (``RecordedRequest.received_at``), and when the server began and finished
    its answer. The fake server's own functions are wrapped, in this process only.
    """
    import trio

    from claw_runtime.testing import fake_server

    first_bytes: list[float | None] = []
    answered: list[tuple[float, float, int]] = []
    read_request, answer = fake_server._read_request, fake_server._answer

    async def timed_read(stream: Any, conn: Any) -> Any:
        watched = _FirstByte(stream)
        request = await read_request(watched, conn)
        if request is not None:
            first_bytes.append(watched.at)
        return request

    async def timed_answer(server: Any, stream: Any, conn: Any, request: Any, raw: bytes) -> None:
        start = time.monotonic()
        try:
            await answer(server, stream, conn, request, raw)
        finally:
            answered.append((start, time.monotonic(), len(raw)))

    fake_server._read_request = timed_read
    fake_server._answer = timed_answer

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
            "first_byte": [
                at if at is not None else r.received_at
                for at, r in zip(first_bytes, requests, strict=True)
            ],
            "received_at": [r.received_at for r in requests],
            "answer_start": [start for start, _, _ in answered],
            "answer_end": [end for _, end, _ in answered],
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


def per_request(record: dict[str, Any]) -> dict[str, list[float]]:
    """Times by turn (index n: the turn that ends with request n; index 0 is unused).

    ``client``: from the end of the server's answer n-1 to the first bytes of
    request n, all the client's own work (reading the answer, the tool, the
    next request); ``transfer``: request n's bytes on their way in;
    ``server``: the server's answer to request n-1; ``gap``: from request
    n-1's arrival to request n's, all of it.
    """
    first, arrived = record["first_byte"], record["received_at"]
    start, end = record["answer_start"], record["answer_end"]
    turns = range(1, len(arrived))
    return {
        "client": [0.0, *(first[n] - end[n - 1] for n in turns)],
        "transfer": [0.0, *(arrived[n] - first[n] for n in turns)],
        "server": [0.0, *(end[n - 1] - start[n - 1] for n in turns)],
        "gap": [0.0, *(arrived[n] - arrived[n - 1] for n in turns)],
    }


def mean_of(values: list[float], turns: range) -> float:
    return statistics.fmean(values[n] for n in turns)


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stat", choices=("min", "median"), default="min")
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

    stat = min if args.stat == "min" else statistics.median

    def per_turn(name: str, which: int) -> float:
        """(T(long) - T(1)) / tool turns, of wall (0) or CPU (1) seconds."""
        long_ = stat(s[which] for s in samples[name][long_run])
        return (long_ - stat(s[which] for s in samples[name][1])) / (long_run - 1)

    rows = {}
    for name in clients:
        runs_of: dict[str, list[float]] = {}
        for record in records[name]:
            times = per_request(record)
            every = range(1, len(times["gap"]))
            for key, values in times.items():
                for part, turns in (("", every), ("_early", EARLY), ("_late", late)):
                    runs_of.setdefault(key + part, []).append(mean_of(values, turns))
        rows[name] = {key: stat(values) for key, values in runs_of.items()}
        rows[name].update(
            wall=per_turn(name, 0),
            cpu=per_turn(name, 1),
            one=stat(w for w, _ in samples[name][1]),
            last_bytes=records[name][-1]["bytes"][-1],
        )
    floor = rows["bare trio + httpx"]
    print(
        f"\n{long_run - 1} tool turns (Read of a 40-line file) + a final answer; "
        f"{'best' if args.stat == 'min' else 'median'} of {runs} runs; "
        "the fake server in its own process\n"
    )
    print(
        "| client | per tool turn (ms) | ratio | client's own time per turn (ms) | ratio "
        "| CPU per turn (ms) | ratio | 1-turn run (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['wall'] * 1000:.2f} | {r['wall'] / floor['wall']:.2f}x "
            f"| {r['client'] * 1000:.2f} | {r['client'] / floor['client']:.2f}x "
            f"| {r['cpu'] * 1000:.2f} | {r['cpu'] / floor['cpu']:.2f}x | {r['one']:.3f} |"
        )
    last = f"{LATE_FROM}-{long_run - 1}"
    print(
        f"\n| client | client's own time, turns 1-20 (ms) | turns {last} (ms) | growth "
        f"| growth / floor's | request transfer, 1-20 -> {last} (ms) "
        f"| server's answer, 1-20 -> {last} (ms) | whole gap, 1-20 -> {last} (ms) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    floor_growth = floor["client_late"] / floor["client_early"]

    def grew(r: dict[str, float], key: str) -> str:
        return f"{r[key + '_early'] * 1000:.2f} -> {r[key + '_late'] * 1000:.2f}"

    for name, r in rows.items():
        growth = r["client_late"] / r["client_early"]
        print(
            f"| {name} | {r['client_early'] * 1000:.2f} | {r['client_late'] * 1000:.2f} "
            f"| {growth:.2f}x | {growth / floor_growth:.2f}x | {grew(r, 'transfer')} "
            f"| {grew(r, 'server')} | {grew(r, 'gap')} |"
        )
    if any(r["last_bytes"] != floor["last_bytes"] for r in rows.values()):
        print("\nwarning: the last requests differ in size: the floor is not sending claw's bytes")
    else:
        print(f"\nthe last request of every client: {floor['last_bytes']} bytes")


if __name__ == "__main__":
    main()
