"""Read of the first 2000 lines of a 10 MB file: claw's Read tool against peers.

Peers, measured in the same run on the same file: ``head -n 2000 | cat -n`` as
a subprocess (what a shell-based agent pays), and Python reading the whole file
then slicing (what a naive tool does). Target: Read under 50 ms.

    python benchmarks/bench_read.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.read import read


def make_file(path: Path, size: int = 10 * 1024 * 1024) -> None:
    line = "".join(chr(97 + i % 26) for i in range(99)) + "\n"
    with path.open("w") as handle:
        for _ in range(size // len(line)):
            handle.write(line)


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "big.log"
        make_file(path)
        ctx = ToolContext(session=SessionState(session_id="bench", cwd=Path(temp)))

        def claw_read() -> None:
            result = trio.run(read.invoke, {"file_path": str(path)}, ctx)
            assert not result.is_error and "  2000\t" in result.text

        def head_cat() -> None:
            subprocess.run(
                f"head -n 2000 {path} | cat -n", shell=True, check=True, capture_output=True
            )

        def naive() -> None:
            lines = path.read_text().splitlines()[:2000]
            "\n".join(f"{i:>6}\t{line}" for i, line in enumerate(lines, 1))

        results = {
            "claw Read (in a fresh trio.run each time)": median_ms(claw_read, args.runs),
            "head -n 2000 \\| cat -n (subprocess)": median_ms(head_cat, args.runs),
            "Python: read whole file, slice": median_ms(naive, args.runs),
        }
    base = next(iter(results.values()))
    print(f"Read first 2000 lines of a 10 MB file (median of {args.runs}):\n")
    print("| method | ms | ratio to claw |")
    print("|---|---|---|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.2f} | {ms / base:.1f}x |")


if __name__ == "__main__":
    main()
