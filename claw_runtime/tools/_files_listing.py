"""Which files the search tools see: one ripgrep, one set of flags, one deny filter.

Grep, Glob and LS all learn which files exist from ripgrep, run with the same
flags (:data:`RG_FLAGS`): no config file, hidden files seen, ``.git`` never
entered, and ripgrep's ignore rules (``.rgignore``, ``.ignore``, ``.gitignore``
in every directory and above the search root, ``.git/info/exclude``, the
user's global git excludes) applied whether or not the tree is a git
repository. Symbolic links inside a tree are not followed; a search root that
is a symbolic link is.

ripgrep ships as the ``ripgrep`` wheel, a dependency of claw-runtime, which
puts ``rg`` in the environment's scripts directory; :func:`find_rg` looks there
before PATH, so a virtualenv that is not activated still works.

A read deny rule hides files from every search: :class:`DenyFilter` answers,
for each path ripgrep printed, whether ``ToolContext.read_denied`` covers its
real path (symbolic links and ``..`` resolved) or the path as spelled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import trio

from claw_runtime.errors import ToolError

__all__ = [
    "RG_FLAGS",
    "RG_MISSING",
    "DenyFilter",
    "find_rg",
    "list_files",
    "refuse_denied_root",
    "require_rg",
    "rg_failure",
]

RG_FLAGS = (
    "--no-config",
    "--hidden",
    "--no-require-git",
    "--no-messages",
    "--glob=!.git",
)
"""What every search passes to ripgrep; user globs come after, so none can bring .git back
(ripgrep's last matching glob wins, and these are re-appended after them)."""

RG_MISSING = (
    "ripgrep (rg) is not installed, and the search tools need it. Install it into "
    "this Python environment with `pip install ripgrep`, or install the system "
    "package (e.g. `apt-get install ripgrep`, `brew install ripgrep`)."
)


def _script_dirs() -> list[str]:
    """Where a wheel's executables land: beside the interpreter, then the scripts dirs."""
    dirs = [os.path.dirname(sys.executable)]
    try:
        dirs.append(sysconfig.get_path("scripts"))
        dirs.append(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user")))
    except (KeyError, ValueError):  # an unusual install without these schemes
        pass
    seen: list[str] = []
    for directory in dirs:
        if directory and directory not in seen:
            seen.append(directory)
    return seen


def find_rg() -> str | None:
    """The ``rg`` executable: the ``ripgrep`` wheel's (next to Python), else PATH's."""
    for directory in _script_dirs():
        found = shutil.which("rg", path=directory)
        if found is not None:
            return found
    return shutil.which("rg")


def require_rg() -> str:
    """:func:`find_rg`, or a ToolError telling the user how to install ripgrep."""
    rg = find_rg()
    if rg is None:
        raise ToolError(RG_MISSING)
    return rg


def rg_failure(returncode: int | None, stderr: bytes) -> ToolError | None:
    """The error to report when ripgrep refused the search (exit 2 with a message)."""
    if returncode == 2 and stderr.strip():
        message = stderr.decode("utf-8", "replace").strip()
        return ToolError(f"ripgrep refused the search:\n{message}")
    return None


@attrs.define
class DenyFilter:
    """Whether a read deny rule hides a path that a search found.

    Paths come from ripgrep, which does not follow symbolic links below the
    search root, so a file's real path is its directory's real path (cached)
    plus its name; a root that is a file (perhaps a link) goes through
    :meth:`hides_root`. Both the real path and the path as spelled are checked.
    """

    read_denied: Callable[[Path], bool]
    _real_dirs: dict[str, str] = attrs.field(factory=dict, init=False)

    def _denied(self, real: str, spelled: str) -> bool:
        if self.read_denied(Path(real)):
            return True
        return spelled != real and self.read_denied(Path(spelled))

    def hides_root(self, root: str) -> bool:
        """Whether the search root itself (a file or a directory) is denied."""
        spelled = os.path.normpath(root)
        return self._denied(os.path.realpath(spelled), spelled)

    def hides(self, path: str) -> bool:
        """Whether the file at ``path`` (absolute, as ripgrep printed it) is denied.

        ripgrep joins the normalised root and entry names with the separator,
        so ``path`` has no ``.`` or ``..`` in it; only its directory may be (or
        be under) a symbolic link.
        """
        directory, _, name = path.rpartition(os.sep)
        real_dir = self._real_dirs.get(directory)
        if real_dir is None:
            real_dir = self._real_dirs[directory] = os.path.realpath(directory or os.sep)
        if real_dir == directory:
            return self.read_denied(Path(path))
        return self._denied(os.path.join(real_dir, name), path)


def refuse_denied_root(deny: DenyFilter, root: str) -> None:
    """A ToolError when a read deny rule covers the search root itself.

    The message does not repeat the path: for a symbolic link, the rule that
    matched may name the target, which the model was not told about.
    """
    if deny.hides_root(root):
        raise ToolError(
            "The path to search is denied by a read permission rule; "
            "it cannot be searched or listed."
        )


async def list_files(
    rg: str, root: str, *, globs: Sequence[str] = (), file_type: str | None = None
) -> list[str]:
    """Every file under ``root`` that a search sees, as absolute paths (unsorted).

    ``root`` must be absolute and normalised; the paths returned start with it.
    Read deny rules are not applied here: see :class:`DenyFilter`.
    """
    args = [rg, "--files", "--null", *RG_FLAGS]
    args += [f"--glob={glob}" for glob in globs]
    if globs:
        args.append("--glob=!.git")  # again, after the user's globs
    if file_type:
        args.append(f"--type={file_type}")
    args += ["--", root]
    result = await trio.run_process(
        args,
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    error = rg_failure(result.returncode, result.stderr)
    if error is not None:
        raise error
    text = result.stdout.decode(sys.getfilesystemencoding(), "surrogateescape")
    return [p for p in text.split("\0") if p]
