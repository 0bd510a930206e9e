"""``claw -p PROMPT`` / ``claw run PROMPT``: one run, no questions, a result, an exit code.

Ctrl-C (SIGINT) or SIGTERM cancels the run's task: tool processes are
killed, unfinished tool calls get "aborted" results, the transcript stays
valid, and the result says the run was cancelled (exit code 130).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.render import Renderer, make_renderer
from claw_runtime.config import Settings
from claw_runtime.decisions import SessionStartOutcome
from claw_runtime.errors import ClawError, ConfigError, TaskCancelled, TaskError
from claw_runtime.events import SessionEnded, SessionStarted
from claw_runtime.loop import Agent, AgentOptions, Approver, RunResult
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.providers.pricing import ModelPrice
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.transcript import Transcript, transcript_path

__all__ = ["agent_options", "execute_run", "run_headless"]

EXIT_CANCELLED = 130


def agent_options(
    settings: Settings, model: str, args: argparse.Namespace, project: Path
) -> AgentOptions:
    """Settings (flags already layered in) as loop options.

    Raises:
        ConfigError: a permission rule is malformed.
    """
    permissions = settings.permissions
    mode = permissions.default_mode or "default"
    if mode == "bypassPermissions" and permissions.disable_bypass_permissions_mode == "disable":
        raise ConfigError(
            "bypassPermissions is turned off by permissions.disableBypassPermissionsMode in "
            "settings; choose another --permission-mode"
        )
    try:
        policy = PermissionPolicy.from_rules(
            mode,
            allow=permissions.allow,
            deny=permissions.deny,
            ask=permissions.ask,
            project=project,
        )
    except ValueError as exc:
        raise ConfigError(f"permissions: {exc}") from None
    thinking = getattr(args, "thinking_budget", None)
    return AgentOptions(
        model=model,
        max_turns=settings.max_turns,
        max_budget_usd=settings.max_budget_usd,
        max_budget_tokens=settings.max_budget_tokens,
        system_prompt=getattr(args, "system_prompt", None),
        thinking_budget=thinking,
        # Anthropic requires max_tokens above the thinking budget.
        max_tokens=max(8192, (thinking or 0) + 4096),
        append_system_prompt=getattr(args, "append_system_prompt", None),
        permissions=policy,
        prices=_price_overrides(settings),
    )


def _price_overrides(settings: Settings) -> dict[str, ModelPrice] | None:
    if not settings.prices:
        return None
    return {
        prefix: ModelPrice(
            input=p.input,
            output=p.output,
            cache_write=p.cache_write if p.cache_write is not None else p.input * 1.25,
            cache_read=p.cache_read if p.cache_read is not None else p.input * 0.1,
        )
        for prefix, p in settings.prices.items()
    }


async def execute_run(
    runtime: Runtime,
    context: CliContext,
    args: argparse.Namespace,
    prompt: str,
    renderer: Renderer,
    *,
    write_transcript: bool = True,
    approver: Approver | None = None,
) -> RunResult | None:
    """Run one prompt to completion on ``runtime``; None if it could not start."""
    try:
        provider_name, provider_settings = runtime.provider_settings()
        options = agent_options(runtime.settings, provider_settings.model, args, context.cwd)
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
    )
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
    async with trio.open_nursery() as nursery:
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
        started = await runtime.host.call("session_start", session=session, source="startup")
        ended_by_hook = _session_start_context(agent, started)
        handle = runtime.scheduler.spawn(
            _run_unless_ended, agent, prompt, ended_by_hook, name="agent"
        )
        agent.parent_task = handle
        nursery.start_soon(_cancel_on_signal, handle.cancel)
        try:
            result = await handle.result()
        except TaskCancelled:
            result = agent.result("cancelled", is_error=True, text="Cancelled by the user.")
        except TaskError as exc:
            result = agent.result(
                "error", is_error=True, text=f"The run crashed: {exc.__cause__ or exc}"
            )
        with trio.CancelScope(shield=True):
            transcript.append("result", result=result)
            transcript.close()
            await runtime.host.call("session_end", session=session, reason=result.stop_reason)
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


def _session_start_context(agent: Agent, answers: list[tuple[str, object]]) -> str | None:
    """SessionStart answers: context for the whole session; why a hook ended the run, if one did."""
    ended = None
    for _plugin, answer in answers:
        if isinstance(answer, SessionStartOutcome):
            if answer.additional_context:
                agent.session_context.append(answer.additional_context)
            ended = ended or answer.end_run
        elif isinstance(answer, str) and answer.strip():
            agent.session_context.append(answer)
    return ended


async def _run_unless_ended(agent: Agent, prompt: str, ended_by_hook: str | None) -> RunResult:
    if ended_by_hook is not None:
        return agent.result("hook_stopped", text=ended_by_hook)
    return await agent.run(prompt)


async def _cancel_on_signal(cancel: Callable[[], None]) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            cancel()
            return


async def _main(context: CliContext, args: argparse.Namespace, prompt: str) -> int:
    renderer = make_renderer(args.output_format)
    async with open_runtime(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    ) as runtime:
        # A person at a terminal is asked; piped or machine-readable runs are not.
        approver = None
        if args.output_format == "text" and sys.stdin.isatty():
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
        )
    if result is None:
        return 1
    renderer.finish(result)
    if result.stop_reason == "cancelled":
        return EXIT_CANCELLED
    return 1 if result.is_error else 0


def run_headless(context: CliContext, args: argparse.Namespace, prompt: str) -> int:
    return trio.run(_main, context, args, prompt)
