"""Settings read the way Claude Code reads them: lenient on shape, strict on what guards.

Real ``.claude/settings.json`` files carry keys claw does not know (Claude Code
adds some in most releases), hook events claw does not fire yet, annotations on
hook entries (``statusMessage``, ``description``) and values in the shapes
Claude Code documents (``sandbox.network`` as an object, ``env`` values that
are numbers). None of that may stop claw from starting. Before a file is
validated, :func:`normalise` rewrites it into claw's shape and returns one
note per thing it dropped or changed; the notes are shown by ``claw doctor``,
``claw inspect`` and ``-v``.

Two things still stop a run: a file that is not JSON (reported by the loader),
and a ``deny`` or ``ask`` rule that cannot be understood. Dropping a deny rule
silently would fail open, so it fails closed and names the rule.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

import attrs

from claw_runtime.errors import ConfigError

__all__ = ["FIRED_HOOK_EVENTS", "normalise"]

FIRED_HOOK_EVENTS = (
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Stop",
    "SessionStart",
    "SessionEnd",
    "Notification",
    "PreCompact",
    "SubagentStart",
    "SubagentStop",
)
"""Claude Code hook events claw fires today; other event names are kept, not fired."""

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")

SILENT_TOP_KEYS = frozenset(
    {
        "$schema",
        "cleanupPeriodDays",
        "includeCoAuthoredBy",
        "outputStyle",
        "spinnerTipsEnabled",
        "feedbackSurveyState",
        "theme",
        "verbose",
        "autoUpdates",
        "preferredNotifChannel",
        "companyAnnouncements",
        "alwaysThinkingEnabled",
    }
)
"""Claude Code's cosmetic keys: no effect on what claw does, so no note either."""

READ_ELSEWHERE = frozenset(
    {"mcpServers", "enabledMcpjsonServers", "disabledMcpjsonServers", "enableAllProjectMcpServers"}
)
"""Keys another part of claw reads from the same files (``claw_runtime.mcp.config``)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _fields(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {_camel(f.name): hints[f.name] for f in attrs.fields(cls)}


def _attrs_class(hint: Any) -> type | None:
    """The settings class ``hint`` is (or is optionally); None for anything else."""
    if typing.get_origin(hint) in (dict, list):
        return None
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and attrs.has(candidate):
            return candidate
    return None


def _dict_of_class(hint: Any) -> type | None:
    """``X`` for ``dict[str, X]`` where X is a settings class."""
    if typing.get_origin(hint) is dict:
        return _attrs_class(typing.get_args(hint)[1])
    return None


@attrs.define
class _Walk:
    source: str
    notes: list[str] = attrs.field(factory=list)

    def note(self, path: str, message: str) -> None:
        self.notes.append(f"{self.source}: {path}: {message}")

    def object(self, data: dict[str, Any], cls: type, path: str) -> dict[str, Any]:
        """Keep the keys ``cls`` knows (recursing into nested settings objects)."""
        known = _fields(cls)
        kept: dict[str, Any] = {}
        for key, value in data.items():
            here = f"{path}.{key}" if path else key
            special = _SPECIAL.get(here)
            if special is not None:
                fixed = special(self, value, here)
                if fixed is not _DROP:
                    kept[key] = fixed
                continue
            if key not in known:
                if not (path == "" and key in SILENT_TOP_KEYS | READ_ELSEWHERE):
                    self.note(here, "not used by claw; ignored")
                continue
            nested = _attrs_class(known[key])
            values_of = _dict_of_class(known[key])
            if nested is not None and isinstance(value, dict):
                kept[key] = self.object(value, nested, here)
            elif values_of is not None and isinstance(value, dict):
                kept[key] = {
                    k: self.object(v, values_of, f"{here}.{k}") if isinstance(v, dict) else v
                    for k, v in value.items()
                }
            else:
                kept[key] = value
        return kept


_DROP = object()


def _env(walk: _Walk, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        return value  # the validator says what is wrong
    env: dict[str, str] = {}
    for name, raw in value.items():
        if isinstance(raw, str):
            env[name] = raw
        elif isinstance(raw, bool | int | float):
            env[name] = json.dumps(raw)
        else:
            walk.note(f"{path}.{name}", "not a string, number or boolean; ignored")
    return env


def _sandbox(walk: _Walk, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for key, setting in value.items():
        here = f"{path}.{key}"
        if key == "enabled" or (key == "network" and isinstance(setting, bool)):
            kept[key] = setting
        elif key == "network" and isinstance(setting, dict):
            walk.note(
                here,
                "claw's sandbox has no per-domain network filter; the network stays off "
                "(set sandbox.network to true to allow all of it)",
            )
            kept[key] = False
        else:
            walk.note(here, "not supported by claw's sandbox; ignored")
    return kept


def _permissions(walk: _Walk, value: Any, path: str) -> Any:
    from claw_runtime.permissions import parse_rule

    if not isinstance(value, dict):
        return value
    from claw_runtime.config.settings import Permissions

    kept = walk.object(
        {k: v for k, v in value.items() if k not in ("allow", "deny", "ask", "defaultMode")},
        Permissions,
        path,
    )
    for kind in ("allow", "deny", "ask"):
        rules = value.get(kind)
        if rules is None:
            continue
        if not isinstance(rules, list):
            kept[kind] = rules  # the validator says what is wrong
            continue
        good = []
        for index, rule in enumerate(rules):
            try:
                parse_rule(rule if isinstance(rule, str) else "")
            except ValueError:
                if kind != "allow":
                    raise ConfigError(
                        f"{walk.source}: {path}.{kind}[{index}]: cannot understand the "
                        f"{kind} rule {json.dumps(rule)}; claw will not run without it. "
                        "Fix the rule (Tool or Tool(specifier))."
                    ) from None
                walk.note(
                    f"{path}.{kind}[{index}]", f"cannot understand {json.dumps(rule)}; ignored"
                )
                continue
            good.append(rule)
        kept[kind] = good
    mode = value.get("defaultMode")
    if mode is not None:
        if mode in PERMISSION_MODES:
            kept["defaultMode"] = mode
        else:
            walk.note(
                f"{path}.defaultMode", f"{json.dumps(mode)} is not a mode claw has; using default"
            )
    return kept


def _hooks(walk: _Walk, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        return value
    kept: dict[str, Any] = {}
    for event, groups in value.items():
        here = f"{path}.{event}"
        if event not in FIRED_HOOK_EVENTS:
            walk.note(here, "accepted; claw does not fire this event yet")
        if not isinstance(groups, list):
            kept[event] = groups
            continue
        kept[event] = [_hook_group(walk, g, f"{here}[{i}]") for i, g in enumerate(groups)]
    return kept


def _hook_group(walk: _Walk, group: Any, path: str) -> Any:
    if not isinstance(group, dict):
        return group
    kept: dict[str, Any] = {}
    for key, value in group.items():
        if key == "matcher":
            kept[key] = value
        elif key == "hooks" and isinstance(value, list):
            kept[key] = [
                h
                for i, entry in enumerate(value)
                if (h := _hook_entry(walk, entry, f"{path}.hooks[{i}]")) is not _DROP
            ]
        elif key == "hooks":
            kept[key] = value
        else:
            walk.note(f"{path}.{key}", "not used by claw; ignored")
    return kept


def _hook_entry(walk: _Walk, entry: Any, path: str) -> Any:
    if not isinstance(entry, dict):
        return entry
    kind = entry.get("type", "command")
    if kind != "command":
        walk.note(path, f"hooks of type {json.dumps(kind)} are not supported; this hook is skipped")
        return _DROP
    kept: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("type", "command", "timeout"):
            kept[key] = value
        else:
            walk.note(f"{path}.{key}", "not used by claw; ignored")
    return kept


_SPECIAL: dict[str, Callable[[_Walk, Any, str], Any]] = {
    "env": _env,
    "sandbox": _sandbox,
    "permissions": _permissions,
    "hooks": _hooks,
}


def normalise(
    data: dict[str, Any], source: str, settings_class: type
) -> tuple[dict[str, Any], list[str]]:
    """``data`` in claw's shape, and a note for each key dropped or value changed.

    Raises:
        ConfigError: a deny or ask rule cannot be understood (fail closed).
    """
    walk = _Walk(source)
    return walk.object(data, settings_class, ""), walk.notes
