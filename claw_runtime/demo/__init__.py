"""``claw demo``: the real loop, real tools and real HTTP, with a scripted model.

The model is the fake model server from ``claw_runtime.testing``, replaying a
fixed coding session over the Anthropic streaming protocol on loopback. It
does not think: it sends the same tool calls whatever the tools answer. Every
tool call in between is real: files are read and edited in a temporary copy of
a small project, and its tests run with Bash in a real subprocess.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from claw_runtime.testing.script import Script, ToolCallSpec, Turn

__all__ = ["PROJECT_TEMPLATE", "copy_project", "demo_script"]

PROJECT_TEMPLATE = Path(__file__).parent / "project"

_BUGGY = "        return ordered[middle]\n    return ordered[middle]\n"
_FIXED = "        return ordered[middle]\n    return (ordered[middle - 1] + ordered[middle]) / 2\n"


def copy_project(keep: bool = False) -> Path:
    """A fresh temporary copy of the demo project."""
    root = Path(tempfile.mkdtemp(prefix="claw-demo-"))
    target = root / "stats"
    shutil.copytree(PROJECT_TEMPLATE, target)
    return target


def demo_script(project: Path) -> Script:
    """The scripted session: look around, run the tests, fix the bug, rerun them."""
    tests = f"{shutil.which('python3') or sys.executable} -m unittest -v 2>&1 | tail -n 12"
    stats = str(project / "stats.py")
    return Script(
        [
            Turn.call(
                ToolCallSpec("Glob", {"pattern": "**/*.py", "path": str(project)}),
                ToolCallSpec("Read", {"file_path": stats}),
                text="I'll start by looking at the project layout and the library code.",
            ),
            Turn.call(
                ToolCallSpec("Read", {"file_path": str(project / "test_stats.py")}),
                text="Now the tests, to see what behaviour is expected.",
            ),
            Turn.call(
                ToolCallSpec("Bash", {"command": tests, "description": "Run the test suite"}),
                text="Let me run the test suite.",
            ),
            Turn.call(
                ToolCallSpec(
                    "Edit",
                    {"file_path": stats, "old_string": _BUGGY, "new_string": _FIXED},
                ),
                text=(
                    "test_median_even fails: for an even number of values median() returns "
                    "the upper middle value instead of the mean of the two middle values. "
                    "Fixing it."
                ),
            ),
            Turn.call(
                ToolCallSpec("Bash", {"command": tests, "description": "Rerun the test suite"}),
                text="Rerunning the tests.",
            ),
            Turn.say(
                "All 4 tests pass now. The bug was in `median()`: with an even number of "
                "values it returned `ordered[middle]`; it now returns the mean of the two "
                "middle values, `(ordered[middle - 1] + ordered[middle]) / 2`."
            ),
        ]
    )
