"""Grep and Glob speed: claw's tools against ripgrep itself, in the same run.

* Grep over the running interpreter's standard library: claw's Grep tool against
  running the same ``rg`` directly with the same query. Target: within 1.5x of rg.
* Glob over a generated tree of 100,000 files. Target: under 1 s. Peer: ``rg --files``
  piped through a glob filter (what a shell-based agent would run).
* A read deny rule in force (one ``Read(**/*.pem)`` rule, as an agent run would
  have), for the cost of checking every found file against it.

    python benchmarks/bench_search.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

from claw_runtime.permissions import PermissionPolicy
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools._files_listing import find_rg
from claw_runtime.tools.glob import glob_tool
from claw_runtime.tools.grep import grep


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def tool_call(tool: object, tool_input: dict[str, object], ctx: ToolContext) -> str:
    result = trio.run(tool.invoke, tool_input, ctx)  # type: ignore[attr-defined]
    assert not result.is_error, result.text[:200]
    return str(result.text)


def make_tree(root: Path, count: int = 100_000) -> None:
    for package in range(count // 1000):
        directory = root / f"pkg{package:03d}" / "module"
        directory.mkdir(parents=True)
        for index in range(1000):
            (directory / f"file{index:04d}.{'py' if index % 2 else 'txt'}").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stdlib = sysconfig.get_paths()["stdlib"]
    ctx = ToolContext(session=SessionState(session_id="bench", cwd=Path(stdlib)))
    query = {"pattern": "def __init__\\(self", "path": stdlib, "output_mode": "files_with_matches"}
    rows: list[tuple[str, float]] = []

    rg = find_rg()
    assert rg is not None, "ripgrep is a dependency: pip install -e ."
    rows.append(("Grep tool", median_ms(lambda: tool_call(grep, query, ctx), args.runs)))
    rows.append(
        (
            "rg -l directly",
            median_ms(
                lambda: subprocess.run(
                    [rg, "-l", "def __init__\\(self", stdlib], capture_output=True
                ),
                args.runs,
            ),
        )
    )

    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        make_tree(root)
        glob_input = {"pattern": "**/*.py", "path": str(root)}
        glob_ms = median_ms(lambda: tool_call(glob_tool, glob_input, ctx), args.runs)
        policy = PermissionPolicy.from_rules("default", deny=["Read(**/*.pem)"], project=root)
        denying = ToolContext(
            session=SessionState(session_id="bench", cwd=root), read_denied=policy.read_denied
        )
        glob_deny_ms = median_ms(lambda: tool_call(glob_tool, glob_input, denying), args.runs)
        rg_files_ms = median_ms(
            lambda: subprocess.run(
                f"{rg} --files -g '*.py' {root} | wc -l", shell=True, capture_output=True
            ),
            args.runs,
        )

    grep_ratio = rows[0][1] / rows[1][1]
    print(f"Grep over {stdlib} (median of {args.runs}):\n")
    print("| method | ms | ratio to rg |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / rows[1][1]:.2f}x |")
    print(f"\nGrep tool vs rg: {grep_ratio:.2f}x (target <= 1.5x)\n")
    print("Glob over 100,000 files (50,000 matches), sorted by mtime:\n")
    print("| method | ms |")
    print("|---|---|")
    print(f"| Glob tool | {glob_ms:.0f} |")
    print(f"| Glob tool, one read deny rule | {glob_deny_ms:.0f} |")
    print(f"| rg --files -g '*.py' (unsorted) | {rg_files_ms:.0f} |")


if __name__ == "__main__":
    main()
