"""``claw plugins`` and ``claw inspect``: what is installed and what it registered.

Both load plugins synchronously and print; neither starts trio or touches the
network, so they are safe to run anywhere (CI, a broken config, no API key).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

from claw_runtime._version import __version__
from claw_runtime.cli._setup import CliContext
from claw_runtime.plugins import PluginHost
from claw_runtime.registry import Registry
from claw_runtime.runtime import load_plugins

__all__ = ["build_manifest", "print_manifest", "print_plugins"]


def build_manifest(host: PluginHost, registry: Registry) -> dict[str, Any]:
    """The runtime's manifest: plugins, tools with schemas, commands, hooks, errors."""
    return {
        "version": __version__,
        "plugins": [
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "builtin": info.builtin,
                "hooks": list(info.hooks),
                "registers": registry.registered_by(info.name),
                "error": info.error,
            }
            for info in host.infos.values()
        ],
        "tools": [
            {
                "name": t.name,
                "plugin": t.plugin,
                "read_only": t.read_only,
                "description": t.description,
                "input_schema": t.input_schema,
            }
            for t in sorted(registry.tools.values(), key=lambda t: t.name)
        ],
        "commands": [
            {"name": c.name, "plugin": c.plugin, "description": c.description}
            for c in sorted(registry.commands.values(), key=lambda c: c.name)
        ],
        "context_processors": [
            {"name": p.name, "plugin": p.plugin, "order": p.order}
            for p in registry.context_processors
        ],
        "providers": [
            {
                "name": p.name,
                "plugin": registry.owners.get(("provider", p.name)),
                "description": p.description,
            }
            for p in sorted(registry.providers.values(), key=lambda p: p.name)
        ],
        "hooks": {
            name: [plugin for plugin, _f, _a in host.implementations(name)]
            for name in host.hook_names()
        },
        "errors": [{"plugin": e.plugin, "hook": e.hook, "reason": e.reason} for e in host.errors],
    }


def print_manifest(context: CliContext) -> int:
    host, registry = load_plugins(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    )
    manifest = build_manifest(host, registry)
    loaded = context.loaded
    if loaded is not None:
        manifest["settings"] = {
            "sources": [str(p) for p in loaded.sources],
            "trusted": loaded.trusted,
            "warnings": list(loaded.warnings),
            "notes": list(loaded.notes),
        }
    sys.stdout.buffer.write(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def print_plugins(context: CliContext) -> int:
    host, registry = load_plugins(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    )
    for info in host.infos.values():
        version = info.version or ("built-in" if info.builtin else "?")
        print(f"{info.name} ({version}){'  [built-in]' if info.builtin else ''}")
        if info.error:
            print(f"  error: {info.error}")
            continue
        registered = registry.registered_by(info.name)
        for kind in sorted(registered):
            print(f"  {kind}s: {', '.join(sorted(registered[kind]))}")
        other_hooks = [h for h in info.hooks if not h.startswith("register_")]
        if other_hooks:
            print(f"  hooks: {', '.join(other_hooks)}")
    for error in host.errors:
        if error.plugin not in host.infos or host.infos[error.plugin].error != error.reason:
            print(f"error: {error}")
    return 0
