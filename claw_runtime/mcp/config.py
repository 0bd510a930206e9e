"""Which MCP servers a session starts: Claude Code's configuration shapes, read as it does.

Sources, later ones win on a name they share::

    ~/.claude.json  "mcpServers"                  user scope (Claude Code's own file;
                                                  $CLAUDE_CONFIG_DIR/.claude.json when set)
    ~/.claw/mcp.json  "mcpServers"                user scope (claw's; ``claw mcp add -s user``)
    user settings files  "mcpServers"             user scope
    <project>/.mcp.json  "mcpServers"             project scope (needs trust)
    project settings files  "mcpServers"          project scope (needs trust)
    ~/.claude.json, ~/.claw/mcp.json
        "projects": {"<project>": {"mcpServers"}} local scope (yours, for this project)
    --mcp-config FILE (CLAW_MCP_CONFIG)           flag scope

Each entry is ``{"command", "args", "env"}`` (stdio, the default type) or
``{"type": "http" | "sse", "url", "headers"}``. Strings may use ``${VAR}`` and
``${VAR:-default}``, expanded from the session's environment; a variable that is
unset and has no default makes that server a one-line problem, not a crash.

A repository is hostile until trusted: servers defined by the project itself
(``.mcp.json``, project settings) are not started until the user trusts the
project; they are listed in :attr:`McpConfig.waiting_for_trust`. Even then,
``disabledMcpjsonServers`` turns off ``.mcp.json`` servers by name, and a
non-empty ``enabledMcpjsonServers`` (without ``enableAllProjectMcpServers``)
starts only those it names.

This module imports nothing from the ``mcp`` SDK: a run reads its configuration
cheaply and loads the SDK only when some server is to be started.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

__all__ = [
    "McpConfig",
    "McpServerConfig",
    "claude_json_path",
    "claw_mcp_path",
    "expand_variables",
    "load_mcp_config",
    "parse_server",
    "servers_awaiting_trust",
]

Scope = Literal["user", "project", "local", "flag"]
Transport = Literal["stdio", "http", "sse"]

MCP_CONFIG_ENV = "CLAW_MCP_CONFIG"
"""Files of ``{"mcpServers": ...}`` to add (``--mcp-config``), separated by ``os.pathsep``."""

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Server names become part of tool names (``mcp__<server>__<tool>``)."""


@attrs.frozen(kw_only=True)
class McpServerConfig:
    """One server, its strings already expanded."""

    name: str
    type: Transport = "stdio"
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = attrs.field(factory=dict)
    url: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    scope: Scope = "user"
    source: str = ""
    """The file it came from (for ``claw mcp list`` and one-line errors)."""

    def describe(self) -> str:
        """``stdio: cmd args`` or ``http: url``, for listings."""
        if self.type == "stdio":
            return " ".join(["stdio:", self.command, *self.args])
        return f"{self.type}: {self.url}"


@attrs.frozen(kw_only=True)
class McpConfig:
    """What the configuration says for one project."""

    servers: Mapping[str, McpServerConfig] = attrs.field(factory=dict)
    """The servers to start, by name."""
    waiting_for_trust: tuple[McpServerConfig, ...] = ()
    """Servers the untrusted project defines; started once the user trusts it."""
    disabled: tuple[str, ...] = ()
    """``.mcp.json`` servers turned off by ``disabledMcpjsonServers`` (or not enabled)."""
    problems: tuple[str, ...] = ()
    """One line each: a file that is not JSON, an entry of the wrong shape, an unset variable."""


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Unset(ValueError):
    pass


def expand_variables(text: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` replaced from ``environ``.

    Raises:
        ValueError: a variable is unset and has no default.
    """

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise _Unset(f"${{{name}}} is not set")
            return default
        return value

    return _VARIABLE.sub(replace, text)


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return list(value)


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object of strings")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool | int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str):
            raise ValueError(f"{what}.{key} must be a string")
        out[str(key)] = item
    return out


def parse_server(
    name: str,
    entry: Any,
    *,
    environ: Mapping[str, str],
    scope: Scope,
    source: str,
) -> McpServerConfig:
    """One ``mcpServers`` entry as a :class:`McpServerConfig`.

    Raises:
        ValueError: the entry has the wrong shape, or names an unset variable
            (the message names the server, not the file).
    """
    if not SERVER_NAME.match(name):
        raise ValueError(f"server name {name!r}: letters, digits, '_' and '-' only (up to 64)")
    if not isinstance(entry, dict):
        raise ValueError(f"server {name!r}: expected an object")
    kind = entry.get("type", "stdio" if "command" in entry or "url" not in entry else "http")
    if kind == "streamable-http":
        kind = "http"
    if kind not in ("stdio", "http", "sse"):
        raise ValueError(f"server {name!r}: type must be stdio, http or sse, got {kind!r}")

    def expand(text: str) -> str:
        try:
            return expand_variables(text, environ)
        except _Unset as exc:
            raise ValueError(f"server {name!r}: {exc}") from None

    if kind == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ValueError(f"server {name!r}: stdio servers need a command")
        return McpServerConfig(
            name=name,
            type="stdio",
            command=expand(command),
            args=tuple(expand(a) for a in _strings(entry.get("args"), f"server {name!r}: args")),
            env={
                k: expand(v)
                for k, v in _string_map(entry.get("env"), f"server {name!r}: env").items()
            },
            scope=scope,
            source=source,
        )
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"server {name!r}: {kind} servers need a url")
    return McpServerConfig(
        name=name,
        type=kind,
        url=expand(url),
        headers={
            k: expand(v)
            for k, v in _string_map(entry.get("headers"), f"server {name!r}: headers").items()
        },
        scope=scope,
        source=source,
    )


# ------------------------------------------------------------------------- files


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def claude_json_path(environ: Mapping[str, str]) -> Path:
    """Claude Code's user file: ``$CLAUDE_CONFIG_DIR/.claude.json`` or ``~/.claude.json``."""
    configured = environ.get("CLAUDE_CONFIG_DIR")
    if configured:
        return Path(configured) / ".claude.json"
    return _home(environ) / ".claude.json"


def claw_mcp_path(environ: Mapping[str, str]) -> Path:
    """claw's own user file for servers ``claw mcp add`` saves (user and local scope)."""
    return Path(environ.get("CLAW_CONFIG_DIR") or _home(environ) / ".claw") / "mcp.json"


def read_json_object(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """A JSON object from ``path``; None if absent, or after noting why it is unusable."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})")
        return None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        problems.append(f"{path}: not valid JSON ({str(exc).splitlines()[0]}); not used")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a JSON object; not used")
        return None
    return data


def _settings_paths(cwd: Path, environ: Mapping[str, str]) -> list[tuple[Path, bool]]:
    """Settings files that may hold ``mcpServers``: ``(path, in the project)``."""
    from claw_runtime.config.settings import settings_files

    return [(f.path, f.in_project) for f in settings_files(cwd, _home(environ), environ)]


def _project_entry(data: Mapping[str, Any], cwd: Path) -> Mapping[str, Any]:
    projects = data.get("projects")
    if not isinstance(projects, dict):
        return {}
    entry = projects.get(str(cwd))
    return entry if isinstance(entry, dict) else {}


def _names(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


@attrs.define
class _Collector:
    environ: Mapping[str, str]
    servers: dict[str, McpServerConfig] = attrs.field(factory=dict)
    project: dict[str, McpServerConfig] = attrs.field(factory=dict)
    """Servers from ``.mcp.json``, subject to the enabled/disabled lists."""
    problems: list[str] = attrs.field(factory=list)

    def add(self, block: Any, *, scope: Scope, source: Path, mcpjson: bool = False) -> None:
        if block is None:
            return
        if not isinstance(block, dict):
            self.problems.append(f"{source}: mcpServers must be an object; not used")
            return
        for name, entry in block.items():
            try:
                server = parse_server(
                    str(name), entry, environ=self.environ, scope=scope, source=str(source)
                )
            except ValueError as exc:
                self.problems.append(f"{source}: {exc}")
                continue
            self.servers.pop(server.name, None)
            self.project.pop(server.name, None)
            (self.project if mcpjson else self.servers)[server.name] = server


def load_mcp_config(
    cwd: Path,
    environ: Mapping[str, str],
    *,
    trusted: bool,
    extra_files: Iterable[str | os.PathLike[str]] = (),
) -> McpConfig:
    """Every MCP server configured for ``cwd``, with the project's own held back until trust.

    Args:
        trusted: whether the user trusts the project (its ``.mcp.json`` and
            project settings may start servers).
        extra_files: ``--mcp-config`` files (``CLAW_MCP_CONFIG`` in ``environ`` adds more).
    """
    collect = _Collector(environ)
    held: list[McpServerConfig] = []
    enabled: list[str] = []
    disabled: list[str] = []
    enable_all = False

    def lists(data: Mapping[str, Any]) -> None:
        nonlocal enable_all
        enabled.extend(_names(data.get("enabledMcpjsonServers")))
        disabled.extend(_names(data.get("disabledMcpjsonServers")))
        enable_all = enable_all or data.get("enableAllProjectMcpServers") is True

    user_files = [claude_json_path(environ), claw_mcp_path(environ)]
    user_data = [(p, read_json_object(p, collect.problems)) for p in user_files]
    for path, data in user_data:
        if data is not None:
            collect.add(data.get("mcpServers"), scope="user", source=path)
    project_settings: list[tuple[Path, dict[str, Any]]] = []
    for path, in_project in _settings_paths(cwd, environ):
        data = read_json_object(path, collect.problems)
        if data is None:
            continue
        if in_project:
            project_settings.append((path, data))
            disabled.extend(_names(data.get("disabledMcpjsonServers")))  # narrowing: always
            if trusted:
                enabled.extend(_names(data.get("enabledMcpjsonServers")))
                enable_all = enable_all or data.get("enableAllProjectMcpServers") is True
        else:
            lists(data)
            collect.add(data.get("mcpServers"), scope="user", source=path)
    mcp_json = cwd / ".mcp.json"
    project_data = read_json_object(mcp_json, collect.problems)
    if project_data is not None:
        if trusted:
            collect.add(
                project_data.get("mcpServers"), scope="project", source=mcp_json, mcpjson=True
            )
        else:
            held.extend(_held(project_data, mcp_json, environ))
    for path, data in project_settings:
        if trusted:
            collect.add(data.get("mcpServers"), scope="project", source=path)
        else:
            held.extend(_held(data, path, environ))
    for path, data in user_data:
        if data is not None:
            local = _project_entry(data, cwd)
            lists(local)
            collect.add(local.get("mcpServers"), scope="local", source=path)
    flag_files = [Path(p) for p in extra_files]
    flag_files += [Path(p) for p in environ.get(MCP_CONFIG_ENV, "").split(os.pathsep) if p]
    for path in flag_files:
        data = read_json_object(path, collect.problems)
        if data is None and not path.exists():
            collect.problems.append(f"--mcp-config {path}: no such file")
        elif data is not None:
            collect.add(data.get("mcpServers"), scope="flag", source=path)
    servers = dict(collect.servers)
    turned_off: list[str] = []
    for name, server in collect.project.items():
        chosen = enable_all or not enabled or name in enabled
        if name in disabled or not chosen:
            turned_off.append(name)
        elif name not in servers:
            servers[name] = server
    return McpConfig(
        servers=servers,
        waiting_for_trust=tuple(held),
        disabled=tuple(turned_off),
        problems=tuple(collect.problems),
    )


def _held(
    data: Mapping[str, Any], source: Path, environ: Mapping[str, str]
) -> list[McpServerConfig]:
    """What an untrusted project's file would start (named, never started)."""
    block = data.get("mcpServers")
    if not isinstance(block, dict):
        return []
    out = []
    for name in block:
        out.append(
            McpServerConfig(
                name=str(name), command="(withheld)", scope="project", source=str(source)
            )
        )
    return out


def project_is_trusted(cwd: Path, environ: Mapping[str, str], trusted_dirs: Iterable[str]) -> bool:
    """Whether the user trusts ``cwd`` (the trust store or ``trustedDirectories`` in user
    settings), as :func:`claw_runtime.config.settings.load_settings` decides it."""
    from claw_runtime.config.trust import TrustStore, trust_file

    store = TrustStore(trust_file(_home(environ), environ))
    return store.is_trusted(cwd, [Path(p) for p in trusted_dirs])


def servers_awaiting_trust(cwd: Path, environ: Mapping[str, str]) -> tuple[str, ...]:
    """``<project>/.mcp.json: mcpServers (a, b)`` when an untrusted project's ``.mcp.json``
    defines servers, for the question whether to trust it (its settings files' own
    ``mcpServers`` are already among what the settings loader withheld)."""
    mcp_json = cwd / ".mcp.json"
    if not mcp_json.is_file():
        return ()
    config = load_mcp_config(cwd, environ, trusted=False)
    names = [s.name for s in config.waiting_for_trust if s.source == str(mcp_json)]
    return (f"{mcp_json}: mcpServers ({', '.join(names)})",) if names else ()
