"""What the plugins registered: tools, commands, context processors and providers.

The registry is built once per runtime by calling the four ``register_*``
hooks with a ``register`` callback per plugin, so it knows who registered what.
A second registration under a taken name is a conflict: it is reported against
the plugin that tried it, and the first registration stays.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from claw_runtime.commands import Command
from claw_runtime.context import ContextProcessor
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
        def accept(item: Command) -> None:
            if not isinstance(item, Command):
                raise TypeError(f"register_commands expects a Command, got {item!r}")
            if _take_name(host, registry, "command", item.name, plugin, "register_commands"):
                registry.commands[item.name] = attrs.evolve(item, plugin=plugin)

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
    call("register_context_processors", processors_for)
    call("register_providers", providers_for)
    registry.context_processors.sort(key=lambda p: p.order)
    return registry
