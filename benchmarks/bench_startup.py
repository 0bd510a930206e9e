"""Start-up cost of the ``claw`` command, each figure beside its floor from the same run.

* ``claw --version`` against ``python -c pass``: the target is under 30 ms.
* ``claw tools call Read`` against the import floor: a program importing
  trio, httpx, pluggy, attrs, cattrs, structlog and orjson and nothing else.
* ``claw -p hi`` (one streamed model turn) against a bare trio + httpx
  program making the same request (``benchmarks/floors/one_request.py``), with
  the peak RSS of each.

The fake model server runs in its own process, so its CPU is not counted.
Every figure is the median of ``--runs`` fresh processes, spawn to exit, each
command alternating with its floor; CPU is user + system time of the process,
steadier than wall time when other work shares the machine.

    python benchmarks/bench_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from claw_runtime.testing.script import Turn, dump_script

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
IMPORT_FLOOR = (
    # httpx's command-line client (click, rich) deferred, as claw defers it
    "import sys, types; sys.modules['httpx._main'] = m = types.ModuleType('httpx._main'); "
    "m.main = lambda: None; import trio, httpx, pluggy, attrs, cattrs, structlog, orjson"
)


# Spawns the measured command from a small process, so that its peak RSS is its
# own: a child forked from this (large) benchmark process would report this
# process's memory as its peak. It writes "seconds peak_kb exit_code cpu_seconds"
# to argv[1].
_LAUNCHER = """
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
null = os.open(os.devnull, os.O_WRONLY)
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(null, 1)
    os.execvp(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(out, "w") as f:
    cpu = usage.ru_utime + usage.ru_stime
    f.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)} {cpu}")
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """Seconds from spawn to exit, peak RSS in MB and CPU seconds (user + system) of one
    process (which must succeed)."""
    result = cwd / ".timed"
    launched = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *command],
        env=env,
        cwd=cwd,
        stderr=subprocess.PIPE,
        check=False,
    )
    elapsed, peak_kb, code, cpu = result.read_text().split()
    if int(code) != 0:
        raise RuntimeError(f"{command} failed ({code}): {launched.stderr.decode()[-1500:]}")
    return float(elapsed), int(peak_kb) / 1024, float(cpu)


def _medians(samples: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        statistics.median(s[2] for s in samples),
    )


def paired(
    runs: int, command: list[str], floor: list[str], env: dict[str, str], cwd: Path
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Median seconds, peak RSS (MB) and CPU seconds of ``command`` and of its ``floor``
    over ``runs`` processes each, run alternately so that both see the same load; after
    one warm-up each (which also fills claw's cache of generated code, as any earlier
    run of claw would)."""
    timed(command, env, cwd)
    timed(floor, env, cwd)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(timed(command, env, cwd))
        theirs.append(timed(floor, env, cwd))
    return _medians(ours), _medians(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    claw = [str(BIN / "claw")]
    python = [sys.executable]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "notes.txt").write_text("hello\n")
        script = work / "script.json"
        script.write_bytes(dump_script([Turn.say("hello")] * (4 * args.runs + 8)))
        server = subprocess.Popen(
            [sys.executable, "-m", "claw_runtime.testing", "--script", str(script)],
            stdout=subprocess.PIPE,
        )
        assert server.stdout is not None
        url = server.stdout.readline().decode().strip()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work / "home"),
            "CLAW_CONFIG_DIR": str(work / "claw-home"),
            "CLAUDE_CONFIG_DIR": str(work / "claude-home"),
            "ANTHROPIC_BASE_URL": url,
            "ANTHROPIC_API_KEY": "bench-key",
        }
        read_call = ["tools", "call", "Read", "--input", '{"file_path": "notes.txt", "limit": 1}']
        try:
            pairs = [
                ("claw --version", [*claw, "--version"], "python -c pass", [*python, "-c", "pass"]),
                (
                    "claw tools call Read",
                    [*claw, *read_call],
                    "import floor",
                    [*python, "-c", IMPORT_FLOOR],
                ),
                (
                    "claw -p hi",
                    [*claw, "-p", "hi", "--no-session"],
                    "trio + httpx one request",
                    [*python, str(HERE / "floors" / "one_request.py")],
                ),
            ]
            rows = [
                (name, *paired(args.runs, command, floor, env, work), floor_name)
                for name, command, floor_name, floor in pairs
            ]
        finally:
            server.kill()
            server.wait()
    print(
        f"median of {args.runs} runs each; the fake model server in its own process; "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    header = ("command", "time", "CPU", "RSS", "floor", "time", "CPU", "RSS", "ratio", "CPU")
    print("{:<22} {:>9} {:>9} {:>7}   {:<26} {:>9} {:>9} {:>7} {:>6} {:>6}".format(*header))
    for name, (took, rss, cpu), (floor, floor_rss, floor_cpu), floor_name in rows:
        print(
            f"{name:<22} {took * 1000:>7.1f}ms {cpu * 1000:>7.1f}ms {rss:>5.1f}MB   "
            f"{floor_name:<26} {floor * 1000:>7.1f}ms {floor_cpu * 1000:>7.1f}ms "
            f"{floor_rss:>5.1f}MB {took / floor:>5.2f}x {cpu / floor_cpu:>5.2f}x"
        )


if __name__ == "__main__":
    main()
