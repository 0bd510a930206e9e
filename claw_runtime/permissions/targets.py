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

__all__ = ["resolve_path", "with_targets"]


def resolve_path(raw: str, cwd: Path) -> Path:
    """``raw`` as the absolute real path a tool running in ``cwd`` will open."""
    given = Path(raw).expanduser()
    return Path(os.path.realpath(given if given.is_absolute() else cwd / given))


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
