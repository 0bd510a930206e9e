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

import functools
import json
import math
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
    "CompactionSettings",
    "HookMatcher",
    "HttpSettings",
    "LoadedSettings",
    "LoggingSettings",
    "ModelPriceOverride",
    "Permissions",
    "PluginSettings",
    "ProviderConfig",
    "SandboxSettings",
    "Settings",
    "SettingsFile",
    "SubagentSettings",
    "load_settings",
    "settings_files",
]


PermissionModeName = Literal["default", "acceptEdits", "plan", "bypassPermissions"]


@attrs.frozen(kw_only=True)
class Permissions:
    allow: list[str] = attrs.field(factory=list)
    ask: list[str] = attrs.field(factory=list)
    deny: list[str] = attrs.field(factory=list)
    default_mode: PermissionModeName | None = None
    additional_directories: list[str] = attrs.field(factory=list)
    disable_bypass_permissions_mode: Literal["disable"] | None = None
    """``"disable"`` refuses ``bypassPermissions`` (a narrowing key: any layer may set it)."""


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


def _positive_seconds(_instance: Any, attribute: Any, value: float | None) -> None:
    if value is not None and not (isinstance(value, int | float) and value > 0):
        raise ValueError(f"{_camel(attribute.name)} must be a positive number of seconds")


@attrs.frozen(kw_only=True)
class ProviderConfig:
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    prompt_caching: bool | None = None
    """Anthropic prompt caching (on by default; ``false`` turns it off)."""
    idle_timeout_s: float | None = attrs.field(default=None, validator=_positive_seconds)
    """``idleTimeoutS``: longest silence between two chunks of a response (default 90)."""
    attempt_timeout_s: float | None = attrs.field(default=None, validator=_positive_seconds)
    """``attemptTimeoutS``: longest one model attempt may take, end to end (default 600)."""


@attrs.frozen(kw_only=True)
class PluginSettings:
    disabled: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class LoggingSettings:
    level: Literal["debug", "info", "warning", "error"] = "warning"
    json_file: str | None = None


def _positive_whole(_instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None and not (isinstance(value, int) and value > 0):
        raise ValueError(f"{_camel(attribute.name)} must be a positive whole number, got {value}")


@attrs.frozen(kw_only=True)
class HttpSettings:
    """How sessions share HTTP connections (see ``claw_runtime.http.clients``)."""

    client_per_session: bool = True
    """``clientPerSession``: each session its own client and connections (``false``: one
    client shared by all sessions, whose pool slows down past ~100 concurrent sessions)."""
    max_in_flight: int | None = attrs.field(default=None, validator=_positive_whole)
    """``maxInFlight``: most HTTP requests in flight at once in the runtime (none: no cap)."""


def _share(_instance: Any, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
        raise ValueError(f"{_camel(attribute.name)} must be a share between 0 and 1, got {value}")


@attrs.frozen(kw_only=True)
class CompactionSettings:
    """When and how the conversation is compacted (see ``docs/compaction.md``)."""

    threshold: float = attrs.field(default=0.8, validator=_share)
    """Compact before a request once the context passes this share of the model's window."""
    context_window: int | None = attrs.field(default=None, validator=_positive_whole)
    """``contextWindow``: the model's window in tokens (default: from the model's family)."""
    keep_recent: float = attrs.field(default=0.1, validator=_share)
    """``keepRecent``: share of the window the most recent turns may keep, verbatim."""


@attrs.frozen(kw_only=True)
class SubagentSettings:
    """claw's own limits for sub-agents (the ``Task`` tool; see docs/agents.md)."""

    max_concurrent: int = attrs.field(default=10, validator=_positive_whole)
    """``maxConcurrent``: sub-agents running at once at each level of nesting; more wait."""
    max_depth: int = attrs.field(default=3, validator=_positive_whole)
    """``maxDepth``: how deep sub-agents may start sub-agents (1: only the main agent may)."""
    max_turns: int | None = attrs.field(default=None, validator=_positive_whole)
    """``maxTurns``: a sub-agent's turn budget when its definition sets none."""
    timeout_s: float | None = attrs.field(default=None, validator=_positive_seconds)
    """``timeoutS``: the longest a sub-agent may run; then it is stopped (an error result)."""
    max_tokens: int | None = attrs.field(default=None, validator=_positive_whole)
    """``maxTokens``: a sub-agent's token budget (input and output, all its turns)."""


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
    http: HttpSettings = HttpSettings()
    subagents: SubagentSettings = SubagentSettings()
    hook_failure: Literal["open", "closed"] = "open"
    """claw's own: whether a PreToolUse command hook that crashes or times out lets the
    call through (``open``, Claude Code's behaviour) or blocks it (``closed``)."""
    model_aliases: dict[str, str] = attrs.field(factory=dict)
    """Extra or replacement model aliases (``{"opus": "claude-opus-4-5-20251101"}``)."""
    trusted_directories: list[str] = attrs.field(factory=list)
    """Directories whose project settings apply in full (honoured in user settings only)."""
    auto_compact: bool | None = None
    """``autoCompact``: compact the conversation when it nears the model's window (default on)."""
    auto_compact_enabled: bool | None = None
    """Claude Code's name for ``autoCompact`` (``autoCompactEnabled``); ``autoCompact`` wins."""
    compaction: CompactionSettings = CompactionSettings()


@attrs.frozen(kw_only=True)
class LoadedSettings:
    settings: Settings
    sources: tuple[Path, ...] = ()
    """The files actually read, in the order applied."""
    warnings: tuple[str, ...] = ()
    trusted: bool = False
    """Whether the project's own settings applied in full."""
    withheld: tuple[str, ...] = ()
    """What an untrusted project's files asked for and did not get (``file: key``)."""
    notes: tuple[str, ...] = ()
    """Keys claw ignored or reshaped to read the files as Claude Code does (``-v``, doctor)."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@functools.cache
def _converter() -> cattrs.Converter:
    """The strict converter for settings files, built when a first file (or flag) is read:
    its structure functions cost ~10 ms of a start, and a run with no settings at all
    (a fresh machine, a batch job) needs none of them."""
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
        HttpSettings,
        CompactionSettings,
        SubagentSettings,
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
    try:
        settings = _converter().structure(data, Settings)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, path="$", format_exception=_describe)
        raise ConfigError(f"{source}: " + "; ".join(_readable(p) for p in problems)) from None
    _check_numbers(settings, source)


_POSITIVE_LIMITS = (
    ("maxTurns", "max_turns", "a positive whole number"),
    ("maxBudgetUsd", "max_budget_usd", "a positive number"),
    ("maxBudgetTokens", "max_budget_tokens", "a positive whole number"),
)


def _check_numbers(settings: Settings, source: str) -> None:
    """Limits are positive and finite (JSON allows 0, -1, ``1e400`` = inf and ``NaN``).

    Raises:
        ConfigError: ``<source>: maxTurns must be a positive whole number, got 0``.
    """

    def bad(value: float) -> bool:
        return not math.isfinite(value) or value <= 0

    problems = [
        f"{key} must be {what}, got {json.dumps(value)}"
        for key, name, what in _POSITIVE_LIMITS
        if (value := getattr(settings, name)) is not None and bad(value)
    ]
    for event, matchers in settings.hooks.items():
        for i, matcher in enumerate(matchers):
            for j, hook in enumerate(matcher.hooks):
                if hook.timeout is not None and bad(hook.timeout):
                    problems.append(
                        f"hooks.{event}[{i}].hooks[{j}].timeout must be a positive number of "
                        f"seconds, got {json.dumps(hook.timeout)}"
                    )
    for model, price in settings.prices.items():
        for name in ("input", "output", "cache_write", "cache_read"):
            value = getattr(price, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                problems.append(
                    f"prices.{model}.{_camel(name)} must be a finite number, 0 or more, "
                    f"got {json.dumps(value)}"
                )
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def _readable(problem: str) -> str:
    """``expected X @ $.permissions.default_mode`` -> ``permissions.defaultMode: expected X``."""
    message, _, path = problem.rpartition(" @ ")
    keys = [_camel(part) if "[" not in part else part for part in path.split(".")[1:]]
    return f"{'.'.join(keys)}: {message}" if keys else message


def _read_file(path: Path, *, notes: list[str]) -> dict[str, Any] | None:
    """One settings file, normalised to claw's shape and validated; None if absent.

    Raises:
        ConfigError: not readable, not JSON, or a value of the wrong type.
    """
    from claw_runtime.config.shapes import normalise

    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot be read: {exc.strerror}; the file was not used"
        ) from None
    try:
        text = raw.decode("utf-8-sig")
        data = json.loads(text) if text.strip() else {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); the file was not used"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "the file was not used"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply; the file was not used") from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(
            f"{path}: invalid JSON: {str(exc).split(':')[0]}; the file was not used"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    data, found = normalise(data, str(path), Settings)
    notes.extend(found)
    _validate(data, str(path))
    return data


_CONCATENATED = {
    ("permissions", "allow"),
    ("permissions", "ask"),
    ("permissions", "deny"),
    ("permissions", "additionalDirectories"),
    ("plugins", "disabled"),
}
_CONCATENATED_UNDER = {("hooks",)}
"""Lists directly under these objects concatenate too: a project's hooks for an event
run alongside the user's, never instead of them."""


def _merge(base: dict[str, Any], layer: Mapping[str, Any], path: tuple[str, ...] = ()) -> None:
    for key, value in layer.items():
        here = (*path, key)
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value, here)
        elif (
            (here in _CONCATENATED or path in _CONCATENATED_UNDER)
            and isinstance(current, list)
            and isinstance(value, list)
        ):
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
        if layer["maxTurns"] <= 0:
            raise ConfigError(f"CLAW_MAX_TURNS must be a positive whole number, got {raw!r}")
    if layer:
        _validate(layer, "environment variables")
    return layer


@attrs.frozen
class SettingsFile:
    """One settings file claw looks for: where, whose format, and which layer."""

    path: Path
    claude: bool
    """Claude Code's file (unknown keys are warnings) rather than claw's own."""
    layer: Literal["user", "project", "local"]

    @property
    def in_project(self) -> bool:
        """Project and local files live in the repository: they are the project's word."""
        return self.layer != "user"


def settings_files(cwd: Path, home: Path, environ: Mapping[str, str]) -> list[SettingsFile]:
    """Every settings file claw reads, in the order applied (later wins)."""
    claude_user = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    claw_user = Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw")
    return [
        SettingsFile(claude_user / "settings.json", True, "user"),
        SettingsFile(claw_user / "settings.json", False, "user"),
        SettingsFile(cwd / ".claude" / "settings.json", True, "project"),
        SettingsFile(cwd / ".claw" / "settings.json", False, "project"),
        SettingsFile(cwd / ".claude" / "settings.local.json", True, "local"),
        SettingsFile(cwd / ".claw" / "settings.local.json", False, "local"),
    ]


def _without_startup_variables(data: dict[str, Any], path: Path, warnings: list[str]) -> None:
    """A project's ``env`` never sets how shells and interpreters start (``BASH_ENV``...)."""
    from claw_runtime.tools._environment import is_startup_variable

    env = data.get("env")
    if not isinstance(env, dict):
        return
    refused = sorted(name for name in env if is_startup_variable(name))
    if refused:
        warnings.append(
            f"{path}: env {', '.join(refused)} ignored: project settings may not change "
            "how shells and interpreters start"
        )
        data["env"] = {k: v for k, v in env.items() if k not in refused}


def load_settings(
    cwd: Path,
    *,
    cli_overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    trust: bool = False,
) -> LoadedSettings:
    """Read, validate and merge every settings layer.

    A project's own files are read either way, but until the user trusts the
    project everything in them that widens what claw may do is dropped with a
    warning naming it (see :mod:`claw_runtime.config.trust`); deny and ask rules
    always apply. ``trust=True`` (``--trust``) trusts the project from now on.

    Args:
        cli_overrides: flags in the shape of a settings file (camelCase keys).
        trust: trust this project from now on.

    Raises:
        ConfigError: naming the file (or variable), the key and what was expected.
    """
    from claw_runtime.config.trust import TrustStore, restrict_untrusted, trust_file

    env = os.environ if environ is None else environ
    home = home or Path.home()
    merged: dict[str, Any] = {}
    sources: list[Path] = []
    warnings: list[str] = []
    withheld: list[str] = []
    files = settings_files(cwd, home, env)
    notes: list[str] = []
    layers = [(f, _read_file(f.path, notes=notes)) for f in files]
    user_roots = [
        Path(p)
        for f, data in layers
        if data is not None and not f.in_project
        for p in data.get("trustedDirectories", [])
    ]
    store = TrustStore(trust_file(home, env))
    try:
        store.roots()
    except ConfigError as exc:
        warnings.append(str(exc))
    trusted = store.is_trusted(cwd, user_roots)
    if trust and not trusted:
        store.trust(cwd)
        trusted = True
    for found, data in layers:
        if data is None:
            continue
        sources.append(found.path)
        if found.in_project:
            if not trusted:
                data, dropped = restrict_untrusted(data)
                withheld += [f"{found.path}: {key}" for key in dropped]
                if dropped:
                    warnings.append(
                        f"{found.path}: ignored until you trust this project: "
                        f"{', '.join(dropped)} (run claw trust, or once with --trust)"
                    )
            data.pop("trustedDirectories", None)
            _without_startup_variables(data, found.path, warnings)
        _merge(merged, data)
    _merge(merged, _env_layer(env))
    if cli_overrides:
        overrides = dict(cli_overrides)
        _validate(overrides, "command-line flags")
        _merge(merged, overrides)
    # Nothing set anywhere: the defaults, exactly what structuring ``{}`` gives.
    settings = _converter().structure(merged, Settings) if merged else Settings()
    return LoadedSettings(
        settings=settings,
        sources=tuple(sources),
        warnings=tuple(warnings),
        trusted=trusted,
        withheld=tuple(withheld),
        notes=tuple(notes),
    )
