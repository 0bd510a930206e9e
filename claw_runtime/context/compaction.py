"""Compaction: the model summarises the older turns, the recent ones stay verbatim.

A long session outgrows the model's context window. Before each request the
agent asks its :class:`Compactor` whether the conversation passed the
configured share of the window (``compaction.threshold``, default 0.8; see
:mod:`claw_runtime.context.tokens` for how it is measured). If it did, or when
the user types ``/compact [focus]``:

1. ``pre_compact`` hooks run (Python plugins, and settings' ``PreCompact``
   command hooks matched by ``auto`` or ``manual``);
2. the same provider is asked, with no tools, to summarise the older turns
   with :data:`COMPACTION_INSTRUCTIONS` (and the user's focus, if any). The
   older turns are sent as a text transcript, not as API messages: a request
   that carries ``tool_use`` blocks must declare tools, and the summariser
   must not call any;
3. the conversation becomes ``[summary, recent turns...]``. The cut is placed so
   that no ``tool_use`` is separated from its ``tool_result``: before one of
   the user's prompts when one is recent enough, else before a model turn
   (its calls and their results stay together);
4. the session file gets a ``compact_boundary`` record and the summary line,
   in Claude Code's shapes, then the kept turns again, so a resumed session
   starts from the boundary;
5. ``session_start`` hooks run with source ``compact``; what they answer
   replaces what the previous compaction's answers added to the system prompt.

A compaction that fails (the model errs, answers nothing) leaves the
conversation exactly as it was; the auto path says so in one notice and does
not try again until the conversation has grown further.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal

import attrs

from claw_runtime.context.tokens import (
    TokenGauge,
    estimate_messages_tokens,
    estimate_text_tokens,
    estimate_tools_tokens,
)
from claw_runtime.errors import ClawError
from claw_runtime.events import Compacted, CompactionFailed, CompactionStarted
from claw_runtime.hooks.decisions import SessionStartOutcome
from claw_runtime.logs import get_logger
from claw_runtime.models import (
    ImageBlock,
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from claw_runtime.providers.base import ModelRequest, StreamComplete
from claw_runtime.providers.pricing import cost_usd
from claw_runtime.providers.windows import context_window

if TYPE_CHECKING:
    from claw_runtime.config.settings import Settings
    from claw_runtime.loop import Agent

__all__ = [
    "COMPACTION_INSTRUCTIONS",
    "SUMMARY_SYSTEM_PROMPT",
    "CompactionError",
    "CompactionOutcome",
    "CompactionPolicy",
    "Compactor",
    "Trigger",
    "choose_cut",
    "render_transcript",
]

log = get_logger(__name__)

Trigger = Literal["auto", "manual"]

SUMMARY_SYSTEM_PROMPT = (
    "You summarise a working session between a user and a software engineering agent, so "
    "that the agent can carry on the work with nothing but your summary and the most recent "
    "messages. You have no tools and must not ask questions: answer with the summary only."
)

COMPACTION_INSTRUCTIONS = """\
Above is the earlier part of a session between a user and a coding agent. The agent will \
continue the work with only your summary and the messages that came after this part, so \
the summary must hold everything needed to carry on without asking the user again. Be \
precise: exact file paths, function and variable names, commands, error messages, numbers. \
Leave out pleasantries and dead ends that no longer matter.

Write it under these headings:

1. Task: what the user asked for, quoting their words where the wording matters; every \
explicit requirement, constraint and preference; any change of direction and why.
2. Key decisions and facts: technical decisions taken and the reasons for them, \
conventions of the codebase, facts learned about it (architecture, APIs, how to build and \
test).
3. Files: every file read, created or changed, with what was done to it and why; short \
code snippets where the exact text matters (signatures, configuration keys, test names).
4. Commands and results: the commands run (builds, tests, scripts) and what they showed.
5. Errors and fixes: each error met, its cause, and how it was fixed, or that it is still \
open; any correction or feedback from the user.
6. Pending work: what remains to be done, in order, including anything the user asked for \
that is not done yet.
7. Current state: exactly what was being worked on just before this point, and the next \
step, in enough detail to resume it directly.

Put the summary between <summary> and </summary>."""

SUMMARY_INTRO = (
    "This session continues an earlier conversation that grew too long for the context "
    "window. Its earlier part is summarised below; the messages after this one are the most "
    "recent ones, verbatim."
)

CONTINUE_NOTE = (
    "Continue the task you were working on from where it left off, without asking the user "
    "any further questions."
)

MAX_BLOCK_CHARS = 20_000
"""The most of one block (a tool result, a long message) the summariser sees at first."""

MIN_BLOCK_CHARS = 400


class CompactionError(ClawError):
    """Compaction could not be done; the conversation is unchanged."""


@attrs.frozen(kw_only=True)
class CompactionPolicy:
    """When the conversation is compacted, from settings (see ``docs/compaction.md``)."""

    auto: bool = True
    threshold: float = 0.8
    window_override: int | None = None
    keep_recent: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> CompactionPolicy:
        """``autoCompact`` (or Claude Code's ``autoCompactEnabled``) and ``compaction``."""
        auto = settings.auto_compact
        if auto is None:
            auto = settings.auto_compact_enabled
        options = settings.compaction
        return cls(
            auto=True if auto is None else auto,
            threshold=options.threshold,
            window_override=options.context_window,
            keep_recent=options.keep_recent,
        )

    def window(self, model: str) -> int:
        return context_window(model, self.window_override)

    def limit(self, model: str) -> int:
        """Tokens past which a request is compacted first."""
        return int(self.window(model) * self.threshold)

    def keep_tokens(self, model: str) -> int:
        """How many tokens of recent turns may stay verbatim (at most half the limit)."""
        return int(self.window(model) * min(self.keep_recent, self.threshold / 2))


@attrs.frozen(kw_only=True)
class CompactionOutcome:
    """What one compaction did."""

    trigger: Trigger
    tokens_before: int
    tokens_after: int
    summarised_messages: int
    kept_messages: int
    summary: str
    usage: Usage
    cost_usd: float
    duration_ms: float


# --------------------------------------------------------------------------- the cut


def _results_answer_kept_calls(kept: Sequence[Message]) -> bool:
    """No ``tool_result`` in ``kept`` whose ``tool_use`` would be summarised away."""
    calls: set[str] = set()
    for message in kept:
        for block in message.content:
            if isinstance(block, ToolUseBlock):
                calls.add(block.id)
            elif isinstance(block, ToolResultBlock) and block.tool_use_id not in calls:
                return False
    return True


def _is_prompt(message: Message) -> bool:
    return message.role == "user" and not any(
        isinstance(b, ToolResultBlock) for b in message.content
    )


def choose_cut(messages: Sequence[Message], keep_tokens: int) -> int:
    """Where the verbatim part starts: ``messages[cut:]`` stay, ``messages[:cut]`` are summarised.

    The kept part is the longest tail of at most ``keep_tokens`` tokens that
    begins with one of the user's prompts, else with a model turn (a
    ``tool_use`` and its results are never split either way); with neither in
    reach it is empty (``len(messages)``). Returns 0 when there is nothing older
    to summarise.
    """
    count = len(messages)
    if count < 2:
        return 0
    prompt_cut: int | None = None
    turn_cut: int | None = None
    kept = 0
    for index in range(count - 1, 0, -1):
        kept += estimate_messages_tokens((messages[index],))
        if kept > keep_tokens:
            break
        if _is_prompt(messages[index]):
            prompt_cut = index
        elif messages[index].role == "assistant":
            turn_cut = index
    for cut in (prompt_cut, turn_cut):
        if cut is not None and _results_answer_kept_calls(messages[cut:]):
            return cut
    return count


# -------------------------------------------------------------------- the request


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit:,} characters left out ...]\n{text[-tail:]}"


def render_transcript(messages: Sequence[Message], *, max_block_chars: int) -> str:
    """The conversation as tagged text for the summariser, each block clipped to a size."""
    names: dict[str, str] = {}
    parts: list[str] = []
    for message in messages:
        role = message.role
        body: list[str] = []
        for block in message.content:
            if isinstance(block, TextBlock):
                body.append(_clip(block.text, max_block_chars))
            elif isinstance(block, ToolUseBlock):
                names[block.id] = block.name
                arguments = _clip(_json(block.input), max_block_chars)
                body.append(f'<tool_call name="{block.name}">{arguments}</tool_call>')
            elif isinstance(block, ToolResultBlock):
                if body:
                    parts.append(f"<{role}>\n" + "\n".join(body) + f"\n</{role}>")
                    body = []
                name = names.get(block.tool_use_id, "tool")
                error = ' error="true"' if block.is_error else ""
                text = _clip(block.text, max_block_chars)
                if any(isinstance(p, ImageBlock) for p in block.content):
                    text += "\n[an image]"
                parts.append(f'<tool_result name="{name}"{error}>\n{text}\n</tool_result>')
            elif isinstance(block, ImageBlock):
                body.append("[an image]")
            elif isinstance(block, RawBlock):
                body.append(f"[{block.kind or 'block'}]")
            elif isinstance(block, ThinkingBlock):
                continue  # private reasoning; its conclusions are in the text and calls
        if body:
            parts.append(f"<{role}>\n" + "\n".join(body) + f"\n</{role}>")
    return "\n\n".join(parts)


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def compaction_prompt(messages: Sequence[Message], focus: str | None, *, budget_tokens: int) -> str:
    """The summariser's one user message: the transcript, the instructions, the focus.

    Blocks are clipped, harder and harder, until the whole fits ``budget_tokens``.
    """
    limit = MAX_BLOCK_CHARS
    while True:
        transcript = render_transcript(messages, max_block_chars=limit)
        if estimate_text_tokens(transcript) <= budget_tokens or limit <= MIN_BLOCK_CHARS:
            break
        limit //= 2
    text = f"<conversation>\n{transcript}\n</conversation>\n\n{COMPACTION_INSTRUCTIONS}"
    if focus and focus.strip():
        text += (
            "\n\nThe user asked this summary to focus on the following; give it extra "
            f"weight and detail:\n{focus.strip()}"
        )
    return text


_SUMMARY = re.compile(r"<summary>(.*?)(?:</summary>|\Z)", re.DOTALL)


def summary_text(answer: str) -> str:
    """The part of the model's answer between ``<summary>`` tags (the whole answer without)."""
    found = _SUMMARY.search(answer)
    return (found.group(1) if found else answer).strip()


def summary_message(summary: str, *, continuing: bool) -> Message:
    text = f"{SUMMARY_INTRO}\n\n<summary>\n{summary}\n</summary>"
    if continuing:
        text += f"\n\n{CONTINUE_NOTE}"
    return Message.user(text)


# ---------------------------------------------------------------------- compactor


@attrs.define(eq=False, kw_only=True)
class Compactor:
    """One session's compaction: its size gauge, its policy, and the work itself."""

    policy: CompactionPolicy = CompactionPolicy()
    notify: Callable[[str], None] = attrs.field(default=lambda message: log.warning(message))
    gauge: TokenGauge = attrs.field(factory=TokenGauge)
    _just_compacted: bool = False
    """Set by a compaction, cleared by the next answer: never compact twice in a row."""
    _retry_above: int | None = None
    """After a failed auto compaction: try again only once the context passes this."""
    _added_context: list[str] = attrs.field(factory=list)
    """Session context the last compaction's SessionStart hooks added."""

    def observe(self, messages: Sequence[Message], usage: Usage) -> None:
        """The model answered (its message is the last of ``messages``) with ``usage``."""
        self.gauge.observe(messages, usage)
        self._just_compacted = False

    def estimate(self, agent: Agent) -> int:
        """The next request's tokens (see :class:`~claw_runtime.context.tokens.TokenGauge`)."""
        messages = agent.messages
        if self.gauge.anchored(messages):
            return self.gauge.estimate(messages, fixed=0)
        options = agent.options
        from claw_runtime.loop import DEFAULT_SYSTEM_PROMPT

        fixed = sum(
            estimate_text_tokens(section)
            for section in (
                options.system_prompt or DEFAULT_SYSTEM_PROMPT,
                options.append_system_prompt or "",
                *agent.session_context,
            )
        ) + estimate_tools_tokens(agent.tool_specs())
        return self.gauge.estimate(messages, fixed=fixed)

    async def before_request(self, agent: Agent) -> None:
        """Compact first if the request about to be built passed the threshold (auto)."""
        if not self.policy.auto or self._just_compacted:
            return
        tokens = self.estimate(agent)
        if tokens < self.policy.limit(agent.options.model):
            return
        if self._retry_above is not None and tokens < self._retry_above:
            return
        try:
            await self.compact(agent, trigger="auto", tokens=tokens)
        except CompactionError as exc:
            window = self.policy.window(agent.options.model)
            self._retry_above = tokens + max(window // 20, 1)
            self.notify(f"auto-compaction failed: {exc}; the conversation was kept as it was")

    async def compact(
        self,
        agent: Agent,
        *,
        trigger: Trigger,
        focus: str | None = None,
        tokens: int | None = None,
    ) -> CompactionOutcome:
        """Summarise the older turns of ``agent``'s conversation and keep the recent ones.

        Raises:
            CompactionError: nothing to compact, or the model failed; nothing changed.
        """
        started = time.perf_counter()
        messages = list(agent.messages)
        model = agent.options.model
        before = tokens if tokens is not None else self.estimate(agent)
        # Keep at most half of what the messages hold, so a compaction always frees room.
        keep = min(self.policy.keep_tokens(model), estimate_messages_tokens(messages) // 2)
        cut = choose_cut(messages, keep)
        if cut == 0:
            raise CompactionError("nothing to compact yet")
        window = self.policy.window(model)
        await _emit(agent, CompactionStarted(trigger=trigger, tokens=before, window=window))
        context = await agent.build_prompt()
        await agent.host.call(
            "pre_compact", context=context, trigger=trigger, custom_instructions=focus or ""
        )
        budget = max(window - agent.options.max_tokens - 4_000, window // 4)
        request = ModelRequest(
            model=model,
            messages=(
                Message.user(compaction_prompt(messages[:cut], focus, budget_tokens=budget)),
            ),
            system=SUMMARY_SYSTEM_PROMPT,
            max_tokens=agent.options.max_tokens,
        )
        try:
            done = await _complete(agent, request)
        except ClawError as exc:
            await _emit(agent, CompactionFailed(trigger=trigger, reason=str(exc)))
            raise CompactionError(f"the summary request failed: {exc}") from exc
        usage, spent = done.usage, cost_usd(done.model, done.usage, agent.options.prices)
        agent.usage += usage
        agent.cost_usd += spent
        summary = summary_text(done.message.text)
        if not summary:
            await _emit(agent, CompactionFailed(trigger=trigger, reason="empty summary"))
            raise CompactionError("the model answered with an empty summary")
        kept = messages[cut:]
        # Mid-run (auto), the model must carry on by itself after the summary.
        head = summary_message(summary, continuing=trigger == "auto" and not kept)
        agent.messages[:] = [head, *kept]
        self.gauge.reset()
        self._just_compacted = True
        self._retry_above = None
        after = self.estimate(agent)
        agent.transcript.append_compaction(
            trigger=trigger, pre_tokens=before, post_tokens=after, summary=head, kept=kept
        )
        await self._session_start(agent)
        outcome = CompactionOutcome(
            trigger=trigger,
            tokens_before=before,
            tokens_after=after,
            summarised_messages=cut,
            kept_messages=len(kept),
            summary=summary,
            usage=usage,
            cost_usd=spent,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        await _emit(
            agent,
            Compacted(
                trigger=trigger,
                tokens_before=before,
                tokens_after=after,
                summarised_messages=cut,
                kept_messages=len(kept),
            ),
        )
        log.info("compacted", trigger=trigger, before=before, after=after, kept=len(kept))
        return outcome

    async def _session_start(self, agent: Agent) -> None:
        """SessionStart hooks with source ``compact``; their context replaces the last one's."""
        answers = await agent.host.call("session_start", session=agent.session, source="compact")
        for previous in self._added_context:
            if previous in agent.session_context:
                agent.session_context.remove(previous)
        added: list[str] = []
        for _plugin, answer in answers:
            text: str | None = None
            if isinstance(answer, SessionStartOutcome):
                text = answer.additional_context
                if answer.end_run:
                    agent.end_run(answer.end_run)
            elif isinstance(answer, str):
                text = answer
            if text and text.strip() and text not in agent.session_context:
                agent.session_context.append(text)
                added.append(text)
        self._added_context = added


async def _emit(agent: Agent, event: Any) -> None:
    if agent.publish is not None:
        await agent.publish(event)


async def _complete(agent: Agent, request: ModelRequest) -> StreamComplete:
    """The summariser's whole answer (the provider retries inside)."""
    complete: StreamComplete | None = None
    async with aclosing(agent.provider.stream(request)) as stream:
        async for item in stream:
            if isinstance(item, StreamComplete):
                complete = item
    if complete is None:
        raise CompactionError("the summary stream ended without a complete message")
    return complete
