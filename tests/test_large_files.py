"""Read costs what it shows: a 2 GB sparse file and a 300 MB one-line file, in a fresh process.

Each case runs ``Read.invoke`` under ``trio.run`` in a ``python -c`` subprocess
and reports the growth of its peak RSS (``ru_maxrss``) and the wall time, so
nothing else in the test session skews the numbers. Before Read streamed, the
sparse file took 32-48 s and 4 GB, the one-line file 634 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MEASURE = """
import json, resource, sys, time
from pathlib import Path
import trio
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.read import read

path = Path(sys.argv[1])
ctx = ToolContext(session=SessionState(session_id="m", cwd=path.parent))
trio.run(read.invoke, {"file_path": str(path), "limit": 5}, ctx)  # warm up imports
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
result = trio.run(read.invoke, {"file_path": str(path)}, ctx)
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
    "is_error": result.is_error,
    "text": result.text[:300] + result.text[-300:],
}))
"""


def measure(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_a_2gb_sparse_file_after_some_text(tmp_path: Path) -> None:
    target = tmp_path / "sparse.log"
    with target.open("wb") as handle:
        handle.write(b"".join(b"entry %05d " % i + b"." * 88 + b"\n" for i in range(200)))
        handle.truncate(2 * 1024**3)  # a hole: costs no disk
    found = measure(target)
    assert found["grew_mb"] < 100 and found["seconds"] < 5, found
    assert found["is_error"] and "binary file" in found["text"]  # one clear line


def test_a_300mb_file_of_one_line(tmp_path: Path) -> None:
    target = tmp_path / "one.txt"
    chunk = b"a" * (1024 * 1024)
    with target.open("wb") as handle:
        for _ in range(300):
            handle.write(chunk)
    found = measure(target)
    assert found["grew_mb"] < 100 and found["seconds"] < 5, found
    assert not found["is_error"]
    assert found["text"].startswith("     1\taaaa")
    assert found["text"].endswith(f"[line cut: {300 * 1024 * 1024 - 2000} more characters]")
