"""``/compact [focus]`` and ``/context``: the context window, by hand and at a glance.

``/compact`` is :meth:`Session.compact <claw_runtime.sessions.session.Session.compact>`
with the user's focus text: the older turns become a summary (see
:mod:`claw_runtime.context.compaction`). ``/context`` shows what fills the
window before the next request: the system prompt section by section (which
context processor added how much), the tools' schemas, the messages by kind,
each with its estimated tokens and share of the window, and the provider's
exact count when it has an endpoint for it (Anthropic's ``count_tokens``).

Both are registered by the ``builtin.commands`` plugin; a plugin may replace
either by registering a command of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from claw_runtime.commands import Command, CommandResult
from claw_runtime.context.tokens import (
    IMAGE_TOKENS,
    estimate_message_tokens,
    estimate_text_tokens,
    estimate_tools_tokens,
    exact_tokens,
)
from claw_runtime.models import (
    ImageBlock,
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)

if TYPE_CHECKING:
    from claw_runtime.context.processors import PromptContext
    from claw_runtime.sessions.session import Session

__all__ = ["CONTEXT_COMMANDS"]


async def _compact(args: str, session: Session) -> CommandResult:
    from claw_runtime.context.compaction import CompactionError

    focus = args.strip() or None
    try:
        outcome = await session.compact(focus)
    except CompactionError as exc:
        return CommandResult(
            output=f"Not compacted: {exc}. The conversation is unchanged.", is_error=True
        )
    seconds = outcome.duration_ms / 1000
    return CommandResult(
        output=(
            f"Compacted the conversation: ~{outcome.tokens_before:,} -> "
            f"~{outcome.tokens_after:,} tokens; {outcome.summarised_messages} messages "
            f"summarised, {outcome.kept_messages} kept verbatim ({seconds:.1f} s, "
            f"${outcome.cost_usd:.4f})."
        )
    )


def _share(tokens: int, window: int) -> str:
    return f"{tokens / window:.1%}" if window else "?"


def _row(label: str, tokens: int, window: int, indent: str = "") -> tuple[str, str, str]:
    return (f"{indent}{label}", f"{tokens:,}", _share(tokens, window))


def _message_parts(messages: Sequence[Message]) -> dict[str, int]:
    """Estimated tokens of the messages, by kind of content."""
    parts = {
        "user text": 0,
        "model text": 0,
        "thinking": 0,
        "tool calls": 0,
        "tool results": 0,
        "other blocks": 0,
    }
    for message in messages:
        for block in message.content:
            alone = estimate_message_tokens(Message(role=message.role, content=(block,)))
            if isinstance(block, TextBlock):
                parts["user text" if message.role == "user" else "model text"] += alone
            elif isinstance(block, ThinkingBlock):
                parts["thinking"] += alone
            elif isinstance(block, ToolUseBlock):
                parts["tool calls"] += alone
            elif isinstance(block, ToolResultBlock):
                parts["tool results"] += alone
            elif isinstance(block, ImageBlock | RawBlock):
                parts["other blocks"] += alone if isinstance(block, RawBlock) else IMAGE_TOKENS
    return {kind: tokens for kind, tokens in parts.items() if tokens}


async def _system_parts(session: Session) -> tuple[list[tuple[str, int]], PromptContext]:
    """The system prompt's sections by who added them, and the prompt as built."""
    from claw_runtime.context.processors import PromptContext
    from claw_runtime.loop import DEFAULT_SYSTEM_PROMPT

    agent = session.agent
    base = agent.options.system_prompt or DEFAULT_SYSTEM_PROMPT
    context = PromptContext(
        session=agent.session,
        model=agent.options.model,
        turn=agent.num_turns + 1,
        system_sections=[base],
        messages=list(agent.messages),
    )
    parts = [("base instructions", estimate_text_tokens(base))]

    def size() -> int:
        return sum(estimate_text_tokens(s) for s in context.system_sections)

    for processor in agent.processors:
        if not agent.host.is_active(processor.plugin):
            continue
        before = size()
        try:
            await processor.process(context)
        except Exception:  # the next request reports and disables it; here, just skip
            continue
        if size() != before:
            parts.append((processor.name, size() - before))
    for text in agent.session_context:
        parts.append(("session context (SessionStart hooks)", estimate_text_tokens(text)))
        context.system_sections.append(text)
    if agent.options.append_system_prompt:
        parts.append(
            ("--append-system-prompt", estimate_text_tokens(agent.options.append_system_prompt))
        )
        context.system_sections.append(agent.options.append_system_prompt)
    merged: dict[str, int] = {}
    for name, tokens in parts:
        merged[name] = merged.get(name, 0) + tokens
    return list(merged.items()), context


async def _context(args: str, session: Session) -> CommandResult:
    from claw_runtime.commands.builtin import _table
    from claw_runtime.context.compaction import CompactionPolicy
    from claw_runtime.errors import ClawError
    from claw_runtime.providers.base import ModelRequest

    agent = session.agent
    model = agent.options.model
    compactor = agent.compactor
    policy = compactor.policy if compactor is not None else CompactionPolicy()
    window = policy.window(model)
    system, context = await _system_parts(session)
    tools = agent.tool_specs()
    tools_tokens = estimate_tools_tokens(tools)
    messages = _message_parts(agent.messages)
    parts_total = sum(t for _, t in system) + tools_tokens + sum(messages.values())
    measured = compactor.estimate(agent) if compactor is not None else parts_total
    rows = [_row("System prompt", sum(t for _, t in system), window)]
    rows += [_row(name, tokens, window, "  ") for name, tokens in system]
    rows.append(_row(f"Tools ({len(tools)} schemas)", tools_tokens, window))
    biggest = sorted(tools, key=lambda t: estimate_tools_tokens((t,)), reverse=True)[:5]
    rows += [_row(t.name, estimate_tools_tokens((t,)), window, "  ") for t in biggest]
    rows.append(_row(f"Messages ({len(agent.messages)})", sum(messages.values()), window))
    rows += [_row(kind, tokens, window, "  ") for kind, tokens in messages.items()]
    rows.append(_row("Free", max(window - measured, 0), window))
    auto = (
        f"auto-compaction at {policy.threshold:.0%} ({policy.limit(model):,} tokens)"
        if policy.auto
        else "auto-compaction off"
    )
    lines = [
        f"Context window: {model}, {window:,} tokens; {auto}.",
        f"In use: ~{measured:,} tokens ({_share(measured, window)}), estimated "
        + (
            "from the last answer's usage and what was added since."
            if compactor is not None and compactor.gauge.anchored(agent.messages)
            else "at four characters a token."
        ),
    ]
    request = ModelRequest(
        model=model,
        messages=tuple(context.messages),
        system=context.system_prompt,
        tools=tools,
        max_tokens=agent.options.max_tokens,
    )
    if context.messages:
        try:
            exact = await exact_tokens(agent.provider, request)
        except ClawError as exc:
            lines.append(f"Exact count unavailable: {exc}")
        else:
            if exact is not None:
                lines.append(
                    f"Exact count from {session.provider_name}: {exact:,} tokens "
                    f"({_share(exact, window)}) for the next request."
                )
    lines += ["", *_table([("", "tokens", "share"), *rows], indent="  ")]
    lines += ["", "Each part is estimated at four characters a token. /compact [focus] frees it."]
    return CommandResult(output="\n".join(lines))


CONTEXT_COMMANDS: tuple[Command, ...] = (
    Command(
        name="compact",
        description="Summarise the older turns to free the context window (focus: what to keep)",
        run=_compact,
        argument_hint="[focus]",
    ),
    Command(
        name="context",
        description="What fills the context window: system prompt, tools, messages",
        run=_context,
    ),
)
