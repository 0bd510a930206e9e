"""``claw -p PROMPT`` / ``claw run PROMPT``: one run, no questions, a result, an exit code.

Signals (SIGINT from Ctrl-C, SIGTERM, SIGHUP when the terminal or SSH session
closes) are handled alike. The first one while the agent runs cancels the
run's task: tool processes are killed, unfinished tool calls get "aborted"
results, the transcript stays valid, and the result says the run was cancelled.
A second signal, or one while a SessionStart or SessionEnd hook runs, stops at
once: the hook's processes are killed, later session hooks are skipped, and the
result is written. Either way the exit code is 130. SessionEnd hooks get
``CLAW_SESSION_END_TIMEOUT`` seconds (default 10) in all, then are stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.render import Renderer, make_renderer
from claw_runtime.config import Settings
from claw_runtime.errors import ClawError, ConfigError, TaskCancelled, TaskError
from claw_runtime.events import SessionEnded, SessionStarted
from claw_runtime.loop import Agent, AgentOptions, Approver, RunResult
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.session import agent_options_from_settings, session_start_context
from claw_runtime.transcript import Transcript, transcript_path

__all__ = ["Interrupts", "agent_options", "execute_run", "run_headless", "session_end_timeout"]

EXIT_CANCELLED = 130
"""Any run a signal stopped: SIGINT (Ctrl-C), SIGTERM or SIGHUP."""

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

SESSION_END_TIMEOUT_S = 10.0
"""How long SessionEnd hooks may take before they are stopped (CLAW_SESSION_END_TIMEOUT)."""


def agent_options(
    settings: Settings, model: str, args: argparse.Namespace, project: Path
) -> AgentOptions:
    """Settings (flags already layered in) as loop options: the core's, from the flags.

    Raises:
        ConfigError: a permission rule is malformed, or bypass mode is turned off.
    """
    return agent_options_from_settings(
        settings,
        model=model,
        project=project,
        system_prompt=getattr(args, "system_prompt", None),
        append_system_prompt=getattr(args, "append_system_prompt", None),
        thinking_budget=getattr(args, "thinking_budget", None),
    )


@attrs.define(eq=False)
class Interrupts:
    """SIGINT, SIGTERM and SIGHUP during a headless run, and what each one stops.

    * The first signal while the agent runs cancels the agent's task
      (``graceful``): tool processes are killed, unfinished calls get "aborted"
      results, the run ends with stop reason ``cancelled``.
    * Any other signal (the second one, or one while a SessionStart or
      SessionEnd hook runs, or between phases) stops at once: every
      :meth:`cancellable` scope open now or opened later is cancelled.
    """

    received: list[int] = attrs.field(factory=list)
    graceful: Callable[[], None] | None = None
    hurry: bool = False
    """A signal asked to stop at once: skip whatever is left that may wait."""
    _scopes: list[trio.CancelScope] = attrs.field(factory=list)

    def handle(self, signum: int) -> None:
        self.received.append(signum)
        if self.graceful is not None:
            graceful, self.graceful = self.graceful, None
            graceful()
            return
        self.hurry = True
        for scope in self._scopes:
            scope.cancel()

    @contextlib.contextmanager
    def cancellable(self, timeout: float | None = None) -> Iterator[trio.CancelScope]:
        """A scope a signal cancels (at once if one already asked to hurry), or ``timeout``."""
        scope = trio.CancelScope()
        if timeout is not None:
            scope.deadline = trio.current_time() + timeout
        if self.hurry:
            scope.cancel()
        self._scopes.append(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.remove(scope)

    async def watch(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Receive the signals until cancelled (``nursery.start`` it)."""
        with trio.open_signal_receiver(*HANDLED_SIGNALS) as signals:
            task_status.started()
            async for signum in signals:
                self.handle(signum)


def session_end_timeout(environ: Mapping[str, str]) -> float:
    """``CLAW_SESSION_END_TIMEOUT`` in seconds (default 10).

    Raises:
        ConfigError: not a positive finite number.
    """
    raw = environ.get("CLAW_SESSION_END_TIMEOUT", "").strip()
    if not raw:
        return SESSION_END_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"CLAW_SESSION_END_TIMEOUT must be a positive number of seconds, got {raw!r}"
        )
    return value


async def execute_run(
    runtime: Runtime,
    context: CliContext,
    args: argparse.Namespace,
    prompt: str,
    renderer: Renderer,
    *,
    write_transcript: bool = True,
    approver: Approver | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult | None:
    """Run one prompt to completion on ``runtime``; None if it could not start.

    Without ``interrupts`` the run watches SIGINT, SIGTERM and SIGHUP itself.
    """
    try:
        provider_name, provider_settings = runtime.provider_settings()
        options = agent_options(runtime.settings, provider_settings.model, args, context.cwd)
        end_timeout = session_end_timeout(context.environ)
    except ClawError as exc:
        print(f"claw: {exc}", file=sys.stderr)
        return None
    provider = runtime.make_provider(provider_name, provider_settings)
    session = runtime.new_session(context.cwd)
    transcript = Transcript(
        transcript_path(context.cwd, session.session_id, context.environ)
        if write_transcript
        else None,
        session_id=session.session_id,
        cwd=str(context.cwd),
        warn=_warn,
    )
    transcript.open()
    session.extras["transcript_path"] = str(transcript.path or "")
    agent = Agent(
        provider=provider,
        tools=runtime.registry.tools,
        host=runtime.host,
        session=session,
        options=options,
        scheduler=runtime.scheduler,
        processors=runtime.registry.context_processors,
        publish=runtime.publish,
        transcript=transcript,
        http=runtime.http,
        approver=approver,
    )
    make_result = agent.result
    async with trio.open_nursery() as nursery:
        if interrupts is None:
            interrupts = Interrupts()
            await nursery.start(interrupts.watch)
        await nursery.start(renderer.consume, runtime.bus)
        await runtime.publish(
            SessionStarted(
                session_id=session.session_id,
                cwd=str(session.cwd),
                model=provider_settings.model,
                provider=provider_name,
                tools=tuple(sorted(runtime.registry.tools)),
            )
        )
        result: RunResult | None = None
        started: list[tuple[str, object]] = []
        with interrupts.cancellable():
            started = await runtime.host.call("session_start", session=session, source="startup")
        if not interrupts.hurry:
            ended_by_hook = session_start_context(agent, started)
            handle = runtime.scheduler.spawn(
                _run_unless_ended, agent, prompt, ended_by_hook, name="agent"
            )
            agent.parent_task = handle
            interrupts.graceful = handle.cancel
            with interrupts.cancellable():  # a second signal stops waiting for the agent
                try:
                    result = await handle.result()
                except TaskCancelled:
                    pass
                except TaskError as exc:
                    result = make_result(
                        "error", is_error=True, text=f"The run crashed: {exc.__cause__ or exc}"
                    )
            interrupts.graceful = None
            if result is None:
                handle.cancel()
        if result is None:
            result = make_result("cancelled", is_error=True, text="Cancelled by the user.")
        with trio.CancelScope(shield=True):
            transcript.append("result", result=result)
            transcript.close()
            with interrupts.cancellable(timeout=end_timeout) as ending:
                await runtime.host.call("session_end", session=session, reason=result.stop_reason)
            if ending.cancelled_caught and not interrupts.hurry:
                _warn(f"SessionEnd hooks did not finish within {end_timeout:g} s; stopped them")
            await runtime.publish(
                SessionEnded(
                    session_id=session.session_id,
                    stop_reason=result.stop_reason,
                    num_turns=result.num_turns,
                    usage=result.usage,
                    total_cost_usd=result.total_cost_usd,
                    is_error=result.is_error,
                    result=result.result,
                )
            )
        nursery.cancel_scope.cancel()  # stops the signal watcher; the renderer already ended
    return result


def _warn(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP)
        print(f"claw: warning: {message}", file=sys.stderr)


async def _run_unless_ended(agent: Agent, prompt: str, ended_by_hook: str | None) -> RunResult:
    if ended_by_hook is not None:
        return agent.result("hook_stopped", text=ended_by_hook)
    return await agent.run(prompt)


async def _main(context: CliContext, args: argparse.Namespace, prompt: str) -> int:
    interrupts = Interrupts()
    renderer = make_renderer(args.output_format)
    async with trio.open_nursery() as watcher:
        # Watching from the start: a signal while plugins load or a hook runs is handled too.
        await watcher.start(interrupts.watch)
        async with open_runtime(
            context.settings, environ=context.environ, no_plugins=context.no_plugins
        ) as runtime:
            # A person at a terminal is asked; piped or machine-readable runs are not.
            approver = None
            if args.output_format == "text" and _isatty(sys.stdin):
                from claw_runtime.cli.approval import TerminalApprover

                approver = TerminalApprover()
            result = await execute_run(
                runtime,
                context,
                args,
                prompt,
                renderer,
                write_transcript=not args.no_session,
                approver=approver,
                interrupts=interrupts,
            )
        watcher.cancel_scope.cancel()
    if result is None:
        return 1
    with contextlib.suppress(OSError):  # stdout is gone (the terminal closed): the code tells
        renderer.finish(result)
    if interrupts.received or result.stop_reason == "cancelled":
        return EXIT_CANCELLED
    return 1 if result.is_error else 0


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError):
        return False


def run_headless(context: CliContext, args: argparse.Namespace, prompt: str) -> int:
    return trio.run(_main, context, args, prompt)
