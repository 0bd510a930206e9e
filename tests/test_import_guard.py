"""Start-up stays lazy: which modules ``claw`` loads, checked without timing anything.

Each command runs in a subprocess; when it exits, the names in ``sys.modules``
are written to a file. A heavy module appearing where it is not needed (an
import moved to the top of a module, a plugin importing eagerly) fails here,
long before anyone notices the start-up time grew.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from claw_runtime.testing import Script, Turn, open_fake_model_server

from _harness import claw_env

_RECORD_MODULES = """
import runpy, sys
out = sys.argv[1]
sys.argv = ["claw", *sys.argv[2:]]
try:
    runpy.run_module("claw_runtime", run_name="__main__")
except SystemExit:
    pass
finally:
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
"""

NEVER_AT_START_UP = {
    "bashlex",  # the shell parser's parser: only when a Bash call is checked
    "bs4",  # WebFetch's HTML handling
    "markdownify",
    "pathspec",
    "mcp",  # MCP servers, when configured
    "httpcore",  # httpx's default transport: claw's clients use http/transport (no proxy)
    "ray",  # batch runs on Ray
    "structlog",  # loaded by the first log event that passes the level (claw_runtime.logs)
    "asyncio",  # structlog's stdlib module brought it
    "prompt_toolkit",  # the interactive terminal
    "rich.markdown",
    "rich.live",
    "yaml",
    "tomllib",  # the gitleaks rules ship prebuilt as JSON
    "claw_runtime.testing",
    "claw_runtime.demo",
    "click",  # httpx imports its CLI (click, rich.progress, pygments) unless claw defers it
}


async def _modules(tmp_path: Path, args: list[str], env: dict[str, str]) -> set[str]:
    out = tmp_path / "modules.txt"
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, "-c", _RECORD_MODULES, str(out), *args],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    return set(out.read_text().split())


async def test_version_imports_almost_nothing(tmp_path: Path) -> None:
    loaded = await _modules(tmp_path, ["--version"], claw_env(tmp_path))
    ours = {m for m in loaded if m.startswith("claw_runtime")}
    assert ours == {
        "claw_runtime",
        "claw_runtime._httpx_cli",
        "claw_runtime._version",
        "claw_runtime.cli",
        "claw_runtime.cli.main",
    }
    for heavy in ("argparse", "typing", "trio", "httpx", "attrs", "cattrs", "structlog", "pluggy"):
        assert heavy not in loaded, heavy


async def _imported_by(command: list[str], tmp_path: Path) -> set[str]:
    """The modules ``command`` imports, as Python's own import profiler lists them."""
    with trio.fail_after(60):
        done = await trio.run_process(
            command,
            cwd=tmp_path,
            env=claw_env(tmp_path, PYTHONPROFILEIMPORTTIME="1"),
            capture_stdout=True,
            capture_stderr=True,
        )
    rows = done.stderr.decode().splitlines()
    return {row.rsplit("|", 1)[1].strip() for row in rows if row.startswith("import time:")}


async def test_the_installed_claw_command_adds_only_claws_five_modules(tmp_path: Path) -> None:
    # The command is bin/claw installed as written, not a generated console script
    # (whose ``import re`` alone is a third of ``claw --version``).
    command = Path(sys.executable).parent / "claw"
    assert command.is_file(), "the tests run with claw installed (pip install -e .)"
    python_alone = await _imported_by([sys.executable, "-c", "pass"], tmp_path)
    by_claw = await _imported_by([str(command), "--version"], tmp_path)
    added = by_claw - python_alone - {"imported package"}
    assert {m for m in added if m.startswith("claw_runtime")} == {
        "claw_runtime",
        "claw_runtime._httpx_cli",
        "claw_runtime._version",
        "claw_runtime.cli",
        "claw_runtime.cli.main",
    }
    # and from the standard library only what those import: not re, not typing
    assert {m for m in added if not m.startswith("claw_runtime")} <= {
        "__future__",
        "importlib",
        "types",
        "warnings",
    }


def test_the_httpx_command_still_works_after_claw_deferred_it() -> None:
    import subprocess
    import sys

    code = "import claw_runtime, httpx, sys; sys.argv = ['httpx', '--help']; httpx.main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "could not run because the required dependencies" in done.stdout:
        pytest.skip("httpx's CLI dependencies (click, rich, pygments) are not installed")
    assert "Usage: httpx" in done.stdout, done.stdout + done.stderr


async def test_a_tool_call_loads_no_model_or_session_machinery(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    loaded = await _modules(
        tmp_path,
        ["tools", "call", "Read", "--input", '{"file_path": "notes.txt"}'],
        claw_env(tmp_path),
    )
    assert "claw_runtime.tools.read" in loaded  # the guard sees real imports
    unexpected = (NEVER_AT_START_UP | {"claw_runtime.loop", "claw_runtime.sessions.store"}) & loaded
    assert not unexpected
    assert not {"h11", "httpcore"} & loaded  # no HTTP request, no HTTP machinery


async def test_a_one_turn_run_loads_only_what_it_uses(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("hello")])) as server:
        loaded = await _modules(tmp_path, ["-p", "hi"], claw_env(tmp_path, server))
    assert "claw_runtime.loop" in loaded
    assert not NEVER_AT_START_UP & loaded
    assert "claw_runtime.mcp" in loaded  # the session looked for MCP configuration
    no_mcp = {"claw_runtime.mcp.config", "claw_runtime.mcp.client", "pydantic"}
    assert not no_mcp & loaded  # none found: neither the reader nor the SDK is imported


async def test_a_local_batch_loads_no_ray(tmp_path: Path) -> None:
    (tmp_path / "tasks.jsonl").write_text('{"prompt": "hi"}\n')
    async with open_fake_model_server(Script([Turn.say("hello")])) as server:
        loaded = await _modules(
            tmp_path,
            ["batch", "tasks.jsonl", "--out", "results.jsonl"],
            claw_env(tmp_path, server),
        )
    assert "claw_runtime.batch.local" in loaded  # the batch ran
    assert '"succeeded"' in (tmp_path / "results.jsonl").read_text()
    assert "claw_runtime.batch.ray_executor" not in loaded
    assert not NEVER_AT_START_UP & loaded
    assert "rich.progress" not in loaded  # not a terminal: no progress bar
