"""Rules see what the tools really touch: a path corpus through the real loop.

The repository hides a secret in ``.env`` and ``config/prod.key`` (read-denied)
and keeps ``locked/`` edit-denied. A scripted model then reaches for them by
every spelling a tool will resolve to the same file: relative to a ``cd``-moved
cwd, through ``..``, ``~``, symlinks, doubled slashes. Each case passes when the
secret never reaches the model and the locked file never changes. Protected
paths (repository, claw, editor and shell configuration) are written in bypass
mode and must still be refused (headless: an ask is a refusal).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import trio
from hypothesis import strategies as st

from claw_runtime.permissions.targets import real_path

from _harness import run_calls

SECRET = "TOPSECRET-4b1d"
DENY = ["Read(./.env)", "Read(./config/*.key)", "Edit(./locked/**)"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    root = home / "repo"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "config").mkdir()
    (root / "locked").mkdir()
    (root / ".env").write_text(f"API_TOKEN={SECRET}\n")
    (root / "config" / "prod.key").write_text(f"{SECRET}\n")
    (root / "locked" / "keep.txt").write_text("original\n")
    (root / "notes.txt").write_text("ordinary notes\n")
    (root / "link-to-env").symlink_to(root / ".env")
    (root / "sub" / "up").symlink_to(root)
    (root / "locked-link").symlink_to(root / "locked")
    monkeypatch.setenv("HOME", str(home))
    return root


def read_spellings(root: Path) -> list[tuple[str, dict[str, Any]]]:
    env, key = root / ".env", root / "config" / "prod.key"
    spellings = [
        ".env",
        "./.env",
        str(env),
        "~/repo/.env",
        "sub/../.env",
        "sub/deeper/../../.env",
        f"{root}//.env",
        f"{root}/./.env",
        "link-to-env",
        "sub/up/.env",
        str(root / "sub" / "up" / ".env"),
        "config/prod.key",
        "./config/../config/prod.key",
        "~/repo/config/prod.key",
        "sub/up/config/prod.key",
        str(key),
    ]
    return [("Read", {"file_path": s}) for s in spellings]


async def test_read_deny_rules_see_every_spelling_of_the_path(repo: Path) -> None:
    calls = read_spellings(repo)
    outcomes = await run_calls(repo, calls, deny=DENY)
    leaks = [c for c, o in zip(calls, outcomes, strict=True) if SECRET in o.text or not o.refused]
    assert leaks == []


async def test_read_deny_rules_follow_the_cwd_that_cd_moved(repo: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("Bash", {"command": "cd sub/deeper"}),
        ("Read", {"file_path": "../../.env"}),
        ("Read", {"file_path": "../../config/prod.key"}),
        ("Read", {"file_path": "../up/.env"}),
        ("Read", {"file_path": "../../notes.txt"}),
    ]
    outcomes = await run_calls(repo, calls, deny=DENY, allow=["Bash(cd:*)"])
    assert not outcomes[0].is_error, outcomes[0]
    assert all(o.refused and SECRET not in o.text for o in outcomes[1:4]), outcomes
    assert "ordinary notes" in outcomes[4].text  # the cwd really moved


SHELL_READS = [
    "cat .env",
    "cat ./.env",
    "cat sub/../.env",
    "cat link-to-env",
    "head -n 1 .env",
    "tail .env",
    "grep TOKEN .env",
    "sed -n 1p .env",
    "less .env",
    "wc -c .env config/prod.key",
    "cat < .env",
    "cat config/prod.key",
    "base64 .env",
    "sort .env",
    "awk 1 .env",
]


async def test_read_deny_rules_cover_shell_commands_that_read_the_file(repo: Path) -> None:
    calls = [("Bash", {"command": c}) for c in SHELL_READS]
    allow = [f"Bash({c.split()[0]}:*)" for c in SHELL_READS]
    for mode in ("default", "bypassPermissions"):
        outcomes = await run_calls(repo, calls, deny=DENY, allow=allow, mode=mode)  # type: ignore[arg-type]
        leaks = [c for c, o in zip(SHELL_READS, outcomes, strict=True) if SECRET in o.text]
        assert leaks == [], mode


async def test_edit_deny_rules_see_every_spelling_of_the_path(repo: Path) -> None:
    keep = repo / "locked" / "keep.txt"
    spellings = [
        "locked/keep.txt",
        str(keep),
        "~/repo/locked/keep.txt",
        "sub/../locked/keep.txt",
        "locked-link/keep.txt",
        "sub/up/locked/keep.txt",
        "locked/new.txt",
        "locked-link/new.txt",
    ]
    calls = [("Write", {"file_path": s, "content": "changed\n"}) for s in spellings]
    for mode in ("acceptEdits", "bypassPermissions"):
        outcomes = await run_calls(repo, calls, deny=DENY, mode=mode)  # type: ignore[arg-type]
        assert all(o.refused for o in outcomes), (mode, outcomes)
    assert keep.read_text() == "original\n"
    assert sorted(p.name for p in (repo / "locked").iterdir()) == ["keep.txt"]


PROTECTED = [
    ".git/config",
    ".git/hooks/pre-commit",
    ".git/info/attributes",
    ".claw/settings.local.json",
    ".claw/settings.json",
    ".claude/settings.local.json",
    ".claude/settings.json",
    ".claude/commands/evil.md",
    ".mcp.json",
    ".bashrc",
    ".profile",
    ".zshrc",
    ".envrc",
    ".husky/pre-commit",
    ".vscode/tasks.json",
    ".vscode/launch.json",
    ".vscode/settings.json",
    ".idea/workspace.xml",
    ".pre-commit-config.yaml",
    ".gitmodules",
    "githooks/pre-push",
    "sub/.git/config",
]


async def test_protected_paths_ask_even_in_bypass_mode(repo: Path) -> None:
    await trio.run_process(["git", "init", "-q", str(repo)])
    await trio.run_process(["git", "-C", str(repo), "config", "core.hooksPath", "githooks"])
    (repo / "alias-to-git").symlink_to(repo / ".git")
    before = {p: (repo / p).read_bytes() for p in (".git/config",)}
    spellings = [*PROTECTED, "alias-to-git/config", "sub/up/.git/config", "~/repo/.mcp.json"]
    calls = [("Write", {"file_path": s, "content": "pwned\n"}) for s in spellings]
    calls += [
        ("Edit", {"file_path": ".git/config", "old_string": "[core]", "new_string": "[core]\n"}),
        ("NotebookEdit", {"notebook_path": ".vscode/x.ipynb", "new_source": "x"}),
    ]
    outcomes = await run_calls(repo, calls, mode="bypassPermissions")
    passed = [c for c, o in zip(calls, outcomes, strict=True) if not o.refused]
    assert passed == []
    assert all(not (repo / p).exists() for p in PROTECTED if not p.startswith(".git/"))
    assert (repo / ".git/config").read_bytes() == before[".git/config"]


async def test_ordinary_files_are_still_reachable(repo: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("Read", {"file_path": "notes.txt"}),
        ("Read", {"file_path": "~/repo/notes.txt"}),
        ("Write", {"file_path": "sub/new.txt", "content": "fine\n"}),
        ("Bash", {"command": "cat notes.txt"}),
    ]
    outcomes = await run_calls(repo, calls, deny=DENY, mode="acceptEdits", allow=["Bash(cat:*)"])
    assert [o.is_error for o in outcomes] == [False] * 4, outcomes
    assert (repo / "sub" / "new.txt").read_text() == "fine\n"


def test_the_corpus_is_large_enough(repo: Path) -> None:
    sizes = [len(read_spellings(repo)), 3, len(SHELL_READS) * 2, 16, len(PROTECTED) + 5]
    assert sum(sizes) >= 70, json.dumps(sizes)


@pytest.mark.parametrize("tool_name", ["Write", "Edit", "NotebookEdit"])
async def test_a_symlink_swapped_in_after_the_check_cannot_send_a_write_outside(
    tmp_path: Path, tool_name: str
) -> None:
    """The policy saw ``sub/`` as a directory; by the time the tool opens it, it is a link."""
    from claw_runtime.tooling import SessionState, ToolContext
    from claw_runtime.tools.edit import edit
    from claw_runtime.tools.notebook_edit import notebook_edit
    from claw_runtime.tools.write import write

    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (outside / "f.txt").write_text("outside\n")
    (outside / "n.ipynb").write_text(json.dumps(notebook))
    (root / "sub").symlink_to(outside)  # swapped in after the permission check
    ctx = ToolContext(session=SessionState(session_id="s", cwd=root))
    tool, tool_input = {
        "Write": (write, {"file_path": str(root / "sub" / "f.txt"), "content": "pwned\n"}),
        "Edit": (
            edit,
            {"file_path": str(root / "sub" / "f.txt"), "old_string": "outside", "new_string": "x"},
        ),
        "NotebookEdit": (
            notebook_edit,
            {
                "notebook_path": str(root / "sub" / "n.ipynb"),
                "new_source": "x",
                "cell_type": "code",
                "edit_mode": "insert",
            },
        ),
    }[tool_name]
    ctx.session.file_reads.clear()
    from claw_runtime.tools._files import record_read

    for name in ("f.txt", "n.ipynb"):
        record_read(ctx, root / "sub" / name)
    result = await tool.invoke(tool_input, ctx)
    assert result.is_error, result
    assert (outside / "f.txt").read_text() == "outside\n"
    assert json.loads((outside / "n.ipynb").read_text()) == notebook


def test_a_rule_covers_names_with_newlines(tmp_path: Path) -> None:
    from claw_runtime.permissions import PermissionPolicy

    policy = PermissionPolicy.from_rules("default", deny=["Read(**/*.pem)"], project=tmp_path)
    assert policy.read_denied(tmp_path / "dir\n" / "c.pem")
    assert policy.read_denied(tmp_path / "a\nb.pem")
    assert not policy.read_denied(tmp_path / "a.pem\n.txt")


# ------------------------------------------------------- the kernel's real path


_NAMES = ["a", "b", "c", "..", ".", "missing"]


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(
    links=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "a/c", "b/c"]),  # where the link is made
            st.sampled_from(["l1", "l2", "l3"]),
            st.lists(st.sampled_from(_NAMES), min_size=0, max_size=4),  # what it points at
            st.booleans(),  # absolute target
        ),
        max_size=6,
    ),
    probes=st.lists(
        st.lists(st.sampled_from([*_NAMES, "l1", "l2", "l3", "f.txt"]), min_size=1, max_size=6),
        min_size=1,
        max_size=8,
    ),
)
def test_the_kernel_resolves_paths_as_realpath_does(
    tmp_path_factory: pytest.TempPathFactory,
    links: list[tuple[str, str, list[str], bool]],
    probes: list[list[str]],
) -> None:
    """Rules match the path ``real_path`` gives; for every path, existing or not, through
    relative and absolute symlinks, chains, loops, dangling links and ``..``, it is the
    path ``os.path.realpath`` gives."""
    root = tmp_path_factory.mktemp("tree").resolve()
    for directory in ("a/c", "b/c"):
        (root / directory).mkdir(parents=True)
        (root / directory / "f.txt").write_text("x")
    for where, name, parts, absolute in links:
        link = root / where / name
        target = "/".join(parts) or "."
        if absolute:
            target = str(root / where / target)
        if not os.path.lexists(link):
            link.symlink_to(target)
    for probe in probes:
        for start in (root, root / "a", root / "b" / "c"):
            path = os.path.join(start, *probe)
            assert real_path(path) == os.path.realpath(path), path


def test_special_files_are_resolved_without_being_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # an open for reading would wait for a writer
    (tmp_path / "to-fifo").symlink_to(fifo)
    assert real_path(str(tmp_path / "to-fifo")) == str(fifo.resolve())
    assert real_path("/dev/stdin") == os.path.realpath("/dev/stdin")
