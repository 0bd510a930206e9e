"""Permissions: modes, Claude Code's rule syntax, shell parsing, workspace edges."""

from claw_runtime.permissions.policy import (
    EDIT_TOOLS,
    PROTECTED_NAMES,
    PermissionMode,
    PermissionPolicy,
    Verdict,
)
from claw_runtime.permissions.rules import Rule, parse_rule
from claw_runtime.permissions.shell import ParsedCommand, SimpleCommand, parse_command

__all__ = [
    "EDIT_TOOLS",
    "PROTECTED_NAMES",
    "ParsedCommand",
    "PermissionMode",
    "PermissionPolicy",
    "Rule",
    "SimpleCommand",
    "Verdict",
    "parse_command",
    "parse_rule",
]
