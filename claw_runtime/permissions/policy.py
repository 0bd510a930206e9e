"""Which tool calls may run: modes, rules, and the workspace's edges.

The order of questions, first answer wins:

1. A ``deny`` rule covers the call (for Bash: any command in it, wrappers
   looked into) -> **deny**, in every mode.
2. A file-changing tool aims outside the workspace roots (after resolving
   symlinks, ``..`` and dangling links) -> **deny**; at a protected path
   (``.git/``, ``.claw/``, ``.claude/``, ``.mcp.json``, shell start-up files)
   or a file with other hard links -> **ask**, even in ``acceptEdits`` and
   ``bypassPermissions``.
3. An ``ask`` rule covers it -> **ask** (except in ``bypassPermissions``).
4. ``bypassPermissions`` -> **allow**.
5. ``plan``: tools that change things -> **deny**.
6. Read-only tools that contact no network -> **allow**; in ``acceptEdits``,
   file edits -> **allow**. (WebFetch is read-only but sends requests: it
   needs a rule such as ``WebFetch(domain:docs.python.org)``.)
7. An ``allow`` rule covers it -> **allow**. For Bash every simple command
   must be covered by a rule and none may be one that fails closed (see
   :mod:`claw_runtime.permissions.shell`).
8. Otherwise -> **ask**. Headless runs have nobody to ask: ask means denied,
   and the model is told what the user can allow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

import attrs

from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.permissions.rules import (
    EDIT_RULE_TOOLS,
    Rule,
    bash_parsed,
    parse_rule,
    rules_match,
)
from claw_runtime.permissions.shell import ParsedCommand
from claw_runtime.permissions.targets import resolve_path

if TYPE_CHECKING:
    from claw_runtime.config.settings import Permissions as PermissionSettings

__all__ = [
    "EDIT_TOOLS",
    "PROTECTED_NAMES",
    "PermissionMode",
    "PermissionPolicy",
    "Verdict",
]

PermissionMode: TypeAlias = Literal["default", "acceptEdits", "plan", "bypassPermissions"]

EDIT_TOOLS = EDIT_RULE_TOOLS
"""Tools that change files: ``acceptEdits`` lets them through inside the workspace."""

PROTECTED_DIRS = frozenset({".git", ".claw", ".claude", ".husky", ".vscode", ".idea"})
"""Anything below these: repository and agent configuration, and editor task/launch files
that run commands the next time the user opens, builds or debugs the project."""
PROTECTED_NAMES = frozenset(
    {
        ".mcp.json",
        ".envrc",
        ".pre-commit-config.yaml",
        ".gitmodules",
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".zlogin",
        ".kshrc",
        ".cshrc",
        ".tcshrc",
        "config.fish",
    }
)


@attrs.frozen(kw_only=True)
class Verdict:
    decision: Literal["allow", "ask", "deny"]
    reason: str = ""
    protected: bool = False
    """An ask that even hooks' ``allow`` and bypass mode cannot skip."""

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


def resolve_path_of_project(path: Path) -> Path:
    """The project as a real path, so rules and resolved targets compare alike."""
    return Path(os.path.realpath(path))


def _resolve(path: Path) -> Path:
    """The real path: symlinks (even dangling ones) and ``..`` resolved."""
    return Path(os.path.realpath(path))


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


@attrs.frozen(kw_only=True)
class PermissionPolicy:
    """A mode and three rule lists; :meth:`check` answers for one call."""

    mode: PermissionMode = "default"
    allow: tuple[Rule, ...] = ()
    ask: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()
    project: Path = attrs.field(factory=Path.cwd, converter=resolve_path_of_project)

    @classmethod
    def from_rules(
        cls,
        mode: PermissionMode,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        ask: Iterable[str] = (),
        project: Path | None = None,
    ) -> PermissionPolicy:
        """Build from rule strings. Raises ValueError for a malformed rule."""
        return cls(
            mode=mode,
            allow=tuple(parse_rule(r) for r in allow),
            ask=tuple(parse_rule(r) for r in ask),
            deny=tuple(parse_rule(r) for r in deny),
            project=project or Path.cwd(),
        )

    @classmethod
    def from_settings(
        cls,
        permissions: PermissionSettings,
        *,
        project: Path,
        mode: PermissionMode | None = None,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
    ) -> PermissionPolicy:
        """The policy settings give (``permissions``, the flags already layered in),
        plus ``allow``/``deny`` rules the caller adds and the ``mode`` it asks for.

        Raises:
            ConfigError: a rule cannot be understood, or bypass mode is turned off.
        """
        from claw_runtime.errors import ConfigError

        chosen = mode or permissions.default_mode or "default"
        if (
            chosen == "bypassPermissions"
            and permissions.disable_bypass_permissions_mode == "disable"
        ):
            raise ConfigError(
                "bypassPermissions is turned off by permissions.disableBypassPermissionsMode in "
                "settings; choose another --permission-mode"
            )
        try:
            return cls.from_rules(
                chosen,
                allow=[*permissions.allow, *allow],
                deny=[*permissions.deny, *deny],
                ask=permissions.ask,
                project=project,
            )
        except ValueError as exc:
            raise ConfigError(f"permissions: {exc}") from None

    def visible(self, tool_name: str) -> bool:
        """A tool denied outright by a bare rule is not even offered to the model."""
        return not any(r.spec is None and r.applies_to_tool(tool_name) for r in self.deny)

    def read_denied(self, path: Path) -> bool:
        """Whether a deny rule for reading (``Read(...)``) covers ``path`` (absolute, resolved)."""
        return any(
            r.spec is not None and r.applies_to_tool("Read") and r.matches_path(path, self.project)
            for r in self.deny
        )

    def check(self, call: ToolCall, cwd: Path | None = None, roots: Sequence[Path] = ()) -> Verdict:
        """Whether ``call`` may run. ``cwd`` resolves relative paths; ``roots`` bound edits."""
        cwd = cwd or self.project
        parsed = bash_parsed(call.input) if call.name == "Bash" else None
        denied = rules_match(self.deny, call, self.project, parsed=parsed, for_deny=True)
        if denied is not None:
            return Verdict(
                decision="deny", reason=f"{call.name} is denied by the rule {denied.text}."
            )
        blind = self._deny_rules_blind(call, parsed)
        if blind is not None:
            return blind
        read_denial = self._bash_read_denial(parsed, cwd)
        if read_denial is not None:
            return read_denial
        edge = self._workspace_edge(call, cwd, roots or (self.project,))
        if edge is not None:
            return edge
        asked = rules_match(self.ask, call, self.project, parsed=parsed, for_deny=True)
        if asked is not None and self.mode != "bypassPermissions":
            return Verdict(
                decision="ask", reason=f"The rule {asked.text} asks before {call.name} runs."
            )
        if self.mode == "bypassPermissions":
            return Verdict(decision="allow")
        # A read-only tool that contacts the network can carry data out: rules decide.
        local_read = call.read_only and not call.urls
        if self.mode == "plan" and not call.read_only:
            return Verdict(
                decision="deny",
                reason=f"{call.name} changes things, and plan mode allows read-only tools only.",
            )
        if local_read or (self.mode == "acceptEdits" and call.name in EDIT_TOOLS):
            return Verdict(decision="allow")
        if call.name == "Bash":
            return self._bash_allowed(call, parsed)
        if rules_match(self.allow, call, self.project, parsed=None, for_deny=False):
            return Verdict(decision="allow")
        return Verdict(
            decision="ask",
            reason=(
                f"Permission to use {call.name} was not granted. The user can allow it with "
                f"--allowed-tools {call.name} or a permissions.allow rule in settings."
            ),
        )

    def _bash_read_denial(self, parsed: ParsedCommand | None, cwd: Path) -> Verdict | None:
        """A read deny rule covers ``cat .env`` as it covers ``Read .env`` (as in Claude Code).

        The files a command reads directly (``cat``, ``head``, ``grep``... with the
        file as an argument, and ``<`` redirects) are resolved against the
        session's cwd, the way bash will open them.
        """
        if parsed is None:
            return None
        for simple in parsed.commands:
            for raw in simple.reads:
                path = resolve_path(raw, cwd)
                if self.read_denied(path):
                    return Verdict(
                        decision="deny",
                        reason=f"Bash would read {raw} ({path}), which a Read deny rule covers.",
                    )
        return None

    def _deny_rules_blind(self, call: ToolCall, parsed: object) -> Verdict | None:
        """Ask, in every mode, when Bash deny rules exist but cannot see what a command runs.

        ``$X args``, ``eval "$Y"``, ``source f``, ``./prog``, ``curl x | sh``: no deny
        rule can tell whether the program it forbids is the one that runs.
        """
        from claw_runtime.permissions.shell import ParsedCommand

        if call.name != "Bash" or not any(r.applies_to_tool("Bash") for r in self.deny):
            return None
        blind = parsed.opaque if isinstance(parsed, ParsedCommand) else "no command to inspect"
        if blind is None:
            return None
        return Verdict(
            decision="ask",
            reason=f"Bash command needs approval: {blind}, so the deny rules cannot tell "
            "what it runs.",
        )

    def _bash_allowed(self, call: ToolCall, parsed: object) -> Verdict:
        from claw_runtime.permissions.shell import ParsedCommand

        assert parsed is None or isinstance(parsed, ParsedCommand)
        bash_rules = [r for r in self.allow if r.applies_to_tool("Bash")]
        if any(r.spec is None for r in bash_rules):
            return Verdict(decision="allow")
        if parsed is None or parsed.error is not None:
            reason = parsed.error if parsed is not None else "no command"
            return Verdict(decision="ask", reason=f"Bash command needs approval: {reason}.")
        for simple in parsed.commands:
            shown = " ".join(simple.words)
            if simple.unsafe is not None:
                return Verdict(
                    decision="ask",
                    reason=f"Bash command needs approval: `{shown}` {simple.unsafe}; "
                    "no prefix rule can allow that.",
                )
            if not any(r.matches_command(simple.words) for r in bash_rules):
                return Verdict(
                    decision="ask",
                    reason=f"Bash command needs approval: `{shown}` is not covered by an allow "
                    f"rule. The user can allow it with a rule such as Bash({simple.words[0]}:*) "
                    "in permissions.allow, or --allowed-tools.",
                )
        return Verdict(decision="allow")

    def _workspace_edge(self, call: ToolCall, cwd: Path, roots: Sequence[Path]) -> Verdict | None:
        """Writes outside the roots are denied; protected paths and hard links ask."""
        if not call.writes:
            return None  # nothing to check: the roots need not be resolved
        real_roots = [_resolve(r) for r in roots]
        for target in call.writes:
            if not _inside(target, real_roots):
                return Verdict(
                    decision="deny",
                    reason=(
                        f"{target} is outside the workspace "
                        f"({', '.join(map(str, real_roots))}). Add a directory with --add-dir "
                        "or permissions.additionalDirectories."
                    ),
                )
            protected = self._protected(target, real_roots)
            if protected is not None:
                return protected
        return None

    def _protected(self, target: Path, roots: Sequence[Path]) -> Verdict | None:
        hooks_dirs = [d for root in roots for d in _git_hooks_dirs(root)]
        if (
            PROTECTED_DIRS.intersection(target.parts)
            or target.name in PROTECTED_NAMES
            or _inside(target, hooks_dirs)
        ):
            return Verdict(
                decision="ask",
                protected=True,
                reason=f"{target} is a protected path (repository, claw, editor or shell "
                "configuration that runs code later); changing it needs the user's approval.",
            )
        try:
            links = target.stat().st_nlink
        except OSError:
            links = 1
        if links > 1 and target.is_file():
            return Verdict(
                decision="ask",
                protected=True,
                reason=f"{target} has {links} hard links; changing it changes the other names too.",
            )
        return None


def _git_hooks_dirs(root: Path) -> list[Path]:
    """Directories ``core.hooksPath`` in the repository's own config points git at."""
    try:
        text = (root / ".git" / "config").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip().lower() == "hookspath":
            raw = value.strip().strip('"')
            if raw:
                found.append(resolve_path(raw, root))
    return found
