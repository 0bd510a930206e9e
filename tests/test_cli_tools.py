"""``claw tools list`` and ``claw tools call``: tools without a model, as scripts use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def claw(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "CLAW_CONFIG_DIR": str(cwd / ".claw-home"),
        "CLAUDE_CONFIG_DIR": str(cwd / ".claude-home"),
    }
    return subprocess.run(
        [sys.executable, "-m", "claw_runtime", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_list_shows_every_builtin_with_its_mode(tmp_path: Path) -> None:
    result = claw("tools", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert rows["Read"] == "read-only"
    assert rows["Bash"] == "mutating"
    assert {"Edit", "MultiEdit", "Write", "NotebookEdit", "BashOutput", "KillShell"} <= set(rows)


def test_call_prints_the_result_and_exits_zero(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\nbeta\n")
    result = claw("tools", "call", "Read", "--input", '{"file_path": "a.txt"}', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "     1\talpha\n     2\tbeta\n"


def test_call_with_a_tool_error_exits_one(tmp_path: Path) -> None:
    tool_input = '{"command": "echo out; exit 4"}'
    result = claw("tools", "call", "Bash", "--input", tool_input, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "out\n\nExit code: 4\n"


def test_call_with_bad_input_explains_it(tmp_path: Path) -> None:
    result = claw("tools", "call", "Read", "--input", '{"file_path": 3}', cwd=tmp_path)
    assert result.returncode == 1
    expected = "Invalid input for tool Read: expected a string, got int 3 @ input.file_path"
    assert expected in result.stdout


def test_unknown_tool_and_invalid_json_are_one_line_errors(tmp_path: Path) -> None:
    unknown = claw("tools", "call", "Nope", cwd=tmp_path)
    assert unknown.returncode == 1 and "no tool named 'Nope'" in unknown.stderr
    bad_json = claw("tools", "call", "Read", "--input", "{oops", cwd=tmp_path)
    assert bad_json.returncode == 2 and "--input is not valid JSON" in bad_json.stderr
