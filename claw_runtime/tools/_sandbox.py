"""Bash under bubblewrap: a read-only system, a writable workspace, no network.

With ``sandbox.enabled`` in settings every Bash command runs as::

    bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp
          --bind <each workspace root> --unshare-pid [--unshare-net]
          --die-with-parent --chdir <cwd> -- bash -c <command>

so it can read the system, write only the workspace and a private /tmp, see
only its own processes, reach no network unless ``sandbox.network`` allows it,
and dies with claw. A missing ``bwrap`` is an error naming the package.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import attrs

from claw_runtime.errors import ToolError

__all__ = ["SANDBOX_KEY", "SandboxConfig", "sandbox_argv"]

SANDBOX_KEY = "tools.bash.sandbox"
"""Where the session keeps its :class:`SandboxConfig` (in ``SessionState.extras``)."""


@attrs.frozen(kw_only=True)
class SandboxConfig:
    enabled: bool = False
    network: bool = False


def sandbox_argv(
    config: SandboxConfig, cwd: Path, writable: Sequence[Path], extra_binds: Sequence[Path] = ()
) -> list[str]:
    """The bwrap prefix for a command, or ``[]`` when the sandbox is off.

    Raises:
        ToolError: the sandbox is on but bubblewrap is not installed.
    """
    if not config.enabled:
        return []
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise ToolError(
            "sandbox.enabled is set but bubblewrap (bwrap) is not installed. Install the "
            "'bubblewrap' package (apt-get install bubblewrap, dnf install bubblewrap) "
            "or set sandbox.enabled to false."
        )
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in [*writable, *extra_binds]:
        argv += ["--bind", str(path), str(path)]
    argv += ["--unshare-pid", "--die-with-parent"]
    if not config.network:
        argv.append("--unshare-net")
    argv += ["--chdir", str(cwd), "--"]
    return argv
