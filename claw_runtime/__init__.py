"""claw-runtime: an async, plugin-driven agent harness.

The public API, for plugin authors and embedders::

    from claw_runtime import hookimpl, tool, ToolContext

Names are imported lazily (PEP 562), so ``claw --version`` stays fast: nothing
heavy is imported until a name is used.
"""

from __future__ import annotations

import importlib

from claw_runtime._httpx_cli import defer_httpx_cli
from claw_runtime._version import __version__

defer_httpx_cli()

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs ``claw --version``

if TYPE_CHECKING:
    from claw_runtime.agents.definitions import AgentDefinition
    from claw_runtime.aio import run_asyncio
    from claw_runtime.bus import EventBus, Subscription
    from claw_runtime.commands import Command, CommandLoader, CommandResult
    from claw_runtime.context.compaction import CompactionError, CompactionOutcome
    from claw_runtime.context.processors import ContextProcessor, PromptContext
    from claw_runtime.embed import run_sync
    from claw_runtime.errors import (
        ClawError,
        ConfigError,
        PluginError,
        ProviderError,
        TaskCancelled,
        TaskFailed,
        TaskTimedOut,
        ToolError,
        ToolInputError,
    )
    from claw_runtime.events import (
        Compacted,
        CompactionFailed,
        CompactionStarted,
        Event,
        EventsDropped,
        McpServerStatus,
        ModelRetry,
        PluginFailed,
        SessionEnded,
        SessionStarted,
        SubagentFinished,
        SubagentStarted,
        TaskStateChanged,
        TextDelta,
        ThinkingDelta,
        ToolCallFinished,
        ToolCallStarted,
        TurnFinished,
        TurnStarted,
    )
    from claw_runtime.executor import ToolExecution, ToolExecutor
    from claw_runtime.hooks.decisions import (
        PostToolUseOutcome,
        PreToolUseDecision,
        PromptDecision,
        ToolCall,
    )
    from claw_runtime.hooks.specs import hookimpl, hookspec
    from claw_runtime.loop import Agent, AgentOptions, RunResult
    from claw_runtime.models import (
        ImageBlock,
        Message,
        TaskState,
        TextBlock,
        ThinkingBlock,
        ToolResultBlock,
        ToolSpec,
        ToolUseBlock,
        Usage,
    )
    from claw_runtime.providers.base import ModelRequest, Provider, ProviderFactory
    from claw_runtime.runtime import Runtime, open_runtime
    from claw_runtime.scheduler import Scheduler, TaskHandle, open_scheduler
    from claw_runtime.sessions import LoadedSession, SessionNotFound
    from claw_runtime.sessions.session import Session, open_session
    from claw_runtime.tooling import Param, SessionState, Tool, ToolContext, tool

_EXPORTS: dict[str, str] = {
    "AgentDefinition": "claw_runtime.agents.definitions",
    "Compacted": "claw_runtime.events",
    "CompactionFailed": "claw_runtime.events",
    "CompactionStarted": "claw_runtime.events",
    "Event": "claw_runtime.events",
    "EventsDropped": "claw_runtime.events",
    "McpServerStatus": "claw_runtime.events",
    "ModelRetry": "claw_runtime.events",
    "PluginFailed": "claw_runtime.events",
    "SessionEnded": "claw_runtime.events",
    "SessionStarted": "claw_runtime.events",
    "SubagentFinished": "claw_runtime.events",
    "SubagentStarted": "claw_runtime.events",
    "TaskStateChanged": "claw_runtime.events",
    "TextDelta": "claw_runtime.events",
    "ThinkingDelta": "claw_runtime.events",
    "ToolCallFinished": "claw_runtime.events",
    "ToolCallStarted": "claw_runtime.events",
    "TurnFinished": "claw_runtime.events",
    "TurnStarted": "claw_runtime.events",
    "Agent": "claw_runtime.loop",
    "AgentOptions": "claw_runtime.loop",
    "ClawError": "claw_runtime.errors",
    "Command": "claw_runtime.commands",
    "CommandLoader": "claw_runtime.commands",
    "CommandResult": "claw_runtime.commands",
    "CompactionError": "claw_runtime.context.compaction",
    "CompactionOutcome": "claw_runtime.context.compaction",
    "ConfigError": "claw_runtime.errors",
    "ContextProcessor": "claw_runtime.context.processors",
    "EventBus": "claw_runtime.bus",
    "ImageBlock": "claw_runtime.models",
    "Message": "claw_runtime.models",
    "ModelRequest": "claw_runtime.providers.base",
    "Param": "claw_runtime.tooling",
    "PluginError": "claw_runtime.errors",
    "PostToolUseOutcome": "claw_runtime.hooks.decisions",
    "PreToolUseDecision": "claw_runtime.hooks.decisions",
    "PromptContext": "claw_runtime.context.processors",
    "PromptDecision": "claw_runtime.hooks.decisions",
    "Provider": "claw_runtime.providers.base",
    "ProviderError": "claw_runtime.errors",
    "ProviderFactory": "claw_runtime.providers.base",
    "RunResult": "claw_runtime.loop",
    "Runtime": "claw_runtime.runtime",
    "Scheduler": "claw_runtime.scheduler",
    "Session": "claw_runtime.sessions.session",
    "SessionNotFound": "claw_runtime.sessions",
    "SessionState": "claw_runtime.tooling",
    "LoadedSession": "claw_runtime.sessions",
    "Subscription": "claw_runtime.bus",
    "TaskCancelled": "claw_runtime.errors",
    "TaskFailed": "claw_runtime.errors",
    "TaskHandle": "claw_runtime.scheduler",
    "TaskState": "claw_runtime.models",
    "TaskTimedOut": "claw_runtime.errors",
    "TextBlock": "claw_runtime.models",
    "ThinkingBlock": "claw_runtime.models",
    "Tool": "claw_runtime.tooling",
    "ToolExecution": "claw_runtime.executor",
    "ToolExecutor": "claw_runtime.executor",
    "ToolCall": "claw_runtime.hooks.decisions",
    "ToolContext": "claw_runtime.tooling",
    "ToolError": "claw_runtime.errors",
    "ToolInputError": "claw_runtime.errors",
    "ToolResultBlock": "claw_runtime.models",
    "ToolSpec": "claw_runtime.models",
    "ToolUseBlock": "claw_runtime.models",
    "Usage": "claw_runtime.models",
    "hookimpl": "claw_runtime.hooks.specs",
    "hookspec": "claw_runtime.hooks.specs",
    "open_runtime": "claw_runtime.runtime",
    "open_session": "claw_runtime.sessions.session",
    "run_asyncio": "claw_runtime.aio",
    "run_sync": "claw_runtime.embed",
    "open_scheduler": "claw_runtime.scheduler",
    "tool": "claw_runtime.tooling",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'claw_runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
