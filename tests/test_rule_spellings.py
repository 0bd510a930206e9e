"""Every Bash rule spelling Claude Code documents; a matching deny rule always stops a command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.permissions import PermissionPolicy, parse_rule

MODES = ("default", "acceptEdits", "plan", "bypassPermissions")


@pytest.mark.parametrize(
    ("rule", "command", "matches"),
    [
        ("git status", "git status", True),
        ("git status", "git status --short", False),
        ("npm run test:*", "npm run test", True),
        ("npm run test:*", "npm run test -- -k x", True),
        ("npm run test:*", "npm run testx", False),
        ("git push --force *", "git push --force origin main", True),
        ("git push --force *", "git push origin main", False),
        ("docker *", "docker ps", True),
        ("docker *", "docker", True),  # a bare `docker` is covered, as `docker:*` covers it
        ("ls *", "ls -la", True),
        ("ls *", "lsof", False),
        ("xcodebuild*", "xcodebuild -scheme x", True),
        ("xcodebuild*", "xcodebuildx", True),
        ("xcodebuild*", "xcode", False),
        ("git * main", "git push origin main", True),
        ("git * main", "git checkout main", True),
        ("git * main", "git push origin mainline", False),
        ("git * main", "git main", False),
        ("*", "anything at all", True),
        ("git commit -m 'a b'", "git commit -m 'a b'", True),
    ],
)
def test_each_spelling(rule: str, command: str, matches: bool) -> None:
    assert parse_rule(f"Bash({rule})").matches_command(tuple(shlex.split(command))) is matches


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=6).filter(
    lambda w: not w.startswith("-")
)
_ARG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._/=", min_size=1, max_size=8)
_PROGRAMS = st.sampled_from(["rm", "curl", "docker", "git", "npm", "kubectl", "mytool"])


def _rule_for(words: list[str], spelling: str, cut: int) -> str:
    """A rule in ``spelling`` that covers ``words``."""
    head = " ".join(words[:cut])
    if spelling == "exact":
        return " ".join(words)
    if spelling == "legacy":
        return f"{head}:*"
    if spelling == "space-star":
        return f"{head} *"
    if spelling == "glob-prefix":
        return f"{' '.join(words)[: max(1, len(head) - 1)]}*"
    # a * in the middle: the first word, anything, the last word
    return f"{words[0]} * {words[-1]}" if len(words) >= 3 else f"{words[0]}*"


_WRAPS = [
    "{}",
    "timeout 5 {}",
    "timeout -s KILL 5 {}",
    "env A=1 {}",
    "env -u HOME {}",
    "nice -n 5 {}",
    "sudo -u root {}",
    "bash -c {q}",
    "sh -lc {q}",
    "ls && {}",
    "ls; {}",
    "echo hi | {}",
    "true || {}",
    "xargs {}",
    "nohup {}",
    "command {}",
]


@settings(max_examples=300, deadline=None)
@given(
    program=_PROGRAMS,
    args=st.lists(_ARG, min_size=0, max_size=4),
    sub=_WORD,
    spelling=st.sampled_from(["exact", "legacy", "space-star", "glob-prefix", "middle"]),
    cut=st.integers(min_value=1, max_value=3),
    wrap=st.sampled_from(_WRAPS),
)
def test_a_matching_deny_rule_always_denies(
    program: str, args: list[str], sub: str, spelling: str, cut: int, wrap: str
) -> None:
    words = [program, sub, *args]
    rule = f"Bash({_rule_for(words, spelling, min(cut, len(words)))})"
    assert parse_rule(rule).matches_command(tuple(words)), (rule, words)
    inner = " ".join(shlex.quote(w) for w in words)
    command = wrap.format(inner, q=shlex.quote(inner))
    project = Path("/tmp")
    call = ToolCall(tool_use_id="t", name="Bash", input={"command": command})
    for mode in MODES:
        policy = PermissionPolicy.from_rules(
            mode,  # type: ignore[arg-type]
            allow=["Bash", "Bash(ls:*)", f"Bash({program}:*)"],
            deny=[rule],
            project=project,
        )
        verdict = policy.check(call)
        assert verdict.decision == "deny", (mode, rule, command, verdict.reason)
