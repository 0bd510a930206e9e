"""Workspace edges and rule kinds: escapes through symlinks, hard links and ``..``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.permissions import PermissionPolicy, Verdict, parse_rule

from _harness import builtin_call


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "project"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("keep out")
    return {"root": root, "outside": outside}


def check(
    policy: PermissionPolicy,
    name: str,
    root: Path,
    roots: list[Path] | None = None,
    **tool_input: Any,
) -> Verdict:
    call = builtin_call(name, root, **tool_input)
    return policy.check(call, root, roots or [root])


@pytest.mark.parametrize("mode", ["default", "acceptEdits", "bypassPermissions"])
def test_writes_outside_the_workspace_are_denied_however_they_are_spelled(
    workspace: dict[str, Path], mode: str
) -> None:
    root, outside = workspace["root"], workspace["outside"]
    (root / "link_dir").symlink_to(outside)
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "dangling").symlink_to(outside / "not-yet.txt")
    policy = PermissionPolicy.from_rules(mode, allow=["Edit", "Write"], project=root)  # type: ignore[arg-type]
    for path in [
        str(outside / "secret.txt"),
        "../outside/secret.txt",
        "sub/../../outside/x.txt",
        "link_dir/secret.txt",
        "link_dir/new.txt",
        "link_file",
        "dangling",
    ]:
        verdict = check(policy, "Write", root, file_path=path, content="x")
        assert verdict.decision == "deny", (mode, path)
        assert "outside the workspace" in verdict.reason and "--add-dir" in verdict.reason


def test_added_directories_extend_the_workspace(workspace: dict[str, Path]) -> None:
    root, outside = workspace["root"], workspace["outside"]
    policy = PermissionPolicy.from_rules("acceptEdits", project=root)
    inside = check(
        policy,
        "Edit",
        root,
        roots=[root, outside],
        file_path=str(outside / "secret.txt"),
        old_string="a",
        new_string="b",
    )
    assert inside.decision == "allow"


@pytest.mark.parametrize(
    "relative",
    [
        ".git/config",
        ".claw/settings.json",
        ".claude/settings.local.json",
        ".mcp.json",
        "sub/.git/hooks/pre-commit",
        ".bashrc",
    ],
)
@pytest.mark.parametrize("mode", ["acceptEdits", "bypassPermissions"])
def test_protected_paths_ask_even_when_edits_are_accepted(
    workspace: dict[str, Path], relative: str, mode: str
) -> None:
    root = workspace["root"]
    policy = PermissionPolicy.from_rules(mode, project=root)  # type: ignore[arg-type]
    verdict = check(policy, "Write", root, file_path=relative, content="x")
    assert (verdict.decision, verdict.protected) == ("ask", True)
    assert "protected path" in verdict.reason


def test_a_hard_link_to_an_outside_file_asks(workspace: dict[str, Path]) -> None:
    root, outside = workspace["root"], workspace["outside"]
    os.link(outside / "secret.txt", root / "innocent.txt")
    policy = PermissionPolicy.from_rules("bypassPermissions", project=root)
    verdict = check(
        policy, "Edit", root, file_path="innocent.txt", old_string="keep", new_string="lost"
    )
    assert verdict.decision == "ask" and "2 hard links" in verdict.reason


def test_ordinary_edits_inside_follow_the_mode(workspace: dict[str, Path]) -> None:
    root = workspace["root"]
    (root / "src").mkdir()
    assert (
        check(
            PermissionPolicy.from_rules("default", project=root),
            "Write",
            root,
            file_path="src/a.py",
            content="",
        ).decision
        == "ask"
    )
    assert (
        check(
            PermissionPolicy.from_rules("acceptEdits", project=root),
            "Write",
            root,
            file_path="src/a.py",
            content="",
        ).decision
        == "allow"
    )
    assert (
        check(
            PermissionPolicy.from_rules("plan", project=root),
            "Write",
            root,
            file_path="src/a.py",
            content="",
        ).decision
        == "deny"
    )
    assert (
        check(
            PermissionPolicy.from_rules("plan", project=root), "Read", root, file_path="src/a.py"
        ).decision
        == "allow"
    )


def test_path_rules_for_edit_and_read(workspace: dict[str, Path]) -> None:
    root = workspace["root"]
    policy = PermissionPolicy.from_rules(
        "default", allow=["Edit(src/**)"], deny=["Read(./.env)", "Edit(//etc/**)"], project=root
    )
    assert (
        check(
            policy, "Edit", root, file_path="src/deep/mod.py", old_string="a", new_string="b"
        ).decision
        == "allow"
    )
    assert (
        check(policy, "MultiEdit", root, file_path="src/x.py", edits=[]).decision == "allow"
    )  # Edit rules cover every editor
    assert (
        check(
            policy, "Edit", root, file_path="docs/readme.md", old_string="a", new_string="b"
        ).decision
        == "ask"
    )
    assert check(policy, "Read", root, file_path=".env").decision == "deny"
    assert check(policy, "Read", root, file_path=str(root / ".env")).decision == "deny"
    assert check(policy, "Read", root, file_path="config/.env.example").decision == "allow"


def test_webfetch_domains_mcp_servers_and_bare_names(workspace: dict[str, Path]) -> None:
    root = workspace["root"]
    policy = PermissionPolicy.from_rules(
        "default",
        allow=["WebFetch(domain:example.com)", "mcp__github", "WordCount"],
        deny=["mcp__danger__drop_tables"],
        project=root,
    )

    def web(url: str) -> str:
        return policy.check(builtin_call("WebFetch", root, url=url)).decision

    assert web("https://example.com/a") == "allow"
    assert web("https://docs.example.com/a") == "allow"
    assert web("https://example.com.evil.io/a") == "ask"
    assert (
        policy.check(ToolCall(tool_use_id="t", name="mcp__github__create_issue", input={})).decision
        == "allow"
    )
    assert (
        policy.check(
            ToolCall(tool_use_id="t", name="mcp__githubx__create_issue", input={})
        ).decision
        == "ask"
    )
    assert policy.check(ToolCall(tool_use_id="t", name="WordCount", input={})).decision == "allow"
    assert not policy.visible("mcp__danger__drop_tables")
    assert policy.visible("mcp__danger__select")


def test_precedence_deny_over_ask_over_allow(workspace: dict[str, Path]) -> None:
    root = workspace["root"]
    policy = PermissionPolicy.from_rules(
        "default",
        allow=["Bash(git:*)"],
        ask=["Bash(git push:*)"],
        deny=["Bash(git push --force:*)"],
        project=root,
    )

    def bash(command: str) -> str:
        return policy.check(
            ToolCall(tool_use_id="t", name="Bash", input={"command": command})
        ).decision

    assert bash("git log") == "allow"
    assert bash("git push origin main") == "ask"
    assert bash("git push --force origin main") == "deny"


def test_malformed_rules_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a permission rule"):
        parse_rule("Bash(unclosed")
    assert parse_rule("Bash(npm run test:*)").spec == "npm run test:*"
