"""The runtime's extension points in a real run: context processors, providers, on_event."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from claw_runtime import hookimpl
from claw_runtime.config.settings import Settings
from claw_runtime.context.processors import ContextProcessor, PromptContext
from claw_runtime.events import Event, PluginFailed, SessionStarted, TurnFinished, TurnStarted
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.models import Message, Usage
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    ProviderFactory,
    ProviderOverrides,
    ProviderSettings,
    StreamComplete,
    StreamEvent,
)
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.testing import Script, Turn, open_fake_model_server


def make_agent(runtime: Runtime, cwd: Path, provider: str = "anthropic") -> Agent:
    name, settings = runtime.provider_settings(provider)
    return Agent(
        provider=runtime.make_provider(name, settings),
        tools=runtime.registry.tools,
        host=runtime.host,
        session=runtime.new_session(cwd),
        options=AgentOptions(model=settings.model),
        scheduler=runtime.scheduler,
        processors=runtime.registry.context_processors,
        publish=runtime.publish,
        http=runtime.http,
    )


async def test_plugin_context_processors_shape_the_prompt_and_a_broken_one_is_disabled(
    tmp_path: Path,
) -> None:
    (tmp_path / "CLAUDE.md").write_text("Always answer in haiku.")

    async def rules(context: PromptContext) -> None:
        context.system_sections.append("PROJECT RULES: use tabs")

    async def broken(context: PromptContext) -> None:
        raise RuntimeError("processor bug")

    class Rules:
        @hookimpl
        def register_context_processors(self, register: Callable[[ContextProcessor], None]) -> None:
            register(ContextProcessor(name="rules", process=rules, order=50))
            register(ContextProcessor(name="broken", process=broken, order=60))

    async with open_fake_model_server(Script([Turn.say("ok"), Turn.say("again")])) as server:
        env = {
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "k",
            "CLAW_CONFIG_DIR": str(tmp_path / "h"),
        }
        async with open_runtime(
            Settings(), environ=env, no_plugins=True, extra_plugins=[("rules", Rules())]
        ) as runtime:
            agent = make_agent(runtime, tmp_path)
            first = await agent.run("hi")
            await agent.run("more")
            errors = [(e.plugin, e.reason) for e in runtime.host.errors]
    assert not first.is_error
    system = server.requests[0].body["system"][0]["text"]
    assert "PROJECT RULES: use tabs" in system
    assert "Always answer in haiku." in system  # the built-in memory processor read CLAUDE.md
    assert f"Working directory: {tmp_path}" in system
    assert errors == [("rules", "RuntimeError: processor bug")]
    # Disabled after failing: the second turn has no sections from the rules plugin at all.
    assert "PROJECT RULES" not in server.requests[1].body["system"][0]["text"]


@attrs.define
class CannedProvider:
    """A provider that answers without any HTTP (a plugin could wrap a local model)."""

    settings: ProviderSettings
    name: str = "canned"
    seen: list[ModelRequest] = attrs.field(factory=list)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        self.seen.append(request)
        yield StreamComplete(
            message=Message.assistant(f"canned reply from {self.settings.model}"),
            stop_reason="end_turn",
            usage=Usage(input_tokens=1, output_tokens=1),
            model=self.settings.model,
        )


def test_a_plugin_provider_is_chosen_by_name(tmp_path: Path) -> None:
    def resolve(overrides: ProviderOverrides, environ: Mapping[str, str]) -> ProviderSettings:
        return ProviderSettings(model=overrides.model or environ.get("CANNED_MODEL", "canned-1"))

    def create(settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
        return CannedProvider(settings)

    class Canned:
        @hookimpl
        def register_providers(self, register: Callable[[ProviderFactory], None]) -> None:
            register(ProviderFactory(name="canned", create=create, resolve_settings=resolve))

    async def main() -> str:
        settings = Settings(provider="canned")
        env = {"CANNED_MODEL": "canned-7"}
        async with open_runtime(
            settings, environ=env, no_plugins=True, extra_plugins=[("canned", Canned())]
        ) as runtime:
            assert runtime.registry.owners[("provider", "canned")] == "canned"
            result = await make_agent(runtime, tmp_path, provider="canned").run("hi")
        return result.result

    assert trio.run(main) == "canned reply from canned-7"


async def test_on_event_sees_the_run_and_a_failing_observer_is_disabled(tmp_path: Path) -> None:
    seen: list[str] = []

    class Observer:
        @hookimpl
        async def on_event(self, event: Event) -> None:
            seen.append(event.type)

    class Crashy:
        @hookimpl
        def on_event(self, event: Event) -> None:
            raise ValueError("observer bug")

    async with open_fake_model_server(Script([Turn.say("hello")])) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        plugins = [("observer", Observer()), ("crashy", Crashy())]
        async with open_runtime(
            Settings(), environ=env, no_plugins=True, extra_plugins=plugins
        ) as runtime:
            with runtime.bus.subscribe("test", policy="block", buffer=1000) as watch:
                agent = make_agent(runtime, tmp_path)
                await runtime.publish(
                    SessionStarted(
                        session_id="s", cwd=str(tmp_path), model="m", provider="p", tools=()
                    )
                )
                await agent.run("hi")
                with trio.fail_after(5):
                    while TurnFinished.type not in seen:
                        await trio.sleep(0.01)
                failures = []
                while True:
                    try:
                        event = watch._receive.receive_nowait()
                    except trio.WouldBlock:
                        break
                    if isinstance(event, PluginFailed):
                        failures.append(event)
    assert seen[0] == SessionStarted.type
    assert TurnStarted.type in seen and TurnFinished.type in seen
    assert [(f.plugin, f.hook) for f in failures] == [("crashy", "on_event")]


async def test_tools_of_a_plugin_that_failed_become_unavailable(tmp_path: Path) -> None:
    from claw_runtime import tool
    from claw_runtime.testing import ToolCallSpec

    @tool(name="Fragile", read_only=True)
    async def fragile() -> str:
        """Works until its plugin breaks."""
        return "fine"

    class FragilePlugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(fragile)

        @hookimpl
        def session_start(self) -> None:
            raise RuntimeError("startup bug")

    turns = [Turn.call(ToolCallSpec("Fragile", {})), Turn.say("ok")]
    async with open_fake_model_server(Script(turns)) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        plugins = [("fragile", FragilePlugin())]
        async with open_runtime(
            Settings(), environ=env, no_plugins=True, extra_plugins=plugins
        ) as runtime:
            agent = make_agent(runtime, tmp_path)
            await runtime.host.call("session_start", session=agent.session, source="startup")
            await agent.run("go")
    result = server.requests[1].body["messages"][-1]["content"][0]
    assert result["is_error"] and "its plugin 'fragile' failed" in result["content"][0]["text"]
