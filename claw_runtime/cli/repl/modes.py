"""Permission modes at the terminal: what Shift+Tab cycles through, and how each is shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not at run time: the prompt is drawn before the permissions load
    from claw_runtime.permissions import PermissionMode

__all__ = ["MODE_LABELS", "PROMPT_ARROW", "next_mode"]

PROMPT_ARROW = "\u276f "
"""What the prompt and an echoed prompt start with (a heavy right angle: ❯)."""  # noqa: RUF001

MODE_LABELS: Mapping[PermissionMode, str] = {
    "default": "",
    "acceptEdits": "accept edits",
    "plan": "plan",
    "bypassPermissions": "bypass permissions",
}
"""How each permission mode is shown before the prompt (the default: not at all)."""

_CYCLE: tuple[PermissionMode, ...] = ("default", "acceptEdits", "plan")


def next_mode(mode: PermissionMode, *, with_bypass: bool) -> PermissionMode:
    """The mode Shift+Tab moves to from ``mode``.

    default -> acceptEdits -> plan -> default. With ``with_bypass`` (the session
    started in bypassPermissions, so the person chose it) bypassPermissions
    comes after plan; otherwise it is never offered.
    """
    cycle: tuple[PermissionMode, ...] = (*_CYCLE, "bypassPermissions") if with_bypass else _CYCLE
    if mode not in cycle:
        return cycle[0]
    return cycle[(cycle.index(mode) + 1) % len(cycle)]
