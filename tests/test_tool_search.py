"""Glob, LS and Grep on real trees: what they find, what they leave out, how they agree."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools import _files_listing
from claw_runtime.tools.glob import glob_tool, ls
from claw_runtime.tools.grep import grep


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


async def test_grep_results_make_sense(ctx: ToolContext, tree: Path) -> None:
    files = (await grep.invoke({"pattern": "hello", "-i": True}, ctx)).text
    assert str(tree / "src/app.py") in files
    assert "out.py" not in files and "app.log" not in files and "bin.dat" not in files
    assert ".git/config" not in files
    bad = await grep.invoke({"pattern": "(unclosed"}, ctx)
    assert bad.is_error


async def test_grep_content_mode_with_context_and_line_numbers(
    ctx: ToolContext, tree: Path
) -> None:
    result = await grep.invoke(
        {"pattern": "return", "output_mode": "content", "-C": 1, "path": str(tree / "src")}, ctx
    )
    app, util = tree / "src/app.py", tree / "src/util.py"
    assert result.text.splitlines() == [
        f"{app}-4-    print('Hello')",
        f"{app}:5:    return 0",
        "--",
        f"{util}-1-def helper(x):",
        f"{util}:2:    return x * 2  # TODO tidy",
        f"{util}-3-",
    ]
    plain = await grep.invoke(
        {"pattern": "HELLO =", "output_mode": "content", "-n": False, "path": str(tree)}, ctx
    )
    assert plain.text == f"{tree / 'src/nested/deep.py'}:HELLO = 'hello'"


async def test_grep_modes_filters_and_limits(ctx: ToolContext, tree: Path) -> None:
    count = await grep.invoke({"pattern": "print", "output_mode": "count"}, ctx)
    assert count.text.splitlines() == [
        "Found 2 total occurrences across 2 files",
        f"{tree / 'src/app.py'}:1",
        f"{tree / 'src/nested/deep.py'}:1",
    ]
    by_glob = await grep.invoke({"pattern": "hello", "-i": True, "glob": "*.py"}, ctx)
    assert by_glob.text.splitlines()[1:] == [
        str(tree / p) for p in (".hidden/conf.py", "src/app.py", "src/nested/deep.py")
    ]
    by_type = await grep.invoke({"pattern": "hello", "type": "js"}, ctx)
    assert by_type.text.splitlines()[1:] == [str(tree / "web/index.js")]
    multi = await grep.invoke(
        {"pattern": "start.*\\nmiddle", "multiline": True, "output_mode": "content"}, ctx
    )
    assert multi.text.splitlines() == [
        f"{tree / 'docs/multi.txt'}:1:start",
        f"{tree / 'docs/multi.txt'}:2:middle line",
    ]
    limited = await grep.invoke({"pattern": "o", "output_mode": "content", "head_limit": 3}, ctx)
    assert len(limited.text.split("\n\n")[0].splitlines()) == 3
    assert "more matches were found" in limited.text
    single = await grep.invoke({"pattern": "Alpha", "path": "README.md"}, ctx)
    assert single.text.splitlines() == ["Found 1 file", str(tree / "README.md")]
    none = await grep.invoke({"pattern": "nothing-matches-this"}, ctx)
    assert none.text == "No files found"


@pytest.mark.parametrize(
    "ignore_file", [".gitignore", ".ignore", ".rgignore", "nested/.gitignore", ".git/info/exclude"]
)
async def test_glob_ls_and_grep_agree_on_ignored_files(
    ctx: ToolContext, tree: Path, ignore_file: str
) -> None:
    """One listing for all three tools: every kind of ignore file hides the same files."""
    (tree / "nested").mkdir()
    (tree / "nested" / "keep.txt").write_text("needle\n")
    (tree / "nested" / "drop.txt").write_text("needle\n")
    rules = tree / ignore_file
    rules.parent.mkdir(parents=True, exist_ok=True)
    with rules.open("a") as f:
        f.write("\ndrop.txt\n")
    (tree / "node_modules").mkdir()
    (tree / "node_modules" / "pkg.txt").write_text("needle\n")

    globbed = (await glob_tool.invoke({"pattern": "**/*.txt"}, ctx)).text.splitlines()
    grepped = (await grep.invoke({"pattern": "needle"}, ctx)).text.splitlines()[1:]
    listed = (await ls.invoke({"path": str(tree)}, ctx)).text
    expected = {str(tree / "nested/keep.txt"), str(tree / "node_modules/pkg.txt")}
    assert set(grepped) == expected
    assert expected <= set(globbed) and str(tree / "nested/drop.txt") not in globbed
    assert "keep.txt" in listed and "pkg.txt" in listed and "drop.txt" not in listed


async def test_rg_is_found_beside_python_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ripgrep wheel puts rg next to the interpreter; an empty PATH must not matter."""
    monkeypatch.setenv("PATH", "")
    found = _files_listing.find_rg()
    assert found is not None
    assert os.path.dirname(found) in _files_listing._script_dirs()
    assert os.path.dirname(found) == os.path.dirname(sys.executable) or found.startswith(sys.prefix)


async def test_missing_rg_is_one_clear_error(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files_listing, "find_rg", lambda: None)
    for tool_, query in (
        (grep, {"pattern": "x"}),
        (glob_tool, {"pattern": "*"}),
        (ls, {"path": "."}),
    ):
        result = await tool_.invoke(query, ctx)
        assert result.is_error
        assert result.text.strip() == _files_listing.RG_MISSING
        assert "pip install ripgrep" in result.text
