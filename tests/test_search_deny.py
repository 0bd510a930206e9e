"""A read deny rule hides files from Grep, Glob and LS, whatever the search looks like.

The corpus runs through the real agent loop (:func:`_harness.run_calls`) in
default mode with three deny rules. Each call tries to reach a secret: by
searching its directory, a parent, the file itself, a symbolic link to it, a
``..`` spelling, globs and types that single it out, context lines, hidden
files. No outcome may contain a secret string or a denied file's name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.permissions import PermissionPolicy
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.glob import glob_tool, ls
from claw_runtime.tools.grep import grep

from _harness import CallOutcome, run_calls

DENY = ["Read(./.env)", "Read(./secrets/**)", "Read(**/*.pem)"]

SECRETS = {
    ".env": "ENV_SECRET_7f3a9c",
    "secrets/token.txt": "TOKEN_SECRET_b81d2e",
    "keys/a.pem": "PEM_SECRET_44c0aa",
    "deep/er/b.pem": "PEM_SECRET_91ee07",
}

VISIBLE = {
    "src/app.py": "needle = 1\nother = 2\n",
    "notes.txt": "a needle here\n",
    "keys/public.txt": "needle, public\n",
    ".hidden/visible.txt": "hidden needle\n",
    "src/.env.example": "needle=example\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    for name, secret in SECRETS.items():
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Every secret file also holds the needle the visible files hold, and
        # lines around it, so context (-A/-B/-C) would carry the secret along.
        path.write_text(f"before\n{secret}\nneedle {secret}\nafter {secret}\n")
    for name, text in VISIBLE.items():
        path = ws / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (ws / "link").symlink_to(".env")
    (ws / "slink").symlink_to("secrets")
    (ws / "keys" / "alias.txt").symlink_to("a.pem")
    return ws


def _forbidden(ws: Path) -> list[str]:
    words = list(SECRETS.values())
    words += [str(ws / name) for name in SECRETS]
    words += ["token.txt", "a.pem", "b.pem", "slink/", "alias.txt"]
    return words


_ENV_NAME = re.compile(r"(^|[\s/])\.env$", re.MULTILINE)  # ".env" shown as a listed name


_ECHOES = (
    re.compile(r"\ANo files match .* under [^\n]*\.\Z"),  # Glob repeating its input
    re.compile(r"\A- [^\n]*/$", re.MULTILINE),  # LS's first line: the directory asked for
)


def _leaks(ws: Path, outcome: CallOutcome) -> list[str]:
    """Secrets and denied names in what the model was told, beyond its own input echoed."""
    text = outcome.text
    for echo in _ECHOES:
        text = echo.sub("", text)
    found = [word for word in _forbidden(ws) if word in text]
    if _ENV_NAME.search(text):
        found.append(".env listed")
    return found


def adversarial_calls(ws: Path) -> list[tuple[str, dict[str, Any]]]:
    parent = str(ws.parent)
    grep_calls: list[dict[str, Any]] = [
        {"pattern": "SECRET"},
        {"pattern": "SECRET", "output_mode": "content"},
        {"pattern": "SECRET", "output_mode": "count"},
        {"pattern": "needle", "output_mode": "content", "-C": 5},
        {"pattern": "needle", "output_mode": "content", "-A": 3, "-B": 3, "-n": False},
        {"pattern": "before", "output_mode": "content", "-A": 10},
        {"pattern": "SECRET", "path": "secrets", "output_mode": "content"},
        {"pattern": "SECRET", "path": "secrets/token.txt"},
        {"pattern": ".", "path": ".env", "output_mode": "content"},
        {"pattern": "SECRET", "path": "link", "output_mode": "content"},
        {"pattern": "SECRET", "path": "src/../.env", "output_mode": "content"},
        {"pattern": "SECRET", "path": "src/..", "output_mode": "count"},
        {"pattern": "SECRET", "path": parent, "output_mode": "content"},
        {"pattern": "SECRET", "path": str(ws / "src" / ".." / "keys"), "output_mode": "content"},
        {"pattern": "SECRET", "glob": ".env", "output_mode": "content"},
        {"pattern": "SECRET", "glob": "*.pem", "output_mode": "content"},
        {"pattern": "SECRET", "glob": "**/.* .env* **/*.{pem,txt}", "-i": True},
        {"pattern": "SECRET", "type": "txt", "output_mode": "content"},
        {"pattern": "[\\s\\S]+", "multiline": True, "output_mode": "content"},
        {"pattern": "secret", "-i": True, "output_mode": "content", "head_limit": 1},
        {"pattern": "SECRET", "path": "slink", "output_mode": "content"},
        {"pattern": "SECRET", "path": "slink/token.txt", "output_mode": "content"},
        {"pattern": "SECRET", "path": "keys", "output_mode": "count"},
        {"pattern": "SECRET", "path": "keys/a.pem"},
        {"pattern": "SECRET", "path": "./keys/../keys/a.pem", "output_mode": "content"},
        {"pattern": "SECRET", "path": "keys/alias.txt", "output_mode": "content"},
        {"pattern": "SECRET", "path": "deep", "glob": "!nothing", "output_mode": "content"},
        {"pattern": "", "output_mode": "files_with_matches"},
    ]
    glob_calls: list[dict[str, Any]] = [
        {"pattern": "**/*"},
        {"pattern": "*"},
        {"pattern": ".env"},
        {"pattern": ".*"},
        {"pattern": "**/.*"},
        {"pattern": "*.pem"},
        {"pattern": "**/token.txt"},
        {"pattern": "secrets/*"},
        {"pattern": "*", "path": "secrets"},
        {"pattern": "*", "path": "slink"},
        {"pattern": "**/*", "path": ".."},
        {"pattern": "**/*", "path": parent},
        {"pattern": "*", "path": ".env"},
        {"pattern": "*", "path": "link"},
        {"pattern": "*", "path": "keys/a.pem"},
        {"pattern": "*", "path": "src/.."},
    ]
    ls_calls: list[dict[str, Any]] = [
        {"path": "."},
        {"path": str(ws)},
        {"path": "secrets"},
        {"path": "slink"},
        {"path": "keys"},
        {"path": ".."},
        {"path": "src/.."},
        {"path": ".env"},
        {"path": "link"},
        {"path": ".", "ignore": ["*.py"]},
    ]
    return (
        [("Grep", c) for c in grep_calls]
        + [("Glob", c) for c in glob_calls]
        + [("LS", c) for c in ls_calls]
    )


async def test_no_search_reaches_a_denied_file(workspace: Path) -> None:
    calls = adversarial_calls(workspace)
    assert len(calls) >= 20
    outcomes = await run_calls(workspace, calls, deny=DENY)
    leaks = {
        f"{name} {args}": (leaked, outcome.text[:300])
        for (name, args), outcome in zip(calls, outcomes, strict=True)
        if (leaked := _leaks(workspace, outcome))
    }
    assert not leaks, f"{len(leaks)} of {len(calls)} calls leaked: {leaks}"
    # Searches of the whole tree ran (and were not all refused), so the test means something.
    ran = [o for o in outcomes if not o.is_error]
    assert len(ran) >= 30


async def test_normal_files_are_still_found(workspace: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("Grep", {"pattern": "needle"}),
        ("Grep", {"pattern": "needle", "output_mode": "content", "-C": 2}),
        ("Glob", {"pattern": "**/*.txt"}),
        ("Glob", {"pattern": "*", "path": "keys"}),
        ("LS", {"path": "."}),
        ("Grep", {"pattern": "needle", "path": "keys", "output_mode": "count"}),
    ]
    grep_files, grep_content, glob_txt, glob_keys, listing, keys_count = await run_calls(
        workspace, calls, deny=DENY
    )
    expected = sorted(str(workspace / name) for name in VISIBLE)
    assert grep_files.text.splitlines() == [f"Found {len(VISIBLE)} files", *expected]
    assert "a needle here" in grep_content.text and "needle, public" in grep_content.text
    assert "hidden needle" in grep_content.text and "needle = 1" in grep_content.text
    assert "other = 2" in grep_content.text  # context of a visible file is shown
    assert sorted(glob_txt.text.splitlines()) == sorted(
        str(workspace / n) for n in ("notes.txt", "keys/public.txt", ".hidden/visible.txt")
    )
    assert glob_keys.text.splitlines() == [str(workspace / "keys/public.txt")]
    for name in ("app.py", "notes.txt", "public.txt", "visible.txt", ".env.example"):
        assert f"- {name}" in listing.text
    assert keys_count.text.splitlines() == [
        "Found 1 total occurrences across 1 files",
        f"{workspace / 'keys/public.txt'}:1",
    ]
    for outcome in (grep_files, grep_content, glob_txt, glob_keys, listing, keys_count):
        assert not _leaks(workspace, outcome)


@pytest.mark.parametrize(
    ("tool_name", "args"),
    [
        ("Grep", {"pattern": "x", "path": ".env"}),
        ("Grep", {"pattern": "x", "path": "link"}),
        ("Grep", {"pattern": "x", "path": "src/../keys/a.pem"}),
        ("Grep", {"pattern": "x", "path": "slink/token.txt"}),
        ("Glob", {"pattern": "*", "path": ".env"}),
        ("Glob", {"pattern": "*", "path": "link"}),
        ("LS", {"path": "keys/a.pem"}),
    ],
)
async def test_the_tools_refuse_a_denied_path_themselves(
    workspace: Path, tool_name: str, args: dict[str, Any]
) -> None:
    """Without the permission layer in front, the tool still says the path is denied."""
    policy = PermissionPolicy.from_rules("default", deny=DENY, project=workspace)
    ctx = ToolContext(
        session=SessionState(session_id="s", cwd=workspace), read_denied=policy.read_denied
    )
    tool_ = {"Grep": grep, "Glob": glob_tool, "LS": ls}[tool_name]
    result = await tool_.invoke(args, ctx)
    assert result.is_error and "denied" in result.text
    assert not _leaks(workspace, CallOutcome(result.text, result.is_error))


def _denying_ctx(workspace: Path) -> ToolContext:
    policy = PermissionPolicy.from_rules("default", deny=DENY, project=workspace)
    return ToolContext(
        session=SessionState(session_id="s", cwd=workspace), read_denied=policy.read_denied
    )


async def test_a_name_with_a_newline_does_not_smuggle_a_denied_file_out(workspace: Path) -> None:
    """ripgrep's output splits such a name in two; neither half may pass for another file.

    The deny predicate here is the tools' own (``.pem`` anywhere), not the
    permission rules', so the test is about how the tools parse ripgrep.
    """
    odd = workspace / "odd\n"
    odd.mkdir()
    (odd / "c.pem").write_text("needle PEM_SECRET_newline\n")
    (workspace / "x\ny.pem").write_text("needle PEM_SECRET_newline2\n")
    ctx = ToolContext(
        session=SessionState(session_id="s", cwd=workspace),
        read_denied=lambda path: path.suffix == ".pem",
    )
    for mode in ("content", "count", "files_with_matches"):
        for args in ({}, {"-C": 2}, {"glob": "*.pem"}):
            result = await grep.invoke({"pattern": "needle", "output_mode": mode, **args}, ctx)
            assert "PEM_SECRET" not in result.text
            assert "c.pem" not in result.text and "y.pem" not in result.text
            if "glob" not in args:  # the visible files are still there
                assert ("needle = 1" in result.text) == (mode == "content")
                assert str(workspace / "notes.txt") in result.text
    listed = await glob_tool.invoke({"pattern": "**/*"}, ctx)
    assert ".pem" not in listed.text and str(workspace / "notes.txt") in listed.text


async def test_only_visible_files_count_toward_the_limits(workspace: Path) -> None:
    """Glob shows the newest 100 visible matches, LS the first 1000: denied files fill no slot."""
    many = workspace / "many"
    many.mkdir()
    for index in range(150):
        (many / f"f{index:03d}.pem").write_text("x")
        os.utime(many / f"f{index:03d}.pem", (2_000_000_000, 2_000_000_000))  # newest
    for index in range(120):
        (many / f"g{index:03d}.txt").write_text("x")
        os.utime(many / f"g{index:03d}.txt", (1_000_000 + index, 1_000_000 + index))
    ctx = _denying_ctx(workspace)
    lines = (await glob_tool.invoke({"pattern": "*", "path": "many"}, ctx)).text.splitlines()
    assert lines[:100] == [str(many / f"g{i:03d}.txt") for i in reversed(range(20, 120))]
    assert lines[100].startswith("[Only the newest 100 matches are shown")
    assert len(lines) == 101
    few = (await glob_tool.invoke({"pattern": "g00*", "path": "many"}, ctx)).text.splitlines()
    assert len(few) == 10 and not any(line.startswith("[") for line in few)
    listing = (await ls.invoke({"path": "many"}, ctx)).text
    assert ".pem" not in listing and listing.count(".txt") == 120
    assert "Only the first" not in listing
