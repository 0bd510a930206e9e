"""``claw demo`` end to end: the README's main-job command, as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_fixes_the_bug_with_real_tools_and_says_it_is_scripted(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLAW_CONFIG_DIR": str(tmp_path / "claw"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "claw_runtime", "demo", "--keep"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "scripted model" in out and "not a real LLM" in out
    assert "\x1b[" not in out  # piped: plain text, no terminal escapes
    calls = re.findall(r"● (\w+)\(", out)
    assert sorted(calls[:2]) == ["Glob", "Read"]  # read-only: these two ran concurrently
    assert calls[2:] == ["Read", "Bash", "Edit", "Bash"]
    assert re.search(r"Summary: 6 model turns, [\d,]+ input \+ [\d,]+ output tokens", out)
    kept = re.search(r"Project kept at (\S+)", out)
    assert kept is not None
    project = Path(kept.group(1))
    fixed = (project / "stats.py").read_text()
    assert "(ordered[middle - 1] + ordered[middle]) / 2" in fixed
    tests = subprocess.run(
        [sys.executable, "-m", "unittest", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tests.returncode == 0, tests.stderr
