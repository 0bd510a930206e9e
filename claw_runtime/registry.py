"""What the plugins registered: tools, commands, context processors, providers, skills.

The registry is built once per runtime by calling the ``register_*`` hooks
with a ``register`` callback per plugin, so it knows who registered what. A
second registration under a taken name is a conflict: it is reported against
the plugin that tried it, and the first registration stays. One exception:
an installed plugin's slash command replaces a built-in command of the same
name (``/help`` of your own), since built-ins are defaults.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from claw_runtime.commands import COMMAND_NAME, Command, CommandLoader
from claw_runtime.context.processors import ContextProcessor
from claw_runtime.context.skills import SkillDirectory
from claw_runtime.errors import PluginError
from claw_runtime.plugins import PluginHost
from claw_runtime.providers.base import ProviderFactory
from claw_runtime.tooling import Tool, tool

__all__ = ["Registry", "build_registry"]


@attrs.define(eq=False, kw_only=True)
class Registry:
    """Everything registered, by name, with the plugin that registered it."""

    tools: dict[str, Tool] = attrs.field(factory=dict)
    commands: dict[str, Command] = attrs.field(factory=dict)
    command_loaders: list[CommandLoader] = attrs.field(factory=list)
    """Sources of commands found per session (Markdown files, skills)."""
    skill_dirs: list[SkillDirectory] = attrs.field(factory=list)
    """Folders of skills plugins ship (``register_skills``)."""
    context_processors: list[ContextProcessor] = attrs.field(factory=list)
    providers: dict[str, ProviderFactory] = attrs.field(factory=dict)
    owners: dict[tuple[str, str], str] = attrs.field(factory=dict)
    """``(kind, name) -> plugin`` for everything registered."""

    def registered_by(self, plugin: str) -> dict[str, list[str]]:
        """What one plugin registered, grouped by kind (for ``claw plugins``)."""
        out: dict[str, list[str]] = {}
        for (kind, name), owner in self.owners.items():
            if owner == plugin:
                out.setdefault(kind, []).append(name)
        return out


def _take_name(
    host: PluginHost, registry: Registry, kind: str, name: str, plugin: str, hook: str
) -> bool:
    owner = registry.owners.get((kind, name))
    if owner is not None:
        host.errors.append(
            PluginError(plugin, hook, f"{kind} {name!r} is already registered by {owner!r}")
        )
        return False
    registry.owners[(kind, name)] = plugin
    return True


def _builtin(host: PluginHost, plugin: str) -> bool:
    info = host.infos.get(plugin)
    return info is not None and info.builtin


def build_registry(host: PluginHost) -> Registry:
    """Call every registration hook and collect the results.

    A plugin that registers something of the wrong kind is reported and the
    item skipped; a plugin whose hook raises is disabled by the host.
    """
    registry = Registry()

    def registrar(hook: str, plugin: str, accept: Callable[[Any], None]) -> Callable[[Any], None]:
        def register(item: Any) -> None:
            try:
                accept(item)
            except (TypeError, ValueError) as exc:
                host.errors.append(PluginError(plugin, hook, str(exc)))

        return register

    def call(hook: str, make_accept: Callable[[str], Callable[[Any], None]]) -> None:
        for plugin, function, argnames in host.implementations(hook):
            register = registrar(hook, plugin, make_accept(plugin))
            try:
                function(*[{"register": register}[a] for a in argnames])
            except Exception as exc:
                host.fail(plugin, hook, exc)

    def tools_for(plugin: str) -> Callable[[Any], None]:
        def accept(item: Tool | Callable[..., Awaitable[Any]]) -> None:
            t = item if isinstance(item, Tool) else tool(item)
            if _take_name(host, registry, "tool", t.name, plugin, "register_tools"):
                registry.tools[t.name] = attrs.evolve(t, plugin=plugin)

        return accept

    def commands_for(plugin: str) -> Callable[[Any], None]:
        def accept(item: Command | CommandLoader) -> None:
            hook = "register_commands"
            if isinstance(item, CommandLoader):
                if _take_name(host, registry, "command_loader", item.name, plugin, hook):
                    registry.command_loaders.append(attrs.evolve(item, plugin=plugin))
                return
            if not isinstance(item, Command):
                raise TypeError(f"register_commands expects a Command, got {item!r}")
            if not COMMAND_NAME.fullmatch(item.name):
                raise ValueError(
                    f"command name {item.name!r}: letters, digits, '_', '-' and ':' only, "
                    "without the leading '/'"
                )
            source = item.source or ("built-in" if _builtin(host, plugin) else plugin)
            owner = registry.owners.get(("command", item.name))
            if owner is not None and _builtin(host, owner) and not _builtin(host, plugin):
                del registry.owners[("command", item.name)]  # a plugin's own /help wins
            elif owner is not None and _builtin(host, plugin) and not _builtin(host, owner):
                return  # the plugin registered first (tryfirst) and keeps it
            if _take_name(host, registry, "command", item.name, plugin, hook):
                registry.commands[item.name] = attrs.evolve(item, plugin=plugin, source=source)

        return accept

    def skills_for(plugin: str) -> Callable[[Any], None]:
        def accept(item: str | os.PathLike[str]) -> None:
            if not isinstance(item, str | os.PathLike):
                raise TypeError(f"register_skills expects a directory path, got {item!r}")
            path = Path(item)
            if not path.is_absolute():
                raise ValueError(f"register_skills expects an absolute path, got {str(path)!r}")
            if not path.is_dir():
                raise ValueError(f"skill directory {str(path)!r} does not exist")
            if _take_name(host, registry, "skill_dir", str(path), plugin, "register_skills"):
                registry.skill_dirs.append(SkillDirectory(path=path, plugin=plugin))

        return accept

    def processors_for(plugin: str) -> Callable[[Any], None]:
        def accept(item: ContextProcessor) -> None:
            if not isinstance(item, ContextProcessor):
                raise TypeError(
                    f"register_context_processors expects a ContextProcessor, got {item!r}"
                )
            hook = "register_context_processors"
            if _take_name(host, registry, "context_processor", item.name, plugin, hook):
                registry.context_processors.append(attrs.evolve(item, plugin=plugin))

        return accept

    def providers_for(plugin: str) -> Callable[[Any], None]:
        def accept(item: ProviderFactory) -> None:
            if not isinstance(item, ProviderFactory):
                raise TypeError(f"register_providers expects a ProviderFactory, got {item!r}")
            if _take_name(host, registry, "provider", item.name, plugin, "register_providers"):
                registry.providers[item.name] = item

        return accept

    call("register_tools", tools_for)
    call("register_commands", commands_for)
    call("register_skills", skills_for)
    call("register_context_processors", processors_for)
    call("register_providers", providers_for)
    registry.context_processors.sort(key=lambda p: p.order)
    from claw_runtime.mcp.prompts import MCP_PROMPTS_LOADER

    registry.command_loaders.append(MCP_PROMPTS_LOADER)  # a session's MCP prompts, if any
    return registry
