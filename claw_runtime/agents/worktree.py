"""``isolation: worktree``: a sub-agent works in a git worktree on a branch of its own.

Parallel sub-agents that edit code cannot trample each other or the main
tree: each gets a worktree checked out at the current ``HEAD`` on a new branch
``claw/agent-<agent id>``, and works there (its cwd and its workspace edge).
When it ends, its changes are committed on that branch and the worktree is
kept; a worktree with no change is removed with its branch.

Worktrees live in the temporary directory
(``$TMPDIR/claw-worktrees-<uid>/<agent id>``), not in the repository: every
path under a ``.claw`` folder is protected (edits there need the user's yes,
see ``docs/security.md``), and the main tree's ``git status`` stays clean.

The repository may be hostile: every git command runs with
``core.hooksPath=/dev/null``, so no hook of the repository runs (``git worktree
add`` would run ``post-checkout``, ``git commit`` ``pre-commit``...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import trio

from claw_runtime.errors import ToolError

__all__ = ["Worktree", "create_worktree", "finish_worktree"]

_FALLBACK_IDENTITY = ("-c", "user.name=claw sub-agent", "-c", "user.email=claw@localhost")


@attrs.frozen(kw_only=True)
class Worktree:
    """One sub-agent's checkout."""

    repo: Path
    path: Path
    branch: str
    base: str
    """The commit it started from."""
    cwd: Path
    """Where the sub-agent starts: the parent's cwd, at the same place in the worktree."""


async def _git(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], *, extra: Sequence[str] = ()
) -> tuple[int, str, str]:
    """``git args`` with the repository's hooks off; (exit code, stdout, stderr)."""
    result = await trio.run_process(
        ["git", "-c", "core.hooksPath=/dev/null", *extra, *args],
        cwd=cwd,
        env=dict(env),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    out = result.stdout.decode("utf-8", "replace").strip()
    err = result.stderr.decode("utf-8", "replace").strip()
    return result.returncode, out, err


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "no output"


async def create_worktree(cwd: Path, agent_id: str, env: Mapping[str, str]) -> Worktree:
    """A new worktree and branch for ``agent_id`` in the repository holding ``cwd``.

    Raises:
        ToolError: ``cwd`` is not in a git repository with a commit, or git failed.
    """
    try:
        code, top, err = await _git(["rev-parse", "--show-toplevel"], cwd, env)
    except OSError as exc:
        raise ToolError(f"isolation: worktree needs git, which cannot be run: {exc}") from None
    if code != 0:
        raise ToolError(
            f"isolation: worktree needs a git repository, and {cwd} is not in one "
            f"({_first_line(err)})"
        )
    repo = Path(top)
    code, base, err = await _git(["rev-parse", "--verify", "HEAD"], repo, env)
    if code != 0:
        raise ToolError(f"isolation: worktree needs a commit to start from ({_first_line(err)})")
    root = await trio.to_thread.run_sync(_worktrees_root)
    path = root / agent_id
    branch = f"claw/agent-{agent_id}"
    code, _, err = await _git(["worktree", "add", "-b", branch, str(path), base], repo, env)
    if code != 0:
        raise ToolError(f"cannot create a git worktree for the sub-agent: {_first_line(err)}")
    start = await trio.to_thread.run_sync(_same_place, cwd, repo, path)
    return Worktree(repo=repo, path=path, branch=branch, base=base, cwd=start)


def _worktrees_root() -> Path:
    import os
    import tempfile

    root = Path(tempfile.gettempdir()) / f"claw-worktrees-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _same_place(cwd: Path, repo: Path, worktree: Path) -> Path:
    """``cwd``'s place in the worktree (a sub-folder of the repository: the same one)."""
    try:
        start = worktree / cwd.resolve().relative_to(repo.resolve())
    except ValueError:
        return worktree
    return start if start.is_dir() else worktree


async def finish_worktree(worktree: Worktree, description: str, env: Mapping[str, str]) -> bool:
    """Commit what the sub-agent changed on its branch; remove the worktree if nothing.

    Returns:
        True when the branch holds changes (the worktree is kept), else False.
    """
    path, repo = worktree.path, worktree.repo
    code, status, _ = await _git(["status", "--porcelain"], path, env)
    if code == 0 and status:
        await _git(["add", "-A"], path, env)
        code, email, _ = await _git(["config", "user.email"], path, env)
        identity = () if code == 0 and email else _FALLBACK_IDENTITY
        message = f"claw sub-agent: {description}".strip()
        await _git(["commit", "--no-verify", "-q", "-m", message], path, env, extra=identity)
    code, ahead, _ = await _git(
        ["rev-list", "--count", f"{worktree.base}..{worktree.branch}"], repo, env
    )
    if code == 0 and ahead.isdigit() and int(ahead) > 0:
        return True
    code, status, _ = await _git(["status", "--porcelain"], path, env)
    if code == 0 and status:
        return True  # something could not be committed: keep it rather than lose it
    await _git(["worktree", "remove", "--force", str(path)], repo, env)
    await _git(["branch", "-D", worktree.branch], repo, env)
    return False
