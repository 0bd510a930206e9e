"""``claw doctor``: everything claw read and decided, for when something is off.

It prints every settings file claw looks for (found or not, its layer, whether
the project is trusted), each warning and note with its file and key path, the
permission rules and hooks in force, and the system programs features need.
It sends nothing; the only things it starts are the MCP servers you configured
(those of a trusted project), to show whether each one answers.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Collection, Mapping
from pathlib import Path

from claw_runtime.cli._setup import CliContext
from claw_runtime.config.settings import LoadedSettings, settings_files
from claw_runtime.config.shapes import FIRED_HOOK_EVENTS
from claw_runtime.tooling import TOOL_ALIASES

__all__ = ["doctor_report", "run_doctor"]

PROGRAMS = (
    ("bwrap", "the sandbox (sandbox.enabled)", "apt-get install bubblewrap"),
    ("git", "repository status in context, worktrees", "apt-get install git"),
    ("rg", "Grep and Glob", "pip install ripgrep"),
    ("bash", "the Bash tool and command hooks", "apt-get install bash"),
)


def _find(name: str) -> str | None:
    """On PATH, or beside this Python (where pip puts the ripgrep wheel's ``rg``)."""
    beside = Path(sys.executable).with_name(name)
    return shutil.which(name) or (str(beside) if beside.is_file() else None)


def _tool_names(context: CliContext) -> set[str]:
    """The tools this claw has (built-ins and installed plugins); empty if plugins fail."""
    from claw_runtime.runtime import load_plugins

    try:
        _host, registry = load_plugins(
            context.settings, environ=context.environ, no_plugins=context.no_plugins
        )
    except Exception:  # doctor reports; it never crashes on a broken plugin
        return set()
    return set(registry.tools)


def run_doctor(context: CliContext) -> int:
    loaded = context.loaded
    assert loaded is not None
    print(doctor_report(context.cwd, context.environ, loaded, _tool_names(context)))
    from claw_runtime.mcp.probe import mcp_doctor_lines

    print("\n".join(["", *mcp_doctor_lines(context.cwd, context.environ, loaded.trusted)]))
    return 0


def doctor_report(
    cwd: Path, environ: Mapping[str, str], loaded: LoadedSettings, tools: Collection[str]
) -> str:
    """What ``claw doctor`` prints (``/doctor`` shows the same in a session).

    Args:
        loaded: the settings as :func:`~claw_runtime.config.settings.load_settings` read them.
        tools: the tools this claw has (empty: rules are not checked against them).
    """
    out: list[str] = []
    home = Path(environ.get("HOME") or Path.home())
    trust = (
        "trusted"
        if loaded.trusted
        else "NOT trusted (project settings that widen power are ignored)"
    )
    out.append(f"Project: {cwd}  [{trust}]")
    out.append("")
    out.append("Settings files (applied top to bottom, later wins):")
    for found in settings_files(cwd, home, environ):
        state = "read" if found.path in loaded.sources else "absent"
        out.append(f"  [{state:6}] {found.layer:7} {found.path}")
    out.append("")
    if loaded.warnings or loaded.notes:
        out.append("Warnings and notes:")
        out += [f"  warning: {w}" for w in loaded.warnings]
        out += [f"  note: {n}" for n in loaded.notes]
        out.append("")
    settings = loaded.settings
    permissions = settings.permissions
    out.append(f"Permission mode: {permissions.default_mode or 'default'}")
    for kind in ("deny", "ask", "allow"):
        rules = getattr(permissions, kind)
        out.append(f"  {kind}: {', '.join(rules) if rules else '(none)'}")
        for rule in rules:
            name = rule.split("(", 1)[0].strip()
            known = name in tools or TOOL_ALIASES.get(name) in tools
            if tools and not known and not name.startswith("mcp__"):
                out.append(f"    {rule}: no {name} tool here yet; the rule is kept for when it is")
    if permissions.additional_directories:
        out.append(f"  additional directories: {', '.join(permissions.additional_directories)}")
    out.append("")
    out.append("Hooks:")
    if not settings.hooks:
        out.append("  (none)")
    for event, groups in settings.hooks.items():
        fired = "" if event in FIRED_HOOK_EVENTS else "  (accepted, not fired yet)"
        for group in groups:
            for hook in group.hooks:
                matcher = f"[{group.matcher}] " if group.matcher else ""
                out.append(f"  {event}{fired}: {matcher}{hook.command}")
    out.append("")
    out.append(
        f"Sandbox: {'on' if settings.sandbox.enabled else 'off'}"
        f"{', network allowed' if settings.sandbox.network else ''}"
    )
    out.append("")
    out.append("Programs:")
    for name, purpose, install in PROGRAMS:
        found_at = _find(name)
        status = found_at or f"MISSING ({install})"
        out.append(f"  {name:6} {status}  -- {purpose}")
    return "\n".join(out)
