"""Layered settings: user, project, local, environment, flags; later layers win.

Files, in the order they are applied::

    ~/.claude/settings.json            Claude Code's user settings (CLAUDE_CONFIG_DIR moves it)
    ~/.claw/settings.json              claw's user settings (CLAW_CONFIG_DIR moves it)
    <cwd>/.claude/settings.json        Claude Code's project settings
    <cwd>/.claw/settings.json          claw's project settings
    <cwd>/.claude/settings.local.json  Claude Code's local (git-ignored) settings
    <cwd>/.claw/settings.local.json    claw's local settings

then ``CLAW_*`` environment variables, then command-line flags. Objects merge
key by key; the permission rule lists and ``additionalDirectories``
concatenate (as in Claude Code); any other value is replaced.

Each file is validated on its own before merging, so an error names the file,
the key and what was expected. Unknown keys are errors in ``.claw`` files; in
``.claude`` files they are warnings, because Claude Code adds keys often and a
new one must not stop claw from starting.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from claw_runtime._strict import make_strict_converter
from claw_runtime.errors import ConfigError

__all__ = [
    "CommandHook",
    "HookMatcher",
    "LoadedSettings",
    "LoggingSettings",
    "ModelPriceOverride",
    "Permissions",
    "PluginSettings",
    "ProviderConfig",
    "SandboxSettings",
    "Settings",
    "load_settings",
]

HOOK_EVENTS = (
    "PreToolUse",
    "PostToolUse",
    "UserPromptSubmit",
    "Stop",
    "SubagentStop",
    "SessionStart",
    "SessionEnd",
    "PreCompact",
    "Notification",
)

PermissionModeName = Literal["default", "acceptEdits", "plan", "bypassPermissions"]


@attrs.frozen(kw_only=True)
class Permissions:
    allow: list[str] = attrs.field(factory=list)
    ask: list[str] = attrs.field(factory=list)
    deny: list[str] = attrs.field(factory=list)
    default_mode: PermissionModeName | None = None
    additional_directories: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class CommandHook:
    command: str
    type: Literal["command"] = "command"
    timeout: float | None = None


@attrs.frozen(kw_only=True)
class HookMatcher:
    hooks: list[CommandHook]
    matcher: str = ""


@attrs.frozen(kw_only=True)
class SandboxSettings:
    enabled: bool = False
    network: bool = False


@attrs.frozen(kw_only=True)
class ModelPriceOverride:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float | None = None
    cache_read: float | None = None


@attrs.frozen(kw_only=True)
class ProviderConfig:
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True)
class PluginSettings:
    disabled: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class LoggingSettings:
    level: Literal["debug", "info", "warning", "error"] = "warning"
    json_file: str | None = None


@attrs.frozen(kw_only=True)
class Settings:
    """Everything settings files, env vars and flags can say."""

    model: str | None = None
    provider: str | None = None
    env: dict[str, str] = attrs.field(factory=dict)
    permissions: Permissions = Permissions()
    hooks: dict[str, list[HookMatcher]] = attrs.field(factory=dict)
    sandbox: SandboxSettings = SandboxSettings()
    max_turns: int | None = None
    max_budget_usd: float | None = None
    max_budget_tokens: int | None = None
    prices: dict[str, ModelPriceOverride] = attrs.field(factory=dict)
    providers: dict[str, ProviderConfig] = attrs.field(factory=dict)
    plugins: PluginSettings = PluginSettings()
    logging: LoggingSettings = LoggingSettings()
    hook_failure: Literal["open", "closed"] = "open"
    """claw's own: whether a PreToolUse command hook that crashes or times out lets the
    call through (``open``, Claude Code's behaviour) or blocks it (``closed``)."""


@attrs.frozen(kw_only=True)
class LoadedSettings:
    settings: Settings
    sources: tuple[Path, ...] = ()
    """The files actually read, in the order applied."""
    warnings: tuple[str, ...] = ()


# Claude Code keys claw accepts in .claude files without acting on them (yet).
CLAUDE_CODE_ONLY_KEYS = frozenset(
    {
        "$schema",
        "apiKeyHelper",
        "cleanupPeriodDays",
        "includeCoAuthoredBy",
        "statusLine",
        "outputStyle",
        "forceLoginMethod",
        "forceLoginOrgUUID",
        "enableAllProjectMcpServers",
        "enabledMcpjsonServers",
        "disabledMcpjsonServers",
        "awsAuthRefresh",
        "awsCredentialExport",
        "disableAllHooks",
        "alwaysThinkingEnabled",
        "spinnerTipsEnabled",
        "feedbackSurveyState",
        "theme",
        "verbose",
        "autoUpdates",
        "preferredNotifChannel",
        "otelHeadersHelper",
        "companyAnnouncements",
    }
)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _make_converter() -> cattrs.Converter:
    conv = make_strict_converter(show=json.dumps, bool_label="true or false")
    for cls in (
        Permissions,
        CommandHook,
        HookMatcher,
        SandboxSettings,
        ModelPriceOverride,
        ProviderConfig,
        PluginSettings,
        LoggingSettings,
        Settings,
    ):
        renames = {
            f.name: override(rename=_camel(f.name)) for f in attrs.fields(cls) if "_" in f.name
        }
        conv.register_structure_hook(
            cls,
            make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **renames),  # type: ignore[arg-type]
        )
    return conv


_CONVERTER = _make_converter()


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required key missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown key(s) {', '.join(sorted(exc.extra_fields))}"
    literals = [_type, *typing.get_args(_type)]
    choices = [c for t in literals if typing.get_origin(t) is Literal for c in typing.get_args(t)]
    if choices:
        return f"expected one of {', '.join(map(json.dumps, choices))}"
    return str(exc)


def _validate(data: Any, source: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object at the top level")
    hooks = data.get("hooks")
    if isinstance(hooks, dict):
        for event in hooks:
            if event not in HOOK_EVENTS:
                raise ConfigError(
                    f"{source}: unknown hook event hooks.{event}; "
                    f"expected one of {', '.join(HOOK_EVENTS)}"
                )
    try:
        _CONVERTER.structure(data, Settings)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ConfigError(f"{source}: " + "; ".join(_readable(p) for p in problems)) from None


def _readable(problem: str) -> str:
    """``expected X @ $.permissions.default_mode`` -> ``permissions.defaultMode: expected X``."""
    message, _, path = problem.rpartition(" @ ")
    keys = [_camel(part) if "[" not in part else part for part in path.split(".")[1:]]
    return f"{'.'.join(keys)}: {message}" if keys else message


_KNOWN_KEYS = frozenset(_camel(f.name) for f in attrs.fields(Settings))


def _read_file(path: Path, *, claude: bool, warnings: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if claude and isinstance(data, dict):
        for key in [k for k in data if k not in _KNOWN_KEYS]:
            if key not in CLAUDE_CODE_ONLY_KEYS:
                warnings.append(f"{path}: ignoring unknown key {key!r}")
            del data[key]
        sandbox = data.get("sandbox")
        if isinstance(sandbox, dict):
            data["sandbox"] = {k: v for k, v in sandbox.items() if k in ("enabled", "network")}
    _validate(data, str(path))
    return data


_CONCATENATED = {
    ("permissions", "allow"),
    ("permissions", "ask"),
    ("permissions", "deny"),
    ("permissions", "additionalDirectories"),
    ("plugins", "disabled"),
}


def _merge(base: dict[str, Any], layer: Mapping[str, Any], path: tuple[str, ...] = ()) -> None:
    for key, value in layer.items():
        here = (*path, key)
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value, here)
        elif here in _CONCATENATED and isinstance(current, list) and isinstance(value, list):
            base[key] = current + [v for v in value if v not in current]
        else:
            base[key] = value


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    if environ.get("CLAW_MODEL"):
        layer["model"] = environ["CLAW_MODEL"]
    if environ.get("CLAW_PROVIDER"):
        layer["provider"] = environ["CLAW_PROVIDER"]
    if environ.get("CLAW_PERMISSION_MODE"):
        layer["permissions"] = {"defaultMode": environ["CLAW_PERMISSION_MODE"]}
    if environ.get("CLAW_DISABLE_PLUGINS"):
        names = [n.strip() for n in environ["CLAW_DISABLE_PLUGINS"].split(",") if n.strip()]
        layer["plugins"] = {"disabled": names}
    if environ.get("CLAW_MAX_TURNS"):
        raw = environ["CLAW_MAX_TURNS"]
        try:
            layer["maxTurns"] = int(raw)
        except ValueError:
            raise ConfigError(f"CLAW_MAX_TURNS: expected an integer, got {raw!r}") from None
    _validate(layer, "environment variables")
    return layer


def _files(cwd: Path, home: Path, environ: Mapping[str, str]) -> list[tuple[Path, bool]]:
    claude_user = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    claw_user = Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw")
    return [
        (claude_user / "settings.json", True),
        (claw_user / "settings.json", False),
        (cwd / ".claude" / "settings.json", True),
        (cwd / ".claw" / "settings.json", False),
        (cwd / ".claude" / "settings.local.json", True),
        (cwd / ".claw" / "settings.local.json", False),
    ]


def _trust_file(home: Path, environ: Mapping[str, str]) -> Path:
    return Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw") / "trusted-projects.json"


def is_trusted(cwd: Path, home: Path, environ: Mapping[str, str]) -> bool:
    """Whether the user has trusted ``cwd`` (or a folder above it) before."""
    try:
        trusted = json.loads(_trust_file(home, environ).read_text())
    except (OSError, ValueError):
        return False
    resolved = cwd.resolve()
    return any(
        resolved == Path(p) or Path(p) in resolved.parents for p in trusted if isinstance(p, str)
    )


def remember_trust(cwd: Path, home: Path, environ: Mapping[str, str]) -> None:
    path = _trust_file(home, environ)
    try:
        trusted = json.loads(path.read_text())
    except (OSError, ValueError):
        trusted = []
    trusted.append(str(cwd.resolve()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sorted(set(trusted)), indent=2) + "\n")
    path.chmod(0o600)


def load_settings(
    cwd: Path,
    *,
    cli_overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    trust: bool = False,
) -> LoadedSettings:
    """Read, validate and merge every settings layer.

    A project's own files may define hooks, which run commands. They are only
    honoured once the project is trusted: ``trust=True`` (``--trust``) records
    it, and a trusted project stays trusted. Until then its hooks are dropped
    with a warning.

    Args:
        cli_overrides: flags in the shape of a settings file (camelCase keys).
        trust: trust this project from now on.

    Raises:
        ConfigError: naming the file (or variable), the key and what was expected.
    """
    env = os.environ if environ is None else environ
    home = home or Path.home()
    merged: dict[str, Any] = {}
    sources: list[Path] = []
    warnings: list[str] = []
    trusted = is_trusted(cwd, home, env)
    if trust and not trusted:
        remember_trust(cwd, home, env)
        trusted = True
    for path, claude in _files(cwd, home, env):
        data = _read_file(path, claude=claude, warnings=warnings)
        if data is None:
            continue
        sources.append(path)
        if not trusted and data.get("hooks") and cwd in path.parents:
            warnings.append(
                f"{path}: hooks ignored: this project is not trusted yet; "
                "run once with --trust to allow its hooks"
            )
            data = {k: v for k, v in data.items() if k != "hooks"}
        _merge(merged, data)
    _merge(merged, _env_layer(env))
    if cli_overrides:
        overrides = dict(cli_overrides)
        _validate(overrides, "command-line flags")
        _merge(merged, overrides)
    settings = _CONVERTER.structure(merged, Settings)
    return LoadedSettings(settings=settings, sources=tuple(sources), warnings=tuple(warnings))
