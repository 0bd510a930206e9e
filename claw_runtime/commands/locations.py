"""Where a session's custom commands and skills live, and whether the project is trusted.

User folders come from the session's environment (``SessionState.env``:
``CLAUDE_CONFIG_DIR``, ``CLAW_CONFIG_DIR``, ``HOME``), never from this process's
``os.environ``, as the memory files do. The project folder is the directory the
session was opened in (its first workspace root), where claw reads the project's
settings too; it does not move when Bash runs ``cd``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from claw_runtime.tooling import SessionState

__all__ = ["Scope", "config_dirs", "project_dir", "project_trusted"]

Scope = Literal["project", "user"]


def project_dir(state: SessionState) -> Path:
    """The session's project: where it was opened (Bash's ``cd`` does not move it)."""
    return state.workspace_roots[0] if state.workspace_roots else state.cwd


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def config_dirs(state: SessionState) -> list[tuple[Scope, Path]]:
    """Claude Code's and claw's config folders, user ones first, then the project's.

    Later folders win over earlier ones for the same name where the caller says
    so (commands: project over user).
    """
    env = state.env
    home = _home(env)
    project = project_dir(state)
    return [
        ("user", Path(env.get("CLAUDE_CONFIG_DIR") or home / ".claude")),
        ("user", Path(env.get("CLAW_CONFIG_DIR") or home / ".claw")),
        ("project", project / ".claude"),
        ("project", project / ".claw"),
    ]


def project_trusted(state: SessionState, trusted_directories: Sequence[str] = ()) -> bool:
    """Whether the user trusts the session's project.

    As :func:`claw_runtime.config.settings.load_settings` decides: the
    remembered list, or ``trustedDirectories`` in user settings.

    An untrusted project's commands may not widen what claw may do: their
    ``allowed-tools`` are ignored, so their shell lines need the user's yes.
    """
    from claw_runtime.config.trust import TrustStore, trust_file

    store = TrustStore(trust_file(_home(state.env), state.env))
    return store.is_trusted(project_dir(state), [Path(p) for p in trusted_directories])
