"""``claw mcp list | get | add | remove | serve``: the MCP servers claw starts, and claw as one.

``add`` and ``remove`` write Claude Code's shapes to claw's own files, never to
Claude Code's ``~/.claude.json``:

* ``-s local`` (the default): ``~/.claw/mcp.json``, under ``projects.<this project>``;
  yours, for this project only.
* ``-s user``: ``~/.claw/mcp.json``, top-level ``mcpServers``; every project.
* ``-s project``: ``.mcp.json`` in the project, for everyone who clones it (each of
  them trusts the project before it starts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the parser is built for every claw command: nothing more at import
    from claw_runtime.cli._setup import CliContext
    from claw_runtime.mcp.config import McpConfig, McpServerConfig

__all__ = ["add_mcp_parser", "run_mcp_command"]

SCOPES = ("local", "user", "project")


def add_mcp_parser(sub: Any, add_common: Any) -> None:
    from claw_runtime.cli.app import PERMISSION_MODES

    """The ``claw mcp`` subcommand and its actions (called by :func:`cli.app.build_parser`)."""
    mcp = sub.add_parser("mcp", help="MCP servers: list, get, add, remove; serve claw's tools")
    add_common(mcp)
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="configured servers and whether they start")
    add_common(listing)
    get = actions.add_parser("get", help="one server: where it is configured, its tools")
    get.add_argument("name")
    add_common(get)
    add = actions.add_parser(
        "add",
        help="add a server: claw mcp add NAME -- COMMAND [ARGS...], or -t http NAME URL",
    )
    add.add_argument("name")
    add.add_argument("command_or_url", help="the command to run, or the server's URL")
    add.add_argument("server_args", nargs=argparse.REMAINDER, help="the command's arguments")
    add.add_argument("-s", "--scope", choices=SCOPES, default="local")
    add.add_argument("-t", "--transport", choices=("stdio", "http", "sse"), default="stdio")
    add.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE")
    add.add_argument("-H", "--header", action="append", default=[], metavar="'Name: value'")
    add_common(add)
    remove = actions.add_parser("remove", help="remove a server claw's files or .mcp.json define")
    remove.add_argument("name")
    remove.add_argument("-s", "--scope", choices=SCOPES, default=None)
    add_common(remove)
    serve = actions.add_parser("serve", help="serve claw's tools to MCP clients (stdio)")
    serve.add_argument(
        "--http", type=int, metavar="PORT", default=None, help="Streamable HTTP on 127.0.0.1:PORT"
    )
    serve.add_argument(
        "--permission-mode",
        choices=PERMISSION_MODES,
        default=argparse.SUPPRESS,
        help="the mode calls are checked in (nobody is asked: a call that needs approval "
        "is refused)",
    )
    add_common(serve)


def _config(context: CliContext) -> McpConfig:
    from claw_runtime.mcp.config import load_mcp_config

    trusted = context.loaded.trusted if context.loaded is not None else False
    return load_mcp_config(context.cwd, context.environ, trusted=trusted)


def _fail(message: str) -> int:
    print(f"claw: {message}", file=sys.stderr)
    return 1


def run_mcp_command(context: CliContext, args: argparse.Namespace) -> int:
    action = args.mcp_command
    if action == "list":
        return _list(context)
    if action == "get":
        return _get(context, args.name)
    if action == "add":
        return _add(context, args)
    if action == "remove":
        return _remove(context, args.name, args.scope)
    if action == "serve":
        from claw_runtime.mcp.serve import run_serve

        return run_serve(context, args)
    return _fail(f"unknown mcp action {action!r}")


def _probe(context: CliContext, servers: dict[str, McpServerConfig]) -> list[Any]:
    import trio

    from claw_runtime.mcp.probe import probe_servers

    return trio.run(probe_servers, servers, context.cwd, context.environ)


def _list(context: CliContext) -> int:
    config = _config(context)
    for problem in config.problems:
        print(f"claw: warning: {problem}", file=sys.stderr)
    if not config.servers and not config.waiting_for_trust:
        print("No MCP servers configured. Add one with: claw mcp add NAME -- COMMAND [ARGS...]")
        return 0
    for server, status, _tools in _probe(context, dict(config.servers)):
        print(f"{server.name}: {server.describe()} - {status}")
    for server in config.waiting_for_trust:
        print(f"{server.name}: (from {server.source}) - not started: the project is not trusted")
    return 0


def _get(context: CliContext, name: str) -> int:
    config = _config(context)
    server = config.servers.get(name)
    if server is None:
        if any(s.name == name for s in config.waiting_for_trust):
            return _fail(f"MCP server {name} is defined by this project, which is not trusted")
        return _fail(f"no MCP server named {name} (claw mcp list shows them)")
    print(f"{server.name}:")
    print(f"  scope: {server.scope} ({server.source})")
    print(f"  type: {server.type}")
    if server.type == "stdio":
        print(f"  command: {server.command}")
        print(f"  args: {' '.join(server.args)}")
        if server.env:
            print(f"  env: {', '.join(f'{k}=…' for k in sorted(server.env))}")
    else:
        print(f"  url: {server.url}")
        if server.headers:
            print(f"  headers: {', '.join(f'{k}: …' for k in sorted(server.headers))}")
    ((_server, status, tools),) = _probe(context, {name: server})
    print(f"  status: {status}")
    for tool_name in tools:
        print(f"  tool: mcp__{name}__{tool_name}")
    return 0


def _target(context: CliContext, scope: str) -> tuple[Path, list[str]]:
    """The file a scope writes, and the key path of its ``mcpServers`` object."""
    from claw_runtime.mcp.config import claw_mcp_path

    if scope == "project":
        return context.cwd / ".mcp.json", ["mcpServers"]
    path = claw_mcp_path(context.environ)
    if scope == "user":
        return path, ["mcpServers"]
    return path, ["projects", str(context.cwd), "mcpServers"]


def _block(data: dict[str, Any], keys: list[str], create: bool) -> dict[str, Any] | None:
    here = data
    for key in keys:
        nxt = here.get(key)
        if not isinstance(nxt, dict):
            if not create:
                return None
            nxt = here[key] = {}
        here = nxt
    return here


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _options_after(args: argparse.Namespace) -> list[str]:
    """Options written after NAME and COMMAND/URL (``-H "..."`` as Claude Code allows), folded
    into ``args``; returns the server command's own arguments (everything after ``--`` too)."""
    given = list(args.server_args or [])
    before, after = (
        (given[: given.index("--")], given[given.index("--") + 1 :])
        if ("--" in given)
        else (given, [])
    )
    late = argparse.ArgumentParser(add_help=False)
    late.add_argument("-s", "--scope", choices=SCOPES)
    late.add_argument("-t", "--transport", choices=("stdio", "http", "sse"))
    late.add_argument("-e", "--env", action="append", default=[])
    late.add_argument("-H", "--header", action="append", default=[])
    found, command_args = late.parse_known_args(before)
    args.scope = found.scope or args.scope
    args.transport = found.transport or args.transport
    args.env = [*args.env, *found.env]
    args.header = [*args.header, *found.header]
    return [*command_args, *after]


def _add(context: CliContext, args: argparse.Namespace) -> int:
    from claw_runtime.mcp.config import parse_server, read_json_object

    rest = _options_after(args)
    if args.transport != "stdio" and rest:
        return _fail(f"unexpected arguments after the URL: {' '.join(rest)}")
    entry: dict[str, Any]
    if args.transport == "stdio":
        entry = {"command": args.command_or_url, "args": rest}
        env = {}
        for item in args.env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                return _fail(f"-e {item!r}: expected KEY=VALUE")
            env[key] = value
        if env:
            entry["env"] = env
    else:
        entry = {"type": args.transport, "url": args.command_or_url}
        headers = {}
        for item in args.header:
            key, sep, value = item.partition(":")
            if not sep or not key.strip():
                return _fail(f"-H {item!r}: expected 'Name: value'")
            headers[key.strip()] = value.strip()
        if headers:
            entry["headers"] = headers
    try:  # the same checks a session makes, against a ${VAR}-free environment of its own
        parse_server(args.name, entry, environ=_Lenient(), scope="user", source="")
    except ValueError as exc:
        return _fail(str(exc))
    path, keys = _target(context, args.scope)
    problems: list[str] = []
    data = read_json_object(path, problems)
    if problems:
        return _fail(problems[0])
    data = data if data is not None else {}
    block = _block(data, keys, create=True)
    assert block is not None
    replaced = args.name in block
    block[args.name] = entry
    _write(path, data)
    verb = "Replaced" if replaced else "Added"
    print(f"{verb} MCP server {args.name} ({args.scope} scope) in {path}")
    return 0


class _Lenient(dict[str, str]):
    """An environment in which every ``${VAR}`` is set (``add`` checks shape, not values)."""

    def get(self, key: str, default: Any = None) -> str:
        return "x"


def _remove(context: CliContext, name: str, scope: str | None) -> int:
    from claw_runtime.mcp.config import read_json_object

    for candidate in (scope,) if scope else SCOPES:
        path, keys = _target(context, candidate)
        problems: list[str] = []
        data = read_json_object(path, problems)
        if data is None:
            continue
        block = _block(data, keys, create=False)
        if block is None or name not in block:
            continue
        del block[name]
        _write(path, data)
        print(f"Removed MCP server {name} ({candidate} scope) from {path}")
        return 0
    configured = _config(context).servers.get(name)
    if configured is not None:
        return _fail(
            f"MCP server {name} is defined in {configured.source}, which claw does not edit; "
            "remove it there"
        )
    return _fail(f"no MCP server named {name} in claw's files or .mcp.json")
