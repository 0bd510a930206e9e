"""Finding, loading, and calling plugins without letting one break the others.

Bootstrap order follows pluggy's own example host: add the hookspecs, block
what the user disabled, load entry points from the ``claw`` group, register the
built-ins, then ``check_pending()``. A plugin that fails at any step, or later
raises inside a hook, is recorded as a :class:`PluginError`, unregistered, and
the run goes on.

Hooks are called through :class:`PluginHost` rather than ``pm.hook.x(...)``:
it calls each implementation itself (in pluggy's order), awaits the ones that
are async, and isolates failures per plugin.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import attrs
import pluggy

from claw_runtime import entry_points
from claw_runtime._version import __version__
from claw_runtime.errors import PluginError
from claw_runtime.hooks import specs as hookspecs
from claw_runtime.hooks.specs import PROJECT_NAME
from claw_runtime.logs import get_logger

__all__ = ["BUILTIN_PLUGINS", "PluginHost", "PluginInfo", "make_plugin_host"]

log = get_logger(__name__)

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    # (plugin name, module). Each can be disabled by name like any other plugin.
    ("builtin.context", "claw_runtime.context.builtin"),
    ("providers.anthropic", "claw_runtime.providers.anthropic"),
    ("providers.openai", "claw_runtime.providers.openai"),
    ("tools.bash", "claw_runtime.tools.bash"),
    ("tools.read", "claw_runtime.tools.read"),
    ("tools.write", "claw_runtime.tools.write"),
    ("tools.edit", "claw_runtime.tools.edit"),
    ("tools.notebook_edit", "claw_runtime.tools.notebook_edit"),
    ("tools.glob", "claw_runtime.tools.glob"),
    ("tools.grep", "claw_runtime.tools.grep"),
    ("tools.web_fetch", "claw_runtime.tools.web_fetch"),
    ("tools.todo_write", "claw_runtime.tools.todo_write"),
    ("tools.skill", "claw_runtime.tools.skill"),
    ("builtin.commands", "claw_runtime.commands.builtin"),
    ("builtin.markdown_commands", "claw_runtime.commands.markdown"),
    ("builtin.agents", "claw_runtime.agents.builtin"),
    ("tools.task", "claw_runtime.tools.task"),
)
"""The built-in plugins, registered exactly as third-party ones are."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """What ``claw plugins`` shows for one plugin."""

    name: str
    module: str
    version: str | None
    distribution: str | None
    builtin: bool
    hooks: tuple[str, ...] = ()
    error: str | None = None


@attrs.define(eq=False)
class PluginHost:
    """Owns one pluggy ``PluginManager`` and calls hooks safely."""

    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo] = attrs.field(factory=dict)
    errors: list[PluginError] = attrs.field(factory=list)
    on_error: Callable[[PluginError], None] | None = None
    scope: str | None = None
    """Set on a :meth:`scoped` view: whose failures it keeps to itself (``sub-agent x``)."""
    _disabled: set[str] = attrs.field(factory=set)
    """Plugins a scoped view disabled for itself only."""

    def scoped(self, scope: str) -> PluginHost:
        """A view of the same plugins whose failures disable a plugin for the view only.

        A sub-agent calls hooks through one: a plugin raising inside it is
        reported (for that sub-agent) and skipped there, and stays enabled for
        the session and every other sub-agent.
        """
        return PluginHost(
            self.pm,
            infos=self.infos,
            errors=self.errors,
            on_error=self.on_error,
            scope=scope,
            disabled=set(self._disabled),
        )

    # ------------------------------------------------------------- failures

    def fail(self, plugin: str, hook: str | None, exc: BaseException | str) -> PluginError:
        """Record a plugin failure and disable the plugin (in a scoped view: there only)."""
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        if self.scope is not None:
            error = PluginError(plugin, hook, f"{reason} (in {self.scope}; disabled there only)")
            self.errors.append(error)
            log.warning("plugin failed", plugin=plugin, hook=hook, reason=reason, scope=self.scope)
            self._disabled.add(plugin)
            if self.on_error is not None:
                self.on_error(error)
            return error
        error = PluginError(plugin, hook, reason)
        self.errors.append(error)
        log.warning("plugin failed", plugin=plugin, hook=hook, reason=reason)
        obj = self.pm.get_plugin(plugin)
        if obj is not None:
            self.pm.unregister(obj, name=plugin)
        if plugin in self.infos:
            self.infos[plugin] = attrs.evolve(self.infos[plugin], error=error.reason)
        if self.on_error is not None:
            self.on_error(error)
        return error

    # ---------------------------------------------------------------- calls

    def implementations(self, hook: str) -> list[tuple[str, Callable[..., Any], list[str]]]:
        """``(plugin name, function, argnames)`` in call order, for one hook."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        out = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.plugin_name not in self._disabled:
                out.append((impl.plugin_name, impl.function, list(impl.argnames)))
        return out

    async def call(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook whose implementations may be async; non-None ``(plugin, result)`` pairs."""
        results = []
        for plugin, function, argnames in self.implementations(hook):
            try:
                result = function(*[kwargs[a] for a in argnames])
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                self.fail(plugin, hook, exc)
                continue
            if result is not None:
                results.append((plugin, result))
        return results

    def is_active(self, plugin: str | None) -> bool:
        """False once a plugin failed and was disabled (None means "no plugin": active)."""
        if plugin is None:
            return True
        return plugin not in self._disabled and self.pm.get_plugin(plugin) is not None

    def has_implementations(self, hook: str) -> bool:
        """Cheap check so hot paths can skip building hook arguments."""
        caller: pluggy.HookCaller = getattr(self.pm.hook, hook)
        return bool(caller.get_hookimpls())

    def hook_names(self) -> list[str]:
        return sorted(name for name in dir(self.pm.hook) if not name.startswith("_"))


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()))


def make_plugin_host(
    *,
    disabled: Sequence[str] = (),
    load_entry_points: bool = True,
    builtins: Sequence[tuple[str, str]] = BUILTIN_PLUGINS,
    extra_plugins: Sequence[tuple[str, object]] = (),
) -> PluginHost:
    """Build a fresh plugin host: specs, entry points, built-ins, then validation.

    Args:
        disabled: plugin names never to load (``CLAW_DISABLE_PLUGINS``); built-ins too.
        load_entry_points: False for ``--no-plugins`` (built-ins still load).
        builtins: ``(name, module)`` pairs registered as plugins.
        extra_plugins: ``(name, object)`` pairs registered last (tests, embedding).
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm)
    for name in disabled:
        pm.set_blocked(name)

    if load_entry_points:
        for ep in entry_points.find(PROJECT_NAME):
            if pm.is_blocked(ep.name):
                continue
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                version=ep.version,
                distribution=ep.distribution,
                builtin=False,
            )
            host.infos[ep.name] = info
            try:
                obj = ep.load()
                pm.register(obj, name=ep.name)
            except Exception as exc:
                host.fail(ep.name, None, exc)
                continue
            host.infos[ep.name] = attrs.evolve(info, hooks=_hooks_of(pm, obj))

    for name, module_name in builtins:
        if pm.is_blocked(name):
            continue
        info = PluginInfo(
            name=name,
            module=module_name,
            version=__version__,
            distribution="claw-runtime",
            builtin=True,
        )
        host.infos[name] = info
        try:
            module: ModuleType = importlib.import_module(module_name)
            pm.register(module, name=name)
        except Exception as exc:
            host.fail(name, None, exc)
            continue
        host.infos[name] = attrs.evolve(info, hooks=_hooks_of(pm, module))

    for name, obj in extra_plugins:
        if pm.is_blocked(name):
            continue
        host.infos[name] = PluginInfo(
            name=name, module=repr(obj), version=None, distribution=None, builtin=False
        )
        try:
            pm.register(obj, name=name)
        except Exception as exc:
            host.fail(name, None, exc)
            continue
        host.infos[name] = attrs.evolve(host.infos[name], hooks=_hooks_of(pm, obj))

    _check_pending(host)
    return host


def _check_pending(host: PluginHost) -> None:
    """Report (and disable) plugins implementing hooks that do not exist, or wrappers."""
    for name, plugin in list(host.pm.list_name_plugin()):
        if plugin is None:
            continue
        for caller in host.pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper):
                    host.fail(name, caller.name, "wrapper implementations are not supported")
                    break
    try:
        host.pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = host.pm.get_name(exc.plugin) or repr(exc.plugin)
        host.fail(plugin_name, None, str(exc))
        _check_pending(host)
