"""Bash under bubblewrap: a read-only system, a writable workspace, nothing else.

With ``sandbox.enabled`` in settings every Bash command runs as::

    bwrap --ro-bind / / --dev /dev --proc /proc
          --tmpfs /tmp --tmpfs /run --tmpfs /var/tmp [--tmpfs $XDG_RUNTIME_DIR]
          [--ro-bind /dev/null <each host socket named in the environment>]
          --bind <each workspace root>
          --ro-bind <each protected path of each root> (a placeholder if missing)
          --unshare-user --disable-userns --cap-drop ALL --unshare-pid
          --unshare-ipc --unshare-uts --unshare-cgroup-try [--unshare-net]
          --new-session --die-with-parent --chdir <cwd> -- bash -c <command>

and so:

* it can read the system but write only the workspace and a private /tmp;
* it cannot change what configures the *next* session: ``.claw/``,
  ``.claude/``, ``.mcp.json``, git's hooks, config and info (and the hooks
  directory ``core.hooksPath`` names), ``.husky/``, ``.vscode/``, ``.idea/``,
  ``.envrc`` and shell start-up files are read-only. One that does not exist
  yet gets an empty read-only placeholder (bwrap has to create its mount point
  in the workspace; claw removes it again when no sandboxed command of this
  process still uses it), so it cannot be created either. A protected path
  that is a symlink is refused: a bind mount lands on the link's target, and
  the link itself could be swapped;
* root inside is not root outside: a user namespace with every capability
  dropped, no nested user namespaces, so no remount, no ptrace of host
  processes, no writing /etc; ``--new-session`` stops TIOCSTI keystroke
  injection into claw's terminal;
* it sees only its own processes (PID namespace), and when bwrap dies the
  kernel kills all of them;
* it reaches no network unless ``sandbox.network`` allows it, and no host unix
  socket: /run (docker, dbus, systemd), /var/tmp, /tmp and $XDG_RUNTIME_DIR are
  empty, the ssh-agent and docker sockets named in the environment are covered;
* its environment holds no credentials (see ``_environment``).

A missing ``bwrap`` is an error naming the package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

from claw_runtime.errors import ToolError
from claw_runtime.tools._environment import scrub_credentials

__all__ = [
    "PROTECTED_DIRS",
    "PROTECTED_FILES",
    "SANDBOX_KEY",
    "SandboxConfig",
    "SandboxPlan",
    "protected_paths",
    "sandbox_argv",
    "sandbox_environment",
]

SANDBOX_KEY = "tools.bash.sandbox"
"""Where the session keeps its :class:`SandboxConfig` (in ``SessionState.extras``)."""

PROTECTED_DIRS: tuple[str, ...] = (
    ".claw",
    ".claude",
    ".git/hooks",
    ".git/info",
    ".husky",
    ".vscode",
    ".idea",
)
"""Directories under each workspace root that a sandboxed command cannot change."""

PROTECTED_FILES: tuple[str, ...] = (
    ".mcp.json",
    ".git/config",
    ".envrc",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".inputrc",
)
"""Files under each workspace root that a sandboxed command cannot change or create."""

SOCKET_VARIABLES: tuple[str, ...] = ("SSH_AUTH_SOCK", "DOCKER_HOST", "DBUS_SESSION_BUS_ADDRESS")
"""Environment variables that name a host unix socket to cover."""

HIDDEN_DIRS: tuple[str, ...] = ("/tmp", "/run", "/var/run", "/var/tmp", "/dev/shm")
"""Replaced by empty private tmpfs: where host sockets live."""


@attrs.frozen(kw_only=True)
class SandboxConfig:
    enabled: bool = False
    network: bool = False


def sandbox_environment(env: Mapping[str, str]) -> dict[str, str]:
    """What a sandboxed command's environment keeps: everything but likely credentials."""
    return scrub_credentials(env)


def _hooks_path(root: Path) -> Path | None:
    config = root / ".git" / "config"
    git = shutil.which("git")
    if git is None or not config.is_file() or config.is_symlink():
        return None
    try:
        out = subprocess.run(
            [git, "config", "--file", str(config), "--get", "core.hooksPath"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = out.stdout.strip()
    if out.returncode != 0 or not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _submodule_git_dirs(git_dir: Path) -> Iterator[Path]:
    """Git directories of submodules (``.git/modules/**``), whose config git also obeys."""
    modules = git_dir / "modules"
    if not modules.is_dir() or modules.is_symlink():
        return
    stack = [modules]
    while stack:
        current = stack.pop()
        try:
            entries = [e for e in os.scandir(current) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            if (path / "HEAD").exists():
                yield path
                stack.append(path / "modules")
            else:
                stack.append(path)


def protected_paths(roots: Sequence[Path]) -> list[tuple[Path, bool]]:
    """``(path, is_dir)`` for every path a sandboxed command must not change, per root."""
    paths: list[tuple[Path, bool]] = []
    for root in roots:
        git = root / ".git"
        if not git.exists() and not git.is_symlink():
            paths.append((git, True))  # no repository yet: none may be planted
        elif git.is_file():
            paths.append((git, False))  # a worktree's pointer to its git dir
        for name in PROTECTED_DIRS:
            if not name.startswith(".git/") or git.is_dir():
                paths.append((root / name, True))
        for name in PROTECTED_FILES:
            if not name.startswith(".git/") or git.is_dir():
                paths.append((root / name, False))
        if git.is_dir() and not git.is_symlink():
            if (git / "config.worktree").exists():
                paths.append((git / "config.worktree", False))
            for sub in _submodule_git_dirs(git):
                paths += [(sub / "config", False), (sub / "hooks", True), (sub / "info", True)]
        hooks = _hooks_path(root)
        if hooks is not None and any(_within(hooks, r) for r in roots):
            paths.append((hooks, True))
    return paths


def _within(path: Path, root: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(root))
    except ValueError:
        return False
    return True


_EMPTY: dict[bool, Path] = {}
_PLACEHOLDERS: dict[Path, int] = {}
"""Placeholder mount points this process created, and how many sandboxes use each."""


def _empty_source(is_dir: bool) -> Path:
    """An empty read-only directory or file to bind over a missing protected path."""
    if is_dir not in _EMPTY:
        base = Path(tempfile.mkdtemp(prefix="claw-sandbox-empty-"))
        (base / "dir").mkdir(mode=0o555)
        (base / "file").touch(mode=0o444)
        _EMPTY[True], _EMPTY[False] = base / "dir", base / "file"
    return _EMPTY[is_dir]


def _socket_paths(env: Mapping[str, str]) -> list[Path]:
    found = []
    for name in SOCKET_VARIABLES:
        value = env.get(name, "")
        for part in value.replace(",", ";").split(";"):
            part = part.removeprefix("unix://").removeprefix("unix:path=")
            path = Path(part.split(",")[0]) if part.startswith("/") else None
            if path is not None and path.exists():
                found.append(path)
    return found


@attrs.define(eq=False)
class SandboxPlan:
    """The bwrap prefix for one command, and the placeholders it needs while it runs."""

    prefix: list[str]
    suffix: list[str]
    placeholders: list[Path]

    def argv(self, extra_binds: Sequence[Path] = ()) -> list[str]:
        binds = [arg for path in extra_binds for arg in ("--bind", str(path), str(path))]
        return [*self.prefix, *binds, *self.suffix]

    @contextmanager
    def held(self) -> Iterator[SandboxPlan]:
        """Keep the placeholders while the command runs; remove them after the last user."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def acquire(self) -> None:
        for path in self.placeholders:
            _PLACEHOLDERS[path] = _PLACEHOLDERS.get(path, 0) + 1

    def release(self) -> None:
        """Remove the placeholder mount points no running sandbox uses (if still empty)."""
        for path in sorted(self.placeholders, key=lambda p: len(p.parts), reverse=True):
            count = _PLACEHOLDERS.get(path, 0) - 1
            if count > 0:
                _PLACEHOLDERS[path] = count
                continue
            _PLACEHOLDERS.pop(path, None)
            try:
                if path.is_symlink():
                    continue
                if path.is_dir():
                    path.rmdir()  # fails, as it should, if something is in it
                elif path.is_file() and path.stat().st_size == 0:
                    path.unlink()
            except OSError:
                pass

    @classmethod
    def build(
        cls,
        config: SandboxConfig,
        cwd: Path,
        writable: Sequence[Path],
        env: Mapping[str, str],
    ) -> SandboxPlan | None:
        """The plan for a command, or ``None`` when the sandbox is off.

        ``env`` is the environment the command will run with (the session's): the
        runtime directory and agent sockets it names are hidden.

        Raises:
            ToolError: bubblewrap is not installed, or a protected path is a symlink.
        """
        if not config.enabled:
            return None
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise ToolError(
                "sandbox.enabled is set but bubblewrap (bwrap) is not installed. Install the "
                "'bubblewrap' package (apt-get install bubblewrap, dnf install bubblewrap) "
                "or set sandbox.enabled to false."
            )
        argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for hidden in HIDDEN_DIRS:
            if hidden == "/dev/shm":
                continue  # --dev /dev already made a fresh one
            if os.path.isdir(hidden) and not os.path.islink(hidden):
                argv += ["--tmpfs", hidden]
        runtime_dir = env.get("XDG_RUNTIME_DIR", "")
        if runtime_dir.startswith("/") and os.path.isdir(runtime_dir):
            argv += ["--tmpfs", runtime_dir]
        for socket_path in _socket_paths(env):
            if not any(_within(socket_path, Path(h)) for h in HIDDEN_DIRS):
                argv += ["--ro-bind", "/dev/null", str(socket_path)]
        for path in writable:
            argv += ["--bind", str(path), str(path)]
        placeholders: list[Path] = []
        for path, is_dir in protected_paths(writable):
            if path.is_symlink():
                raise ToolError(
                    f"The sandbox cannot protect {path}: it is a symlink (replace it with "
                    "the file or directory it points to, or turn sandbox.enabled off)."
                )
            if path.exists():
                argv += ["--ro-bind", str(path), str(path)]
            else:
                while not path.parent.exists():  # cover the topmost missing directory
                    path, is_dir = path.parent, True
                if any(path.is_relative_to(p) for p in placeholders):
                    continue  # under a placeholder already
                placeholders.append(path)
                argv += ["--ro-bind", str(_empty_source(is_dir)), str(path)]
        suffix = [
            "--unshare-user",
            "--uid",
            str(os.getuid()),
            "--gid",
            str(os.getgid()),
            "--disable-userns",
            "--cap-drop",
            "ALL",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--new-session",
            "--die-with-parent",
        ]
        if not config.network:
            suffix.append("--unshare-net")
        suffix += ["--chdir", str(cwd), "--"]
        return cls(prefix=argv, suffix=suffix, placeholders=placeholders)


def sandbox_argv(
    config: SandboxConfig,
    cwd: Path,
    writable: Sequence[Path],
    extra_binds: Sequence[Path] = (),
    *,
    env: Mapping[str, str],
) -> list[str]:
    """The bwrap prefix for a command, or ``[]`` when the sandbox is off.

    Placeholders for missing protected paths are left for the caller; prefer
    :meth:`SandboxPlan.build` and :meth:`SandboxPlan.held`, which clean them up.

    Raises:
        ToolError: the sandbox is on but bubblewrap is not installed.
    """
    plan = SandboxPlan.build(config, cwd, writable, env)
    return [] if plan is None else plan.argv(extra_binds)
