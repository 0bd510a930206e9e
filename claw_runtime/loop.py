"""The agent loop: prompt -> model stream -> tool calls -> results -> model, until done.

One :class:`Agent` holds one conversation. :meth:`Agent.run` sends a prompt
and keeps going while the model asks for tools. The invariants it keeps:

* The assistant message is written to the transcript before any of its tools
  run, so a crash mid-tool never loses what the model asked for.
* Every ``tool_use`` gets exactly one ``tool_result`` (success, error, denial,
  timeout or cancellation: "aborted"), so the next request is always valid.
* Nothing from a failed attempt runs: providers only hand over a message that
  arrived complete with its end marker.
* Read-only tools from one message run concurrently (so do tools that only say
  they may, ``concurrent``: an MCP tool with ``readOnlyHint``, still asking for
  permission); tools that change things run one at a time, in the order given.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from claw_runtime.context._inline import for_this_run as inline_while_fast
from claw_runtime.context.processors import ContextProcessor, PromptContext, prepare_session
from claw_runtime.errors import ClawError, ProviderStreamError, TaskError
from claw_runtime.events import (
    Event,
    ModelRetry,
    TextDelta,
    ThinkingDelta,
    TurnFinished,
    TurnStarted,
)
from claw_runtime.executor import (
    Approval,
    Approver,
    PermissionDenial,
    ToolExecutor,
    aborted_result,
    error_result,
)
from claw_runtime.hooks import answers as hook_answers
from claw_runtime.hooks.decisions import PromptDecision
from claw_runtime.logs import get_logger
from claw_runtime.models import Message, TextBlock, ToolResultBlock, ToolSpec, ToolUseBlock, Usage
from claw_runtime.permissions import PermissionMode, PermissionPolicy
from claw_runtime.plugins import PluginHost
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    StreamComplete,
    StreamRetry,
    StreamTextDelta,
    StreamThinkingDelta,
)
from claw_runtime.providers.pricing import ModelPrice, cost_usd
from claw_runtime.scheduler import Scheduler, TaskHandle
from claw_runtime.sessions.transcript import Transcript
from claw_runtime.text import clean_text
from claw_runtime.tooling import SessionState, Tool

if TYPE_CHECKING:
    from claw_runtime.config.settings import Settings
    from claw_runtime.context.compaction import Compactor

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "Agent",
    "AgentOptions",
    "Approval",
    "Approver",
    "PermissionDenial",
    "RunResult",
]

log = get_logger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are claw, an agent that helps with software engineering tasks. "
    "Use the tools available to you to inspect and change the user's project. "
    "Read files before editing them, keep changes minimal, run the tests when you "
    "change code, and answer concisely when you are done."
)

_PREPARED_KEY = "builtin.context.prepared"
"""Set once the processors' ``prepare`` work ran for the session (``/clear`` drops it)."""

MAX_STOP_HOOK_CONTINUATIONS = 3
"""How often ``stop`` hooks may send the model back to work in one run."""

MAX_CUT_OFF_CONTINUATIONS = 3
"""How often a run carries on after max_tokens cut a tool call off before giving up."""


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


@attrs.frozen(kw_only=True)
class AgentOptions:
    """How a run behaves; built from settings and CLI flags."""

    model: str
    max_turns: int | None = None
    max_budget_usd: float | None = None
    max_budget_tokens: int | None = None
    max_tokens: int = 8192
    thinking_budget: int | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    permissions: PermissionPolicy = PermissionPolicy()
    prices: Mapping[str, ModelPrice] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        model: str,
        project: Path,
        permission_mode: PermissionMode | None = None,
        allowed_tools: Sequence[str] = (),
        disallowed_tools: Sequence[str] = (),
        system_prompt: str | None = None,
        append_system_prompt: str | None = None,
        thinking_budget: int | None = None,
    ) -> AgentOptions:
        """Loop options from layered settings plus what the caller says for this session
        (the CLI's flags are already layered into ``settings``).

        Raises:
            ConfigError: a rule cannot be understood, or bypass mode is turned off.
        """
        policy = PermissionPolicy.from_settings(
            settings.permissions,
            project=project,
            mode=permission_mode,
            allow=allowed_tools,
            deny=disallowed_tools,
        )
        return cls(
            model=model,
            max_turns=settings.max_turns,
            max_budget_usd=settings.max_budget_usd,
            max_budget_tokens=settings.max_budget_tokens,
            system_prompt=system_prompt,
            thinking_budget=thinking_budget,
            # Anthropic requires max_tokens above the thinking budget.
            max_tokens=max(8192, (thinking_budget or 0) + 4096),
            append_system_prompt=append_system_prompt,
            permissions=policy,
            prices=_price_overrides(settings),
        )


@attrs.frozen(kw_only=True)
class RunResult:
    """The outcome of :meth:`Agent.run`: what ``--output-format json`` prints."""

    result: str
    is_error: bool
    num_turns: int
    duration_ms: float
    usage: Usage
    total_cost_usd: float
    session_id: str
    stop_reason: str
    permission_denials: tuple[PermissionDenial, ...] = ()


def _share_with_executor(agent: Agent, attribute: attrs.Attribute[Any], value: Any) -> Any:
    """An agent attribute set after construction reaches the agent's tool executor.

    The session attaches ``publish`` and ``parent_task`` once they exist, and a
    caller may attach an ``approver``: calls from then on use them.
    """
    setattr(agent.executor, attribute.name, value)
    if attribute.name == "tools":
        agent._specs = None  # tools that arrived after start-up (MCP) reach the next request
    return value


def _share_policy(agent: Agent, attribute: attrs.Attribute[Any], options: AgentOptions) -> Any:
    """New options with another permission policy replace the executor's live one."""
    if options.permissions is not agent.options.permissions:
        agent.executor.permissions = options.permissions
    return options


@attrs.define(eq=False, kw_only=True)
class Agent:
    """One conversation with a model and its tools."""

    provider: Provider
    tools: Mapping[str, Tool] = attrs.field(on_setattr=_share_with_executor)
    host: PluginHost = attrs.field(on_setattr=_share_with_executor)
    session: SessionState = attrs.field(on_setattr=_share_with_executor)
    options: AgentOptions = attrs.field(on_setattr=_share_policy)
    """How runs behave; ``options.permissions`` is the policy the session starts with."""
    scheduler: Scheduler = attrs.field(on_setattr=_share_with_executor)
    processors: Sequence[ContextProcessor] = ()
    publish: Callable[[Event], Awaitable[None]] | None = attrs.field(
        default=None, on_setattr=_share_with_executor
    )
    transcript: Transcript = attrs.field(factory=lambda: Transcript(None))
    http: Any = attrs.field(default=None, on_setattr=_share_with_executor)
    approver: Approver | None = attrs.field(default=None, on_setattr=_share_with_executor)
    parent_task: TaskHandle[Any] | None = attrs.field(default=None, on_setattr=_share_with_executor)

    messages: list[Message] = attrs.field(factory=list)
    usage: Usage = Usage()
    cost_usd: float = 0.0
    num_turns: int = 0
    denials: list[PermissionDenial] = attrs.field(factory=list)
    last_text: str = ""
    session_context: list[str] = attrs.field(factory=list)
    """Context for the whole session (SessionStart hooks), added to the system prompt."""
    compactor: Compactor | None = None
    """Measures the context before each request and compacts it past the threshold."""
    _hook_ended: str | None = None
    """Why a hook ended the run (Claude Code's ``continue: false``), once one has."""
    _started: float | None = None
    _specs: tuple[ToolSpec, ...] | None = None
    executor: ToolExecutor = attrs.field(init=False)
    """Every tool call's pipeline (hooks, permissions, approval, the tool, post hooks).

    Its ``permissions`` is the session's live policy: ``options.permissions``
    plus the rules "yes, always" answers added.
    """

    def __attrs_post_init__(self) -> None:
        self.executor = ToolExecutor(
            tools=self.tools,
            host=self.host,
            session=self.session,
            permissions=self.options.permissions,
            scheduler=self.scheduler,
            approver=self.approver,
            publish=self.publish,
            http=self.http,
            parent_task=self.parent_task,
        )

    # ----------------------------------------------------------------- public

    async def run(self, prompt: str) -> RunResult:
        """Send ``prompt`` and work until the model stops, a limit is hit, or an error.

        Cancellation propagates (trio rules); call :meth:`result` with
        ``stop_reason="cancelled"`` from the cancelled scope's owner to get the
        partial outcome. Everything recorded up to the cancel point stays valid.
        """
        prompt = clean_text(prompt)  # argv bytes that are not UTF-8: see claw_runtime.text
        self._started = time.perf_counter()
        self._hook_ended = None
        self.session.permission_mode = self.executor.permissions.mode
        decision = await self._user_prompt_submit(prompt)
        if decision.block:
            # As in Claude Code: a clean, explained end, not an error.
            return self.result("blocked", text=decision.reason or "Prompt blocked by a hook.")
        text = prompt
        if decision.additional_context:
            text = f"{prompt}\n\n{decision.additional_context}"
        message, reminders = Message.user(text), self._reminders()
        if reminders:
            message = attrs.evolve(message, content=(*message.content, *reminders))
        self._append(message)
        try:
            return await self._work()
        except ClawError as exc:
            log.warning("run failed", error=str(exc))
            return self.result("error", is_error=True, text=str(exc))

    def result(
        self, stop_reason: str, *, is_error: bool = False, text: str | None = None
    ) -> RunResult:
        """The run's outcome so far (also usable after a cancellation)."""
        started = self._started if self._started is not None else time.perf_counter()
        return RunResult(
            result=self.last_text if text is None else text,
            is_error=is_error,
            num_turns=self.num_turns,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            usage=self.usage,
            total_cost_usd=round(self.cost_usd, 6),
            session_id=self.session.session_id,
            stop_reason=stop_reason,
            permission_denials=tuple(self.denials),
        )

    # ------------------------------------------------------------------- loop

    async def _work(self) -> RunResult:
        continuations = 0
        cut_offs = 0
        while True:
            if self.options.max_turns is not None and self.num_turns >= self.options.max_turns:
                return self.result(
                    "max_turns",
                    is_error=True,
                    text=f"Stopped after reaching the maximum of {self.options.max_turns} turns.",
                )
            if self.compactor is not None:
                await self.compactor.before_request(self)
                if self._hook_ended is not None:
                    return self.result("hook_stopped", text=self._hook_ended)
            self.num_turns += 1
            done = await self._model_turn(self.num_turns)
            message = done.message
            self._append(message)  # recorded before any tool runs
            if self.compactor is not None:
                self.compactor.observe(self.messages, done.usage)
            self.last_text = message.text or self.last_text
            turn_cost = cost_usd(done.model, done.usage, self.options.prices)
            self.usage += done.usage
            self.cost_usd += turn_cost
            await self._emit(
                TurnFinished(
                    turn=self.num_turns,
                    message=message,
                    stop_reason=done.stop_reason,
                    usage=done.usage,
                    cost_usd=turn_cost,
                )
            )
            tool_uses = message.tool_uses
            if done.stop_reason == "max_tokens":
                # Cut off mid tool call: the provider dropped the unfinished call
                # (its half-written input must not run, nor go back as if whole);
                # the text stays. Like Claude Code, say so and let the model carry
                # on, in smaller pieces, a bounded number of times per run.
                cut = done.truncated_tool_calls
                if not cut and not tool_uses:
                    return self.result(
                        "max_tokens",
                        is_error=True,
                        text="The model's response was cut off by the max_tokens limit.",
                    )
                names = ", ".join(cut or tuple(t.name for t in tool_uses))
                unrun = tuple(
                    error_result(t.id, "Not run: the response was cut off by max_tokens.")
                    for t in tool_uses
                )
                if cut_offs >= MAX_CUT_OFF_CONTINUATIONS:
                    if unrun:
                        self._append(Message(role="user", content=unrun))
                    return self.result(
                        "max_tokens",
                        is_error=True,
                        text=(
                            f"The model's response was cut off by the max_tokens limit in the "
                            f"middle of a tool call ({names}) {cut_offs + 1} times in this run; "
                            "the call was not run."
                        ),
                    )
                cut_offs += 1
                note = (
                    "Your response was cut off by the output token limit in the middle of "
                    f"a tool call ({names}); that call was dropped and did not run. Resume "
                    "directly, with no apology and no recap. Break the remaining work into "
                    "smaller pieces (for example, write a large file in several smaller edits)."
                )
                self._append(Message(role="user", content=(*unrun, TextBlock(text=note))))
                continue
            if not tool_uses:
                if continuations < MAX_STOP_HOOK_CONTINUATIONS:
                    more = await self._stop_hooks(active=continuations > 0)
                    if self._hook_ended is not None:
                        return self.result("hook_stopped", text=self._hook_ended)
                    if more:
                        continuations += 1
                        self._append(Message.user(more))
                        continue
                return self.result(done.stop_reason or "end_turn")
            await self._run_tools(tool_uses)
            if self._hook_ended is not None:
                return self.result("hook_stopped", text=self._hook_ended)
            stop = self._over_budget()
            if stop is not None:
                return self.result("max_budget", is_error=True, text=stop)

    def _over_budget(self) -> str | None:
        """Why the run must stop for its budget, or None (checked after each round of tools)."""
        usd = self.options.max_budget_usd
        if usd is not None and self.cost_usd >= usd:
            return f"Stopped: the budget of ${usd:.2f} was reached (spent ${self.cost_usd:.4f})."
        tokens = self.options.max_budget_tokens
        if tokens is not None and self.usage.total_tokens >= tokens:
            return (
                f"Stopped: the budget of {tokens:,} tokens was reached "
                f"(used {self.usage.total_tokens:,})."
            )
        return None

    def _append(self, message: Message) -> None:
        self.messages.append(message)
        self.transcript.append_message(message)

    async def _emit(self, event: Event) -> None:
        if self.publish is not None:
            await self.publish(event)

    # ------------------------------------------------------------------ model

    async def build_prompt(self) -> PromptContext:
        """The system prompt and messages the next request would carry (compaction and
        ``/context`` read it; the context processors run as for a request)."""
        return await self._build_prompt(self.num_turns + 1)

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        """The tools the model is shown (those no deny rule hides)."""
        return self._tool_specs()

    def end_run(self, reason: str) -> None:
        """End the run in progress before its next request (a hook said ``continue: false``)."""
        self._hook_ended = self._hook_ended or reason

    def _tool_specs(self) -> tuple[ToolSpec, ...]:
        if self._specs is None:
            policy = self.executor.permissions
            self._specs = tuple(
                t.spec for name, t in sorted(self.tools.items()) if policy.visible(name)
            )
        return self._specs

    async def _prepare_processors(self) -> None:
        """The processors' blocking ``prepare`` work, once per session: in one worker
        thread, or in place once such work has proved quick (``context/_inline.py``)."""
        extras = self.session.extras
        if extras.get(_PREPARED_KEY):
            return
        extras[_PREPARED_KEY] = True
        preparing = [
            p for p in self.processors if p.prepare is not None and self.host.is_active(p.plugin)
        ]
        if preparing:
            failed = await inline_while_fast().run(
                partial(prepare_session, preparing, self.session)
            )
            for processor, exc in failed:
                self.host.fail(processor.plugin or processor.name, "context_processor", exc)

    async def _build_prompt(self, turn: int) -> PromptContext:
        await self._prepare_processors()
        context = PromptContext(
            session=self.session,
            model=self.options.model,
            turn=turn,
            system_sections=[self.options.system_prompt or DEFAULT_SYSTEM_PROMPT],
            messages=list(self.messages),
        )
        for processor in self.processors:
            if not self.host.is_active(processor.plugin):
                continue  # its plugin failed earlier and was disabled
            try:
                await processor.process(context)
            except Exception as exc:
                self.host.fail(processor.plugin or processor.name, "context_processor", exc)
        context.system_sections.extend(self.session_context)
        if self.options.append_system_prompt:
            context.system_sections.append(self.options.append_system_prompt)
        return context

    async def _model_turn(self, turn: int) -> StreamComplete:
        context = await self._build_prompt(turn)
        request = ModelRequest(
            model=self.options.model,
            messages=tuple(context.messages),
            system=context.system_prompt,
            tools=self._tool_specs(),
            max_tokens=self.options.max_tokens,
            thinking_budget=self.options.thinking_budget,
        )
        await self._emit(TurnStarted(turn=turn))
        complete: StreamComplete | None = None
        async with aclosing(self.provider.stream(request)) as stream:
            async for item in stream:
                if isinstance(item, StreamTextDelta):
                    await self._emit(TextDelta(turn=turn, text=item.text))
                elif isinstance(item, StreamThinkingDelta):
                    await self._emit(ThinkingDelta(turn=turn, text=item.text))
                elif isinstance(item, StreamRetry):
                    await self._emit(
                        ModelRetry(
                            turn=turn,
                            attempt=item.attempt,
                            reason=item.reason,
                            delay_s=item.delay_s,
                        )
                    )
                elif isinstance(item, StreamComplete):
                    complete = item
        if complete is None:
            raise ProviderStreamError("the model stream ended without a complete message")
        return complete

    # ------------------------------------------------------------------ tools

    async def _run_tools(self, tool_uses: Sequence[ToolUseBlock]) -> None:
        results: dict[str, ToolResultBlock] = {}
        try:
            for batch in self._plan(tool_uses):
                if len(batch) == 1:
                    results[batch[0].id] = await self._run_tool_task(batch[0])
                    continue
                handles = [(tu, self._spawn_tool(tu)) for tu in batch]
                try:
                    for tu, handle in handles:
                        results[tu.id] = await self._await_tool(tu, handle)
                except trio.Cancelled:  # stop the whole batch, not only the call awaited
                    for _, handle in handles:
                        handle.cancel()
                    raise
        finally:
            # Runs on cancellation too: the transcript must stay a valid conversation.
            ordered = tuple(results.get(tu.id) or aborted_result(tu.id) for tu in tool_uses)
            self._append(Message(role="user", content=(*ordered, *self._reminders())))

    def _reminders(self) -> tuple[TextBlock, ...]:
        """The session's pending notices (a background sub-agent finished), taken once."""
        notices = self.session.notices
        if not notices:
            return ()
        taken = tuple(
            TextBlock(text=f"<system-reminder>\n{notice}\n</system-reminder>") for notice in notices
        )
        notices.clear()
        return taken

    def _plan(self, tool_uses: Sequence[ToolUseBlock]) -> list[list[ToolUseBlock]]:
        batches: list[list[ToolUseBlock]] = []
        open_batch = False
        for tu in tool_uses:
            found = self.tools.get(tu.name)
            if found is not None and (found.read_only or getattr(found, "concurrent", False)):
                if open_batch:
                    batches[-1].append(tu)
                else:
                    batches.append([tu])
                    open_batch = True
            else:
                batches.append([tu])
                open_batch = False
        return batches

    def _spawn_tool(self, tool_use: ToolUseBlock) -> TaskHandle[ToolResultBlock]:
        return self.scheduler.spawn(
            self._run_tool, tool_use, name=f"tool:{tool_use.name}", parent=self.parent_task
        )

    async def _run_tool_task(self, tool_use: ToolUseBlock) -> ToolResultBlock:
        return await self._await_tool(tool_use, self._spawn_tool(tool_use))

    async def _await_tool(
        self, tool_use: ToolUseBlock, handle: TaskHandle[ToolResultBlock]
    ) -> ToolResultBlock:
        try:
            return await handle.result()
        except TaskError as exc:
            return error_result(tool_use.id, f"Tool {tool_use.name} did not finish: {exc}")
        except trio.Cancelled:
            handle.cancel()
            raise

    async def _run_tool(self, tool_use: ToolUseBlock) -> ToolResultBlock:
        execution = await self.executor.execute(tool_use)
        if execution.denial is not None:
            self.denials.append(execution.denial)
        if execution.end_run is not None:
            self._hook_ended = self._hook_ended or execution.end_run
        return execution.result

    # ------------------------------------------------------------------ hooks

    async def _user_prompt_submit(self, prompt: str) -> PromptDecision:
        if not self.host.has_implementations("user_prompt_submit"):
            return PromptDecision()
        return await hook_answers.combine_user_prompt_submit(self.host, prompt, self.session)

    async def _stop_hooks(self, *, active: bool) -> str:
        """Why the model must go on ("" to stop); records a hook's end of the run."""
        if not self.host.has_implementations("stop"):
            return ""
        more, end_run = await hook_answers.combine_stop(
            self.host, self.session, active=active, last_assistant_message=self.last_text
        )
        if end_run is not None:
            self._hook_ended = self._hook_ended or end_run
        return more
