"""Which tool calls may run without asking: permission modes and tool-name rules.

This is the first layer: modes and bare tool names. The modes mean what they
mean in Claude Code:

* ``default``: read-only tools run; anything else needs an allow rule (headless:
  no rule means denied, and the model is told so).
* ``acceptEdits``: file edits run too.
* ``plan``: read-only tools only, even when a rule allows more.
* ``bypassPermissions``: everything runs.

``deny`` rules beat everything; ``allow`` rules (``--allowed-tools``) let a
named tool run in ``default`` and ``acceptEdits`` modes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypeAlias

import attrs

from claw_runtime.decisions import ToolCall

__all__ = ["EDIT_TOOLS", "PermissionMode", "PermissionPolicy", "Verdict"]

PermissionMode: TypeAlias = Literal["default", "acceptEdits", "plan", "bypassPermissions"]

EDIT_TOOLS = frozenset({"Edit", "MultiEdit", "Write", "NotebookEdit"})
"""Tools that ``acceptEdits`` lets through."""


@attrs.frozen(kw_only=True)
class Verdict:
    allowed: bool
    reason: str = ""


@attrs.frozen(kw_only=True)
class PermissionPolicy:
    """A mode plus allow/deny tool names; ``check`` says whether a call may run."""

    mode: PermissionMode = "default"
    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()

    @classmethod
    def from_rules(
        cls, mode: PermissionMode, allow: Iterable[str] = (), deny: Iterable[str] = ()
    ) -> PermissionPolicy:
        return cls(mode=mode, allow=frozenset(allow), deny=frozenset(deny))

    def visible(self, tool_name: str) -> bool:
        """Denied tools are not even offered to the model."""
        return tool_name not in self.deny

    def check(self, call: ToolCall) -> Verdict:
        if call.name in self.deny:
            return Verdict(allowed=False, reason=f"{call.name} is denied by a permission rule.")
        if self.mode == "bypassPermissions" or call.read_only:
            return Verdict(allowed=True)
        if self.mode == "plan":
            return Verdict(
                allowed=False,
                reason=f"{call.name} changes things and plan mode only allows read-only tools.",
            )
        if call.name in self.allow or (self.mode == "acceptEdits" and call.name in EDIT_TOOLS):
            return Verdict(allowed=True)
        return Verdict(
            allowed=False,
            reason=(
                f"Permission to use {call.name} was not granted. "
                f"The user can allow it with --allowed-tools {call.name} "
                "or a permissions.allow rule in settings."
            ),
        )
