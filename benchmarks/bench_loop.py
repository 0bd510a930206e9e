"""Harness overhead of a headless run, claw against other Python agent frameworks.

Every framework runs the same job against the same fake model server (OpenAI
Chat Completions protocol, on loopback, in its own process): N turns that each
call a ``Read`` tool on a small file, then a final answer. Each run is a fresh
process, timed from spawn to exit, with its peak RSS.

    per-turn overhead = (T(51 turns) - T(1 turn)) / 50      (median of --runs)

Peers are installed into their own virtual environment (``benchmarks/.peers``)
on first use, so the project's environment stays clean.

    python benchmarks/bench_loop.py [--runs 5] [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from claw_runtime.testing.script import ToolCallSpec, Turn, dump_script

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers"
PEER_PACKAGES = ["openai-agents", "pydantic-ai-slim[openai]", "llm"]
PEERS = {
    "openai-agents": HERE / "peers" / "openai_agents_run.py",
    "pydantic-ai": HERE / "peers" / "pydantic_ai_run.py",
    "llm": HERE / "peers" / "llm_run.py",
}
LONG, SHORT = 51, 1


def write_script(directory: Path, turns: int, target: Path) -> Path:
    script = [Turn.call(ToolCallSpec("Read", {"file_path": str(target)})) for _ in range(turns - 1)]
    script.append(Turn.say("All files read."))
    path = directory / f"script-{turns}.json"
    path.write_bytes(dump_script(script))
    return path


def start_server(script: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().decode().strip()


def timed_run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Seconds from spawn to exit, and peak RSS in MB, of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or "All files read." not in out:
        raise RuntimeError(
            f"{command[:3]} failed ({process.returncode}):\n{out[-800:]}\n{err[-1500:]}"
        )
    return elapsed, usage.ru_maxrss / 1024


def measure(
    name: str,
    command: list[str],
    scripts: dict[int, Path],
    cwd: Path,
    runs: int,
    extra_env: dict[str, str],
) -> dict[str, float]:
    times: dict[int, list[float]] = {LONG: [], SHORT: []}
    peak = 0.0
    for _ in range(runs):
        for turns in (SHORT, LONG):
            server, url = start_server(scripts[turns])
            try:
                env = {
                    **os.environ,
                    **extra_env,
                    "OPENAI_BASE_URL": f"{url}/v1",
                    "OPENAI_API_KEY": "bench-key",
                }
                elapsed, rss = timed_run(
                    [*command, f"{url}/v1"] if name != "claw" else command, env, cwd
                )
            finally:
                server.terminate()
                server.wait()
            times[turns].append(elapsed)
            peak = max(peak, rss)
    t_long, t_short = statistics.median(times[LONG]), statistics.median(times[SHORT])
    return {
        "per_turn_ms": (t_long - t_short) / (LONG - SHORT) * 1000,
        "one_turn_s": t_short,
        "long_s": t_long,
        "peak_rss_mb": peak,
    }


def ensure_peers() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return python


def version_time(runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "claw_runtime", "--version"], check=True, capture_output=True
        )
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="claw-bench-") as temp:
        workdir = Path(temp)
        target = workdir / "notes.txt"
        target.write_text("".join(f"line {i}\n" for i in range(40)))
        scripts = {n: write_script(workdir, n, target) for n in (SHORT, LONG)}
        claw = [
            sys.executable,
            "-m",
            "claw_runtime",
            "-p",
            "Read notes.txt",
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--output-format",
            "text",
            "--no-session",
            "--permission-mode",
            "bypassPermissions",
            "--no-plugins",
        ]
        home = {
            "CLAW_CONFIG_DIR": str(workdir / "claw-home"),
            "CLAUDE_CONFIG_DIR": str(workdir / "claude-home"),
        }
        results = {"claw": measure("claw", claw, scripts, workdir, args.runs, home)}
        if not args.no_peers:
            python = ensure_peers()
            for name, path in PEERS.items():
                try:
                    results[name] = measure(
                        name, [str(python), str(path)], scripts, workdir, args.runs, {}
                    )
                except RuntimeError as exc:
                    print(f"{name}: failed: {exc}", file=sys.stderr)
        cold = version_time(args.runs) * 1000
        print(f"claw --version, cold: {cold:.0f} ms (median of {args.runs})\n")
        base = results["claw"]
        print(
            "| framework | per-turn overhead (ms) | ratio to claw | 1-turn run (s) | ratio "
            "| 51-turn run (s) | peak RSS (MB) |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, r in results.items():
            print(
                f"| {name} | {r['per_turn_ms']:.2f} "
                f"| {r['per_turn_ms'] / base['per_turn_ms']:.1f}x | "
                f"{r['one_turn_s']:.3f} | {r['one_turn_s'] / base['one_turn_s']:.1f}x | "
                f"{r['long_s']:.3f} | {r['peak_rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
