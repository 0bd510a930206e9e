"""The Runtime: one object that owns the long-lived parts of a claw process.

It holds the plugin host and what plugins registered, the settings, the HTTP
clients (a shared one and each session's own), the event bus and the scheduler
with its root nursery. :func:`open_runtime` builds it and tears it down in the right order:
tasks are cancelled and reaped first, then the bus closes, then HTTP.

:func:`load_plugins` is the synchronous half (no trio, no network) that
``claw plugins`` and ``claw inspect`` use on their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from claw_runtime._groups import sole_error
from claw_runtime._paths import user_path
from claw_runtime.bus import EventBus
from claw_runtime.config.settings import ProviderConfig, Settings
from claw_runtime.context.memory import TRUSTED_DIRECTORIES_KEY
from claw_runtime.errors import PluginError, ProviderConfigError
from claw_runtime.events import Event, PluginFailed
from claw_runtime.gc_tuning import collector_for_runtime
from claw_runtime.http.clients import HttpClients, open_http_clients
from claw_runtime.plugins import PluginHost, make_plugin_host
from claw_runtime.providers.aliases import resolve_model_alias
from claw_runtime.providers.base import (
    Provider,
    ProviderOverrides,
    ProviderSettings,
    RetryPolicy,
)
from claw_runtime.registry import Registry, build_registry
from claw_runtime.scheduler import Scheduler, open_scheduler
from claw_runtime.tooling import SessionState
from claw_runtime.tools._sandbox import SANDBOX_KEY, SandboxConfig
from claw_runtime.watchdog import watch_event_loop

if TYPE_CHECKING:
    from claw_runtime.executor import ToolExecutor
    from claw_runtime.permissions.policy import PermissionPolicy
    from claw_runtime.sessions.session import Session

__all__ = ["DEFAULT_PROVIDER", "Runtime", "load_plugins", "open_runtime"]

DEFAULT_PROVIDER = "anthropic"


def _disabled_plugins(settings: Settings, environ: Mapping[str, str]) -> list[str]:
    names = list(settings.plugins.disabled)
    names += [n.strip() for n in environ.get("CLAW_DISABLE_PLUGINS", "").split(",") if n.strip()]
    return names


def load_plugins(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    no_plugins: bool = False,
    extra_plugins: Sequence[tuple[str, object]] = (),
) -> tuple[PluginHost, Registry]:
    """Load built-ins and installed plugins, then collect what they register."""
    env = os.environ if environ is None else environ
    settings_bound: list[tuple[str, object]] = []
    if settings.hooks:
        from claw_runtime.hooks.command_hooks import CommandHooks

        settings_bound.append(("builtin.command_hooks", CommandHooks.from_settings(settings)))
    host = make_plugin_host(
        disabled=_disabled_plugins(settings, env),
        load_entry_points=not no_plugins,
        extra_plugins=[*settings_bound, *extra_plugins],
    )
    return host, build_registry(host)


@attrs.define(eq=False, kw_only=True)
class Runtime:
    """The long-lived parts of a claw process. Build it with :func:`open_runtime`."""

    settings: Settings
    host: PluginHost
    registry: Registry
    environ: Mapping[str, str]
    clients: HttpClients
    """The HTTP clients: :attr:`http` and each session's own (``clients.for_session()``)."""
    bus: EventBus
    scheduler: Scheduler

    @property
    def http(self) -> httpx.AsyncClient:
        """The runtime's shared HTTP client, for work outside a session."""
        return self.clients.shared

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    def provider_settings(
        self, name: str | None = None, *, model: str | None = None
    ) -> tuple[str, ProviderSettings]:
        """Resolve which provider to use and with what key, URL and model.

        Raises:
            ProviderConfigError: unknown provider, or no credentials configured.
        """
        chosen, overrides = self._provider_overrides(name, model)
        return chosen, self.registry.providers[chosen].resolve_settings(overrides, self.environ)

    def session_provider_settings(
        self, name: str | None = None, *, model: str | None = None
    ) -> tuple[str, ProviderSettings, ProviderConfigError | None]:
        """As :meth:`provider_settings`, but missing credentials are returned, not raised.

        A session opens without credentials (slash commands such as ``/help``
        never call the model); its provider is then an
        :class:`~claw_runtime.providers.unconfigured.UnconfiguredProvider` that
        raises the returned error at the first request. The settings still
        hold the model and URL the provider would use (resolved as if a key
        were set: they do not depend on it).

        Raises:
            ProviderConfigError: an unknown provider, or settings that are wrong
                whatever the credentials.
        """
        chosen, overrides = self._provider_overrides(name, model)
        factory = self.registry.providers[chosen]
        try:
            return chosen, factory.resolve_settings(overrides, self.environ), None
        except ProviderConfigError as missing:
            try:
                placeholder = attrs.evolve(overrides, api_key="unset")
                settings = factory.resolve_settings(placeholder, self.environ)
            except ProviderConfigError:
                raise missing from None
            return chosen, attrs.evolve(settings, api_key=None), missing

    def _provider_overrides(
        self, name: str | None, model: str | None
    ) -> tuple[str, ProviderOverrides]:
        """The provider chosen, and what settings and flags say about it.

        Raises:
            ProviderConfigError: no provider of that name is installed.
        """
        chosen = name or self.settings.provider or DEFAULT_PROVIDER
        factory = self.registry.providers.get(chosen)
        if factory is None:
            known = ", ".join(sorted(self.registry.providers)) or "none"
            raise ProviderConfigError(f"unknown provider {chosen!r}; installed providers: {known}")
        configured = self.settings.providers.get(chosen)
        api_key = None
        if configured is not None and configured.api_key_env:
            api_key = self.environ.get(configured.api_key_env)
        chosen_model = model or self.settings.model or (configured.model if configured else None)
        if chosen_model is not None:
            chosen_model = resolve_model_alias(chosen_model, self.settings.model_aliases)
        overrides = ProviderOverrides(
            model=chosen_model,
            base_url=configured.base_url if configured else None,
            api_key=api_key,
            prompt_caching=configured.prompt_caching if configured else None,
            retry=_retry_policy(configured),
        )
        return chosen, overrides

    def make_provider(
        self, name: str, settings: ProviderSettings, *, http: httpx.AsyncClient | None = None
    ) -> Provider:
        """A provider sending through ``http`` (default: the shared client, :attr:`http`)."""
        return self.registry.providers[name].create(settings, self.http if http is None else http)

    def open_session(self, **options: Any) -> AbstractAsyncContextManager[Session]:
        """Open a :class:`~claw_runtime.sessions.Session` on this runtime.

        The options are those of :func:`claw_runtime.sessions.open_session`
        (``cwd``, ``model``, ``permission_mode``, ``allowed_tools``,
        ``system_prompt``, ``resume``...).
        """
        from claw_runtime.sessions.session import open_session

        return open_session(self, **options)

    def new_session(self, cwd: Path, *, session_id: str | None = None) -> SessionState:
        """A session's state in ``cwd``; its ``env`` is its own copy of :attr:`environ`.

        Settings' ``env`` is applied on top. Tools, command hooks and context
        processors read the session's ``env``, never ``os.environ``, so runtimes
        opened with different environments in one process stay apart.
        """
        roots = [cwd, *(Path(d) for d in self.settings.permissions.additional_directories)]
        session = SessionState(
            session_id=session_id or str(uuid.uuid4()),
            cwd=cwd,
            workspace_roots=roots,
            env={**self.environ, **self.settings.env},
        )
        sandbox = self.settings.sandbox
        session.extras[SANDBOX_KEY] = SandboxConfig(
            enabled=sandbox.enabled, network=sandbox.network
        )
        # The trust the runtime was given (an embedder's Settings too), for the memory rule.
        session.extras[TRUSTED_DIRECTORIES_KEY] = tuple(self.settings.trusted_directories)
        return session

    def tool_executor(self, cwd: Path, policy: PermissionPolicy) -> ToolExecutor:
        """Tool calls with no model behind them (``claw tools call``, ``claw mcp serve``).

        A fresh session state in ``cwd`` under ``policy``, with the runtime's
        tools, hooks, scheduler and HTTP client: the same pipeline a model's
        calls take, so rules and hooks apply the same way.
        """
        from claw_runtime.executor import ToolExecutor

        session = self.new_session(cwd)
        session.permission_mode = policy.mode
        return ToolExecutor(
            tools=self.registry.tools,
            host=self.host,
            session=session,
            permissions=policy,
            scheduler=self.scheduler,
            publish=self.publish,
            http=self.http,
        )


def _retry_policy(configured: ProviderConfig | None) -> RetryPolicy | None:
    """The default policy with the configured model timeouts, or None if none is set."""
    if (
        configured is None
        or (configured.idle_timeout_s, configured.attempt_timeout_s) == (None,) * 2
    ):
        return None
    policy = RetryPolicy()
    if configured.idle_timeout_s is not None:
        policy = attrs.evolve(policy, idle_timeout_s=configured.idle_timeout_s)
    if configured.attempt_timeout_s is not None:
        policy = attrs.evolve(policy, attempt_timeout_s=configured.attempt_timeout_s)
    return policy


async def _deliver_to_plugins(host: PluginHost, bus: EventBus, task_status: Any) -> None:
    """The ``on_event`` hook as a bus subscriber with the drop-with-notice policy."""
    with bus.subscribe("plugins.on_event", policy="drop") as subscription:
        task_status.started()
        async for event in subscription:
            await host.call("on_event", event=event)


@asynccontextmanager
async def open_runtime(
    settings: Settings | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    no_plugins: bool = False,
    extra_plugins: Sequence[tuple[str, object]] = (),
    transport: httpx.AsyncBaseTransport | None = None,
    loaded: tuple[PluginHost, Registry] | None = None,
) -> AsyncIterator[Runtime]:
    """Start a runtime; on exit cancel its tasks, close the bus, close HTTP.

    Args:
        settings: the settings to use; without them, the layered settings files
            for ``cwd`` (default: the current directory) are read, as the CLI does.
        transport: an httpx transport to use instead of the network (tests).
        loaded: plugins already loaded with :func:`load_plugins` (skip loading twice).

    Raises:
        ClawError: as the body raised it; an error inside the runtime's nursery
            leaves as itself, never wrapped in an ``ExceptionGroup``.
    """
    where = user_path(cwd) if cwd is not None else None
    try:
        async with _open_runtime(
            settings, where, environ, no_plugins, extra_plugins, transport, loaded
        ) as runtime:
            yield runtime
    except BaseExceptionGroup as group:
        error = sole_error(group)
        if error is None:
            raise
        raise error from error.__cause__


@asynccontextmanager
async def _open_runtime(
    settings: Settings | None,
    cwd: Path | None,
    environ: Mapping[str, str] | None,
    no_plugins: bool,
    extra_plugins: Sequence[tuple[str, object]],
    transport: httpx.AsyncBaseTransport | None,
    loaded: tuple[PluginHost, Registry] | None,
) -> AsyncIterator[Runtime]:
    env = dict(os.environ if environ is None else environ)
    if settings is None:
        from claw_runtime.config.settings import load_settings

        settings = load_settings(cwd or Path.cwd(), environ=env).settings
    host, registry = loaded or load_plugins(
        settings, environ=env, no_plugins=no_plugins, extra_plugins=extra_plugins
    )
    bus = EventBus()

    def report(error: PluginError) -> None:
        bus.publish_nowait(PluginFailed(plugin=error.plugin, hook=error.hook, reason=error.reason))

    host.on_error = report
    async with (
        open_http_clients(settings.http, transport=transport) as clients,
        watch_event_loop(env),  # warns when a tool or hook blocks the loop (watchdog.py)
        collector_for_runtime(env),  # fewer garbage collections (gc_tuning.py)
    ):
        try:
            async with trio.open_nursery() as services, open_scheduler(bus) as scheduler:
                if host.has_implementations("on_event"):
                    await services.start(_deliver_to_plugins, host, bus)
                try:
                    yield Runtime(
                        settings=settings,
                        host=host,
                        registry=registry,
                        environ=env,
                        clients=clients,
                        bus=bus,
                        scheduler=scheduler,
                    )
                finally:
                    scheduler.cancel_all()
                    services.cancel_scope.cancel()
        finally:
            await bus.aclose()
