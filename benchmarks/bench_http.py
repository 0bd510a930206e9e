"""Client CPU per streamed model request, through ``AnthropicProvider`` and a runtime client.

Each request is one model turn as the loop makes it: the provider builds and
sends a ``POST /v1/messages`` through a session's client (its own transport,
``claw_runtime.http``) and reads the streamed answer (a chunked SSE body of
about ten events) to its end. The fake model server runs in its own process
(``python -m claw_runtime.testing --script FILE``), so its CPU is not counted.

Two shapes, each timed as the process's CPU (user + system) and wall time:

* ``sequential``: ``--requests`` requests one after another on one client
  (one kept-alive connection);
* ``concurrent``: ``--sessions`` clients at once, each making ``--turns``
  requests in a row (as many sessions' turns interleave in one process).

Each measurement runs in a fresh process after a warm-up; the figure shown is
the median over ``--runs`` processes. ``--tree DIR`` (repeatable) measures the
``claw_runtime`` package found in DIR instead of this checkout's, the trees
taking turns run by run, so that two versions compare under the same load:

    python benchmarks/bench_http.py [--runs 5] [--tree /tmp/before --tree .]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = "The quick brown fox jumps over the lazy dog; then it naps."
CHUNK = 12
"""Text split into deltas of this many characters: 5 deltas, 11 SSE events in all."""


def child(base_url: str, shape: str, requests: int, sessions: int, turns: int) -> None:
    """Make the requests in this process; print one JSON line of measurements."""
    import trio

    from claw_runtime.config.settings import HttpSettings
    from claw_runtime.http.clients import open_http_clients
    from claw_runtime.models import Message, TextBlock
    from claw_runtime.providers.anthropic import AnthropicProvider
    from claw_runtime.providers.base import ModelRequest, ProviderSettings, StreamComplete

    settings = ProviderSettings(model="claude-sonnet-4-5", api_key="bench", base_url=base_url)
    request = ModelRequest(
        model="claude-sonnet-4-5",
        messages=(Message(role="user", content=(TextBlock(text="Say something."),)),),
    )

    async def turns_on(provider: AnthropicProvider, count: int) -> None:
        for _ in range(count):
            done = None
            async for event in provider.stream(request):
                if isinstance(event, StreamComplete):
                    done = event
            assert done is not None and done.message.content, "no answer"

    async def run() -> dict[str, float]:
        async with open_http_clients(HttpSettings()) as clients:
            providers = [
                AnthropicProvider(settings, clients.for_session())
                for _ in range(1 if shape == "sequential" else sessions)
            ]
            async with trio.open_nursery() as nursery:  # warm-up: imports, connections
                for provider in providers:
                    nursery.start_soon(turns_on, provider, 1)
            count = requests if shape == "sequential" else sessions * turns
            wall, cpu = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for provider in providers:
                    nursery.start_soon(
                        turns_on, provider, requests if shape == "sequential" else turns
                    )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            return {"cpu_ms": cpu * 1000 / count, "wall_ms": wall * 1000 / count}

    print(json.dumps(trio.run(run)))


def measure(tree: Path, base_url: str, shape: str, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, __file__, "--child", base_url, shape]
    command += [str(args.requests), str(args.sessions), str(args.turns)]
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {shape} failed: {done.stderr.decode()[-2000:]}")
    return json.loads(done.stdout.decode().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        base_url, shape, requests, sessions, turns = sys.argv[2:7]
        child(base_url, shape, int(requests), int(sessions), int(turns))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests")
    parser.add_argument("--sessions", type=int, default=200, help="concurrent clients")
    parser.add_argument("--turns", type=int, default=5, help="requests per concurrent client")
    parser.add_argument("--tree", type=Path, action="append", help="a dir holding claw_runtime")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree or [ROOT]]

    from claw_runtime.testing.script import Turn, dump_script

    per_process = max(args.requests, args.sessions * args.turns) + args.sessions
    total = per_process * 2 * args.runs * len(trees) + 100
    results: dict[tuple[Path, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_bytes(dump_script([Turn.say(TEXT, chunk_size=CHUNK)] * total))
        server = subprocess.Popen(
            [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        assert server.stdout is not None
        base_url = server.stdout.readline().decode().strip()
        try:
            for _ in range(args.runs):
                for shape in ("sequential", "concurrent"):
                    for tree in trees:
                        results.setdefault((tree, shape), []).append(
                            measure(tree, base_url, shape, args)
                        )
        finally:
            server.kill()
            server.wait()
    print(
        f"client CPU and wall time per streamed request, median of {args.runs} processes; "
        f"sequential: {args.requests} requests on one client; concurrent: {args.sessions} "
        f"clients x {args.turns} requests\n"
    )
    print(f"{'tree':<40} {'shape':<11} {'CPU/request':>12} {'wall/request':>13}")
    for (tree, shape), samples in results.items():
        cpu = statistics.median(s["cpu_ms"] for s in samples)
        wall = statistics.median(s["wall_ms"] for s in samples)
        print(f"{str(tree)[-40:]:<40} {shape:<11} {cpu:>10.3f}ms {wall:>11.3f}ms")


if __name__ == "__main__":
    main()
