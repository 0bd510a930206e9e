"""Real plugin distributions, installed with pip and found through entry points.

Nothing about discovery is patched: each distribution is built and installed
by pip into a directory that the ``claw`` subprocess gets on its path, the way
a user's ``pip install`` puts it on theirs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLUGIN = REPO / "plugins" / "claw-word-count"

BROKEN_IMPORT = {
    "name": "claw-broken-import",
    "module": "claw_broken_import",
    "source": "raise ImportError('this plugin needs numpy 9')\n",
}
BROKEN_HOOK = {
    "name": "claw-broken-hook",
    "module": "claw_broken_hook",
    "source": textwrap.dedent(
        """
        from claw_runtime import hookimpl

        @hookimpl
        def register_tools(register):
            raise RuntimeError("tool table is corrupt")
        """
    ),
}


def _write_distribution(root: Path, spec: dict[str, str]) -> Path:
    project = root / spec["name"]
    (project / spec["module"]).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{spec["name"]}"
            version = "0.0.1"

            [project.entry-points.claw]
            {spec["module"]} = "{spec["module"]}"

            [tool.hatch.build.targets.wheel]
            packages = ["{spec["module"]}"]
            """
        )
    )
    (project / spec["module"] / "__init__.py").write_text(spec["source"])
    return project


def _pip_install(target: Path, *projects: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            *map(str, projects),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with three real plugin distributions installed by pip."""
    root = tmp_path_factory.mktemp("dists")
    target = root / "site"
    _pip_install(
        target,
        EXAMPLE_PLUGIN,
        _write_distribution(root, BROKEN_IMPORT),
        _write_distribution(root, BROKEN_HOOK),
    )
    return target


def claw(
    site: Path, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "PYTHONPATH": str(site),
        "CLAW_CONFIG_DIR": str(cwd / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(cwd / "claude-home"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "claw_runtime", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _manifest(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    manifest: dict[str, Any] = json.loads(result.stdout)
    return manifest


def test_installed_plugin_tool_appears_in_inspect_with_its_schema(site_dir, tmp_path):
    manifest = _manifest(claw(site_dir, "inspect", cwd=tmp_path))
    tools = {t["name"]: t for t in manifest["tools"]}
    assert tools["WordCount"]["plugin"] == "word_count"
    assert tools["WordCount"]["read_only"] is True
    assert tools["WordCount"]["input_schema"]["required"] == ["file_path"]
    plugins = {p["name"]: p for p in manifest["plugins"]}
    assert plugins["word_count"]["distribution"] == "claw-word-count"
    assert plugins["word_count"]["version"] == "0.1.0"
    assert plugins["word_count"]["registers"] == {"tool": ["WordCount"], "command": ["wc"]}
    assert "word_count" in manifest["hooks"]["register_tools"]
    assert "word_count" in manifest["hooks"]["register_commands"]


def test_broken_plugins_are_reported_and_the_rest_still_loads(site_dir, tmp_path):
    manifest = _manifest(claw(site_dir, "inspect", cwd=tmp_path))
    errors = {e["plugin"]: e for e in manifest["errors"]}
    assert "numpy 9" in errors["claw_broken_import"]["reason"]
    assert errors["claw_broken_import"]["hook"] is None
    assert errors["claw_broken_hook"]["hook"] == "register_tools"
    assert "tool table is corrupt" in errors["claw_broken_hook"]["reason"]
    assert "WordCount" in {t["name"] for t in manifest["tools"]}


def test_claw_plugins_lists_versions_registrations_and_errors(site_dir, tmp_path):
    result = claw(site_dir, "plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "word_count (0.1.0)" in out
    assert "tools: WordCount" in out
    assert "commands: wc" in out
    assert "claw_broken_import (0.0.1)" in out and "numpy 9" in out


def test_disable_plugins_by_env_and_no_plugins_flag(site_dir, tmp_path):
    disabled = _manifest(
        claw(
            site_dir,
            "inspect",
            cwd=tmp_path,
            env={"CLAW_DISABLE_PLUGINS": "word_count, claw_broken_import"},
        )
    )
    names = {p["name"] for p in disabled["plugins"]}
    assert "word_count" not in names and "claw_broken_import" not in names
    assert "claw_broken_hook" in names
    bare = _manifest(claw(site_dir, "--no-plugins", "inspect", cwd=tmp_path))
    assert all(p["builtin"] for p in bare["plugins"])
    assert bare["errors"] == []


def test_plugin_tool_runs_through_claw_tools_call(site_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("one two\nthree\n")
    result = claw(
        site_dir,
        "tools",
        "call",
        "WordCount",
        "--input",
        '{"file_path": "notes.txt"}',
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "2 lines, 3 words, 14 characters" in result.stdout
    missing = claw(
        site_dir, "tools", "call", "WordCount", "--input", '{"file_path": "nope.txt"}', cwd=tmp_path
    )
    assert missing.returncode == 1
    assert "File not found" in missing.stdout
