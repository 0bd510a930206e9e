"""The environment section of the system prompt: where the session runs, and its git state.

Like Claude Code's ``gitStatus``, the git part is a snapshot taken once per
session (the branch, the main branch, a short ``git status`` and the last
commits), so the model starts oriented without spending a tool call. It is taken
only inside a repository, with a time limit, and a failure leaves it out.

A repository can be hostile: a ``.git/config`` that came in an archive may name
programs git runs during ``status`` (``core.fsmonitor``, ``filter.<name>.clean``)
or ``log`` (``gpg.program`` with ``log.showSignature``). Those are turned off on
the command line for a project the user has not trusted; submodules are never
entered, and git never prompts or takes optional locks.
"""

from __future__ import annotations

import datetime
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import trio

from claw_runtime.text import clean_text

__all__ = ["GIT_TIMEOUT_S", "GitSnapshot", "describe_environment", "git_snapshot"]

GIT_TIMEOUT_S = 2.0
"""How long the git snapshot may take in all; past it the section goes without."""

STATUS_LINES = 40
"""``git status`` lines shown; the rest are counted."""

RECENT_COMMITS = 5

_OUTPUT_LIMIT = 64 * 1024


@attrs.frozen(kw_only=True)
class GitSnapshot:
    """What git said about the project's repository when the session started."""

    branch: str | None
    """None on a detached HEAD."""
    main_branch: str | None
    status: tuple[str, ...]
    """The first :data:`STATUS_LINES` lines of ``git status --porcelain``."""
    status_total: int
    commits: tuple[str, ...]
    """``<short hash> <subject>`` of the last commits, newest first."""


def describe_environment(cwd: Path, *, is_git: bool, git: GitSnapshot | None) -> str:
    """The ``# Environment`` section."""
    lines = [
        "# Environment",
        f"Working directory: {clean_text(str(cwd))}",
        f"Is a git repository: {'yes' if is_git else 'no'}",
        f"Platform: {platform.system().lower()}",
        f"Today's date: {datetime.date.today().isoformat()}",
    ]
    if git is not None:
        lines += ["", _describe_git(git)]
    return "\n".join(lines)


def _describe_git(git: GitSnapshot) -> str:
    lines = [
        "Git status at the start of the session (a snapshot: it does not update as you work).",
        f"Current branch: {git.branch or '(detached HEAD)'}",
    ]
    if git.main_branch:
        lines.append(f"Main branch (usually the base for pull requests): {git.main_branch}")
    lines += ["", "Status:"]
    if git.status:
        lines += git.status
        if git.status_total > len(git.status):
            more = git.status_total - len(git.status)
            lines.append(f"... and {more} more (run git status to see them all)")
    else:
        lines.append("(clean)")
    lines += ["", "Recent commits:"]
    lines += git.commits or ("(no commits yet)",)
    return clean_text("\n".join(lines))


async def git_snapshot(
    repository: Path, environ: Mapping[str, str], *, trusted: bool
) -> GitSnapshot | None:
    """Ask git about ``repository``; None if git is missing, fails or is too slow.

    The commands run concurrently, each killed at once when the time is up.
    """
    env = {
        **environ,
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
    }
    answers: dict[str, str | None] = {}

    async def ask(key: str, args: Sequence[str]) -> None:
        answers[key] = await _git(repository, env, args)

    async def status() -> None:
        hardening: list[str] = []
        if not trusted:
            filters = await _git(
                repository, env, ["config", "-z", "--name-only", "--get-regexp", r"^filter\."]
            )
            hardening = _disabled_filters(filters or "")
        answers["status"] = await _git(
            repository,
            env,
            [*hardening, "status", "--porcelain", "--ignore-submodules=all"],
            hardened=not trusted,
        )

    with trio.move_on_after(GIT_TIMEOUT_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "branch", ["branch", "--show-current"])
            nursery.start_soon(
                ask,
                "refs",
                [
                    "for-each-ref",
                    "--format=%(refname) %(symref)",
                    "refs/remotes/origin/HEAD",
                    "refs/heads/main",
                    "refs/heads/master",
                ],
            )
            nursery.start_soon(
                ask,
                "log",
                ["log", "--no-show-signature", "--format=%h %s", f"-n{RECENT_COMMITS}"],
            )
            nursery.start_soon(status)
    branch = answers.get("branch")
    porcelain = answers.get("status")
    if branch is None or porcelain is None:
        return None  # not a repository git can read, git missing, or too slow
    lines = porcelain.splitlines()
    return GitSnapshot(
        branch=branch.strip() or None,
        main_branch=_main_branch(answers.get("refs") or ""),
        status=tuple(lines[:STATUS_LINES]),
        status_total=len(lines),
        commits=tuple((answers.get("log") or "").splitlines()),
    )


def _main_branch(refs: str) -> str | None:
    """``origin/HEAD``'s branch if it is set, else ``main`` or ``master`` if it exists."""
    local = []
    for line in refs.splitlines():
        name, _, target = line.partition(" ")
        if name == "refs/remotes/origin/HEAD" and target.startswith("refs/remotes/origin/"):
            return target.removeprefix("refs/remotes/origin/")
        if name.startswith("refs/heads/"):
            local.append(name.removeprefix("refs/heads/"))
    return local[0] if local else None


def _disabled_filters(names: str) -> list[str]:
    """``-c`` options that empty every configured filter driver's commands."""
    drivers = {n.split(".")[1] for n in names.split("\0") if n.count(".") >= 2}
    options = []
    for driver in sorted(drivers):
        for key in ("clean", "smudge", "process"):
            options += ["-c", f"filter.{driver}.{key}="]
    return options


_ALWAYS = ["--no-pager", "-c", "core.quotePath=false", "-c", "color.ui=false"]
_HARDENED = [
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "log.showSignature=false",
]


async def _git(
    repository: Path, env: Mapping[str, str], args: Sequence[str], *, hardened: bool = True
) -> str | None:
    """git's standard output, or None when it failed or could not start.

    ``hardened``: with the repository's program-running settings turned off
    (``status`` of a trusted project keeps them: the user's fsmonitor, LFS).
    """
    command = ["git", *_ALWAYS, *(_HARDENED if hardened else ()), *args]
    try:
        done = await trio.run_process(
            command,
            cwd=repository,
            env=dict(env),
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            deliver_cancel=_kill,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout[:_OUTPUT_LIMIT].decode("utf-8", errors="replace")


async def _kill(process: trio.Process) -> None:
    """Out of time: no grace period for git (trio then waits for it to exit)."""
    process.kill()
