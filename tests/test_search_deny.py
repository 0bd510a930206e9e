"""A read deny rule hides files from Grep, Glob and LS, whatever the search looks like.

The corpus runs through the real agent loop (:func:`_harness.run_calls`) in
default mode with three deny rules. Each call tries to reach a secret: by
searching its directory, a parent, the file itself, a symbolic link to it, a
``..`` spelling, globs and types that single it out, context lines, hidden
files. No outcome may contain a secret string or a denied file's name.
"""

from __future__ import annotations

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
