"""Glob, LS and Grep on real trees; the pure-Python Grep must print what ripgrep prints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.glob import glob_tool, ls
from claw_runtime.tools.grep import BACKEND_ENV, grep


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    files = {
        "README.md": "# Demo\nAlpha beta\n",
        "src/app.py": "import os\n\ndef main():\n    print('Hello')\n    return 0\n",
        "src/util.py": "def helper(x):\n    return x * 2  # TODO tidy\n\nclass Thing:\n    pass\n",
        "src/nested/deep.py": "HELLO = 'hello'\nprint(HELLO)\n",
        "web/index.js": "function hello() {\n  return 'hi';\n}\n",
        "web/style.css": "body { color: red; }\n",
        "build/out.py": "print('generated hello')\n",
        "logs/app.log": "hello from the log\n",
        ".hidden/conf.py": "secret = 'hello'\n",
        "docs/multi.txt": "start\nmiddle line\nend\n",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "bin.dat").write_bytes(b"\x00\x01hello\x00binary")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("hello = inside git\n")
    return root


@pytest.fixture
def ctx(tree: Path) -> ToolContext:
    return ToolContext(session=SessionState(session_id="s", cwd=tree))


async def test_glob_matches_names_and_paths_newest_first_and_respects_gitignore(
    ctx: ToolContext, tree: Path
) -> None:
    os.utime(tree / "src/util.py", (1_000_000, 1_000_000))
    os.utime(tree / "src/app.py", (3_000_000, 3_000_000))
    os.utime(tree / "src/nested/deep.py", (2_000_000, 2_000_000))
    result = await glob_tool.invoke({"pattern": "**/*.py", "path": str(tree / "src")}, ctx)
    assert result.text.splitlines() == [
        str(tree / p) for p in ("src/app.py", "src/nested/deep.py", "src/util.py")
    ]
    everywhere = (await glob_tool.invoke({"pattern": "*.py"}, ctx)).text.splitlines()
    assert str(tree / "build/out.py") not in everywhere  # gitignored
    assert str(tree / ".hidden/conf.py") in everywhere
    assert not any("/.git/" in p for p in everywhere)
    braces = (await glob_tool.invoke({"pattern": "web/*.{js,css}"}, ctx)).text.splitlines()
    assert sorted(braces) == [str(tree / "web/index.js"), str(tree / "web/style.css")]


async def test_glob_errors_and_empty_results(ctx: ToolContext, tree: Path) -> None:
    none = await glob_tool.invoke({"pattern": "*.rs"}, ctx)
    assert not none.is_error and none.text.startswith("No files match *.rs")
    missing = await glob_tool.invoke({"pattern": "*", "path": "nope"}, ctx)
    assert missing.is_error and "does not exist" in missing.text


async def test_ls_draws_a_tree_with_ignores(ctx: ToolContext, tree: Path) -> None:
    result = await ls.invoke({"path": str(tree), "ignore": ["*.css", "docs"]}, ctx)
    lines = result.text.splitlines()
    assert lines[0] == f"- {tree}/"
    assert "  - src/" in lines and "    - app.py" in lines and "      - deep.py" in lines
    assert not any("style.css" in line or "multi.txt" in line for line in lines)
    assert not any("out.py" in line or ".git/" in line for line in lines)


GREP_CASES: list[dict[str, Any]] = [
    {"pattern": "hello"},
    {"pattern": "hello", "-i": True},
    {"pattern": "hello", "output_mode": "content", "-n": True, "-i": True},
    {"pattern": "return", "output_mode": "content", "-n": True, "-C": 1},
    {"pattern": "def", "output_mode": "content", "-A": 1, "-B": 1, "-n": True},
    {"pattern": "print", "output_mode": "count"},
    {"pattern": "hello", "glob": "*.py", "-i": True},
    {"pattern": "hello", "type": "js", "-i": True},
    {"pattern": "start.*\\nmiddle", "multiline": True, "output_mode": "content"},
    {"pattern": "o", "output_mode": "content", "head_limit": 3},
    {"pattern": "class|def", "output_mode": "files_with_matches"},
    {"pattern": "nothing-matches-this"},
]


@pytest.mark.parametrize("case", GREP_CASES, ids=[str(i) for i in range(len(GREP_CASES))])
async def test_python_grep_prints_exactly_what_ripgrep_prints(
    ctx: ToolContext, tree: Path, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shutil.which("rg"), "ripgrep must be installed for this comparison (.ci/run installs it)"
    query = {"path": str(tree), **case}
    monkeypatch.setenv(BACKEND_ENV, "rg")
    with_rg = await grep.invoke(query, ctx)
    monkeypatch.setenv(BACKEND_ENV, "python")
    with_python = await grep.invoke(query, ctx)
    assert (with_python.is_error, with_python.text) == (with_rg.is_error, with_rg.text)


async def test_grep_results_make_sense(ctx: ToolContext, tree: Path) -> None:
    files = (await grep.invoke({"pattern": "hello", "-i": True}, ctx)).text
    assert str(tree / "src/app.py") in files
    assert "out.py" not in files and "app.log" not in files and "bin.dat" not in files
    assert ".git/config" not in files
    bad = await grep.invoke({"pattern": "(unclosed"}, ctx)
    assert bad.is_error
