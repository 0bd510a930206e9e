"""What a call will really touch: its declared path and URL inputs, resolved once.

A permission rule must see the path the tool will open, not the string the
model wrote. ``cd sub`` then ``Read ../.env`` and ``Read ~/project/.env`` are
the same file as ``Read ./.env``; so are a symlink to it and a ``..`` detour.
Each tool declares which inputs are paths it reads or writes and which are
network addresses (``@tool(reads=..., writes=..., urls=...)``); the executor
resolves those here, the way the tool will (``ToolContext.resolve``: ``~``
expanded, relative to the session's *current* directory) and then as the OS
will (symlinks, even dangling ones, and ``..``), and the policy only ever
matches rules against the result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from claw_runtime.hooks.decisions import ToolCall

if TYPE_CHECKING:
    from claw_runtime.tooling import Tool

__all__ = ["real_path", "resolve_path", "with_targets"]


def resolve_path(raw: str, cwd: Path) -> Path:
    """``raw`` as the absolute real path a tool running in ``cwd`` will open."""
    given = os.path.expanduser(raw)
    return Path(real_path(given if os.path.isabs(given) else os.path.join(cwd, given)))


_PROC_FD = "/proc/self/fd/" if os.path.isdir("/proc/self/fd") else None
_O_PATH = getattr(os, "O_PATH", None)


def real_path(path: str) -> str:
    """``os.path.realpath(path)``, asked of the kernel when the path exists.

    The kernel resolves an existing path (every symlink, ``..`` after them) the
    way the tool's ``open`` will, in three system calls: ``open(O_PATH)``,
    which opens nothing (no FIFO waits, no device wakes) and needs only search
    permission, then the name ``/proc/self/fd`` gives it. Python's
    ``realpath`` walks the path a component at a time (an ``lstat`` each),
    about three times the cost on every call that names a path. A path that
    does not exist (a file to create, a dangling symlink), or anything the
    kernel refuses, goes to ``os.path.realpath`` as before.
    """
    if _PROC_FD is None or _O_PATH is None:
        return os.path.realpath(path)
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except (OSError, ValueError):
        return os.path.realpath(path)
    try:
        resolved = os.readlink(f"{_PROC_FD}{fd}")
    except OSError:
        return os.path.realpath(path)
    finally:
        os.close(fd)
    if not resolved.startswith("/") or resolved.endswith(" (deleted)"):
        return os.path.realpath(path)  # not a path name (a race with a delete)
    return resolved


def _paths(names: tuple[str, ...], tool_input: Mapping[str, Any], cwd: Path) -> tuple[Path, ...]:
    found = []
    for name in names:
        raw = tool_input.get(name)
        if isinstance(raw, str) and raw and "\0" not in raw:
            found.append(resolve_path(raw, cwd))
        elif raw is None and name == "path":
            found.append(resolve_path(".", cwd))  # search tools default to the cwd
    return tuple(found)


def with_targets(call: ToolCall, tool: Tool, cwd: Path) -> ToolCall:
    """``call`` with ``reads``, ``writes`` and ``urls`` filled from ``tool``'s declarations."""
    return attrs.evolve(
        call,
        reads=_paths(tool.reads, call.input, cwd),
        writes=_paths(tool.writes, call.input, cwd),
        urls=tuple(str(call.input[n]) for n in tool.urls if isinstance(call.input.get(n), str)),
    )
