"""Checking and combining what hooks answer: one place for the rules.

A hook answers with a value from :mod:`claw_runtime.hooks.decisions` (or ``None`` for
"no opinion"). A plugin can also answer with something malformed: an unknown
decision string, an ``updated_input`` that is not a dict, a ``replace_result``
that is not a :class:`~claw_runtime.models.ToolResultBlock`, a list from a
``stop`` hook. Such an answer is:

* reported once per (plugin, hook) for the life of the plugin host: a
  structlog warning ``"plugin answer ignored"`` naming the plugin, the hook
  and what was wrong. The plugin stays enabled (its well-formed answers still
  count) and no ``PluginFailed`` event is sent, since that event means "disabled";
* ignored, except for ``pre_tool_use``: a guard that cannot be understood
  fails closed, so the call is denied (with a reason the model can read).

A bad answer never breaks a later call, and a ``post_tool_use`` problem never
turns a call that ran into a failed one.

Combining (Claude Code's rules): the most restrictive ``pre_tool_use`` decision
wins (deny > ask > allow); ``updated_input`` rewrites chain, each hook seeing
the input the one before it left; the first ``end_run`` is kept; added context
is concatenated; ``stop`` may answer a :class:`StopDecision` or a string.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from claw_runtime.hooks.decisions import (
    PostToolUseOutcome,
    PreToolUseDecision,
    PromptDecision,
    StopDecision,
    ToolCall,
)
from claw_runtime.logs import get_logger
from claw_runtime.models import ImageBlock, TextBlock, ToolResultBlock
from claw_runtime.plugins import PluginHost

__all__ = [
    "combine_post_tool_use",
    "combine_pre_tool_use",
    "combine_stop",
    "combine_user_prompt_submit",
    "post_tool_use_problem",
    "pre_tool_use_problem",
    "prompt_problem",
    "report_bad_answer",
    "stop_problem",
    "stricter",
]

log = get_logger(__name__)

_DECISIONS = ("allow", "deny", "ask", None)
_RANK = {"deny": 3, "ask": 2, "allow": 1, None: 0}

_reported: weakref.WeakKeyDictionary[PluginHost, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _optional_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return None
    return f"{name} must be a str or None, not {type(value).__name__}"


def _str(name: str, value: Any) -> str | None:
    return None if isinstance(value, str) else f"{name} must be a str, not {type(value).__name__}"


def _bool(name: str, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{name} must be a bool, not {type(value).__name__}"


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p is not None), None)


def _input_problem(updated: Any) -> str | None:
    if updated is None or (isinstance(updated, dict) and all(isinstance(k, str) for k in updated)):
        return None
    return f"updated_input must be a dict with str keys or None, not {_shown(updated)}"


def pre_tool_use_problem(answer: Any) -> str | None:
    """What is wrong with a non-None ``pre_tool_use`` answer, or None if it is well formed."""
    if not isinstance(answer, PreToolUseDecision):
        return f"expected a PreToolUseDecision or None, got {_shown(answer)}"
    if answer.decision not in _DECISIONS:
        return f'decision must be "allow", "deny", "ask" or None, not {_shown(answer.decision)}'
    updated = answer.updated_input
    return _first(
        _str("reason", answer.reason),
        _input_problem(updated),
        _optional_str("end_run", answer.end_run),
    )


def _result_problem(result: Any) -> str | None:
    if not isinstance(result, ToolResultBlock):
        return f"replace_result must be a ToolResultBlock or None, not {_shown(result)}"
    if not isinstance(result.content, tuple | list) or not all(
        isinstance(part, ImageBlock) or (isinstance(part, TextBlock) and isinstance(part.text, str))
        for part in result.content
    ):
        return "replace_result.content must be a tuple of TextBlock/ImageBlock"
    return _bool("replace_result.is_error", result.is_error)


def post_tool_use_problem(answer: Any) -> str | None:
    """What is wrong with a non-None ``post_tool_use`` answer, or None."""
    if not isinstance(answer, PostToolUseOutcome):
        return f"expected a PostToolUseOutcome or None, got {_shown(answer)}"
    return _first(
        _str("additional_context", answer.additional_context),
        None if answer.replace_result is None else _result_problem(answer.replace_result),
        _optional_str("end_run", answer.end_run),
    )


def prompt_problem(answer: Any) -> str | None:
    """What is wrong with a non-None ``user_prompt_submit`` answer, or None."""
    if not isinstance(answer, PromptDecision):
        return f"expected a PromptDecision or None, got {_shown(answer)}"
    return _first(
        _bool("block", answer.block),
        _str("reason", answer.reason),
        _str("additional_context", answer.additional_context),
    )


def stop_problem(answer: Any) -> str | None:
    """What is wrong with a non-None ``stop`` answer (a StopDecision or a str), or None."""
    if isinstance(answer, str):
        return None
    if not isinstance(answer, StopDecision):
        return f"expected a StopDecision, a str or None, got {_shown(answer)}"
    return _first(
        _bool("block", answer.block),
        _str("reason", answer.reason),
        _optional_str("end_run", answer.end_run),
    )


def report_bad_answer(host: PluginHost, plugin: str, hook: str, problem: str) -> None:
    """Warn about a malformed answer, once per (plugin, hook) for this host."""
    seen = _reported.setdefault(host, set())
    if (plugin, hook) in seen:
        return
    seen.add((plugin, hook))
    log.warning(
        "plugin answer ignored",
        plugin=plugin,
        hook=hook,
        problem=problem,
        note="reported once per plugin and hook; the plugin stays enabled",
    )


async def _call_one(
    host: PluginHost,
    plugin: str,
    hook: str,
    function: Callable[..., Any],
    argnames: Sequence[str],
    kwargs: dict[str, Any],
) -> tuple[bool, Any]:
    """Call one implementation as :meth:`PluginHost.call` does; (ok, answer)."""
    try:
        answer = function(*[kwargs[a] for a in argnames])
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception as exc:
        host.fail(plugin, hook, exc)
        return False, None
    return True, answer


async def combine_pre_tool_use(
    host: PluginHost,
    call: ToolCall,
    session: Any,
    retarget: Callable[[ToolCall], ToolCall] = lambda c: c,
) -> PreToolUseDecision:
    """Every ``pre_tool_use`` answer combined; rewrites chain through ``retarget``.

    ``retarget`` refreshes what the call reads and writes after a rewrite, so
    the next hook judges the paths the rewritten input really names. A
    malformed answer is reported once and denies the call (fail closed).
    """
    combined = PreToolUseDecision()
    for plugin, function, argnames in host.implementations("pre_tool_use"):
        if not host.is_active(plugin):
            continue
        ok, answer = await _call_one(
            host, plugin, "pre_tool_use", function, argnames, {"call": call, "session": session}
        )
        if not ok or answer is None:
            continue
        problem = pre_tool_use_problem(answer)
        if problem is None and answer.updated_input is not None:
            try:
                rewritten = retarget(attrs.evolve(call, input=dict(answer.updated_input)))
            except Exception as exc:
                problem = f"updated_input cannot be used: {type(exc).__name__}: {exc}"
            else:
                call = rewritten
                combined = attrs.evolve(combined, updated_input=dict(call.input))
        if problem is not None:
            report_bad_answer(host, plugin, "pre_tool_use", problem)
            answer = PreToolUseDecision(
                decision="deny",
                reason=(
                    f"{call.name} was blocked: the pre_tool_use hook of plugin {plugin!r} "
                    f"gave an answer claw cannot understand ({problem}), so the call did not run."
                ),
            )
        combined = stricter(combined, answer)
    return combined


def stricter(combined: PreToolUseDecision, answer: PreToolUseDecision) -> PreToolUseDecision:
    """``combined`` with ``answer`` taken into account: the more restrictive decision
    (deny > ask > allow) with its reason, and the first ``end_run``.

    The input rewrite is not touched: rewrites chain (see :func:`combine_pre_tool_use`).
    Command hooks (which run in parallel, one plugin) combine their answers with
    this too, so the ranking is written once.
    """
    if _RANK[answer.decision] > _RANK[combined.decision]:
        combined = attrs.evolve(combined, decision=answer.decision, reason=answer.reason)
    if answer.end_run is not None and combined.end_run is None:
        combined = attrs.evolve(combined, end_run=answer.end_run)
    return combined


async def combine_post_tool_use(
    host: PluginHost, call: ToolCall, result: ToolResultBlock, session: Any
) -> tuple[ToolResultBlock, str | None]:
    """The result after every ``post_tool_use`` answer, and the first ``end_run``.

    A malformed answer is reported once and ignored as a whole: the result the
    tool produced stands.
    """
    end_run: str | None = None
    answers = await host.call("post_tool_use", call=call, result=result, session=session)
    for plugin, answer in answers:
        problem = post_tool_use_problem(answer)
        if problem is not None:
            report_bad_answer(host, plugin, "post_tool_use", problem)
            continue
        if answer.end_run is not None and end_run is None:
            end_run = answer.end_run
        if answer.replace_result is not None:
            replaced = answer.replace_result
            result = attrs.evolve(
                replaced, tool_use_id=call.tool_use_id, content=tuple(replaced.content)
            )
        if answer.additional_context:
            result = attrs.evolve(
                result, content=(*result.content, TextBlock(text=answer.additional_context))
            )
    return result, end_run


async def combine_user_prompt_submit(host: PluginHost, prompt: str, session: Any) -> PromptDecision:
    """Every ``user_prompt_submit`` answer combined: any block blocks; context is joined."""
    answers = await host.call("user_prompt_submit", prompt=prompt, session=session)
    block, reasons, context = False, [], []
    for plugin, answer in answers:
        problem = prompt_problem(answer)
        if problem is not None:
            report_bad_answer(host, plugin, "user_prompt_submit", problem)
            continue
        block = block or answer.block
        if answer.reason:
            reasons.append(answer.reason)
        if answer.additional_context:
            context.append(answer.additional_context)
    return PromptDecision(
        block=block, reason="; ".join(reasons), additional_context="\n".join(context)
    )


async def combine_stop(
    host: PluginHost, session: Any, *, active: bool, last_assistant_message: str
) -> tuple[str, str | None]:
    """Why the model must go on ("" to stop), and the first ``end_run``."""
    answers = await host.call(
        "stop",
        session=session,
        stop_hook_active=active,
        last_assistant_message=last_assistant_message,
    )
    reasons: list[str] = []
    end_run: str | None = None
    for plugin, answer in answers:
        problem = stop_problem(answer)
        if problem is not None:
            report_bad_answer(host, plugin, "stop", problem)
            continue
        if isinstance(answer, StopDecision):
            if answer.end_run is not None and end_run is None:
                end_run = answer.end_run
            if answer.block:
                reasons.append(answer.reason or "A stop hook asked you to continue.")
        elif answer.strip():
            reasons.append(answer)
    return "\n".join(reasons), end_run
