"""One tool call, start to finish: the single pipeline every tool call goes through.

:meth:`ToolExecutor.execute` takes the ``tool_use`` block a model (or a person,
through ``claw tools call``) asked for and returns its one result. In order:

1. A tool whose plugin failed and was disabled, or a name no plugin
   registered, is an error result.
2. ``pre_tool_use`` hooks see the call (with the paths it reads and writes);
   their rewrites chain in call order (:mod:`claw_runtime.hooks.answers`).
3. The permission policy and the hooks' decision say whether the call runs; a
   call that would ask goes to the approver (after the ``notification`` hook),
   and without one it is denied. "Yes, always" adds an allow rule to
   :attr:`ToolExecutor.permissions` for the rest of the session.
4. :class:`~claw_runtime.events.ToolCallStarted`, then ``Tool.invoke``, which
   turns the tool's own failures into error results.
5. ``post_tool_use`` hooks may add to or replace the result; a file they
   rewrote (a formatter) gets a fresh stamp and a note for the model.
6. :class:`~claw_runtime.events.ToolCallFinished`.

Hooks and tools that fail become results, never exceptions; cancellation
propagates (the caller turns it into an "aborted" result).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.events import Event, ToolCallFinished, ToolCallStarted
from claw_runtime.hooks import answers as hook_answers
from claw_runtime.hooks.decisions import PreToolUseDecision, ToolCall
from claw_runtime.models import TextBlock, ToolResultBlock, ToolUseBlock
from claw_runtime.permissions import PermissionPolicy, parse_rule
from claw_runtime.permissions.targets import with_targets
from claw_runtime.plugins import PluginHost
from claw_runtime.scheduler import Scheduler, TaskHandle
from claw_runtime.text import clean_text
from claw_runtime.tooling import TOOL_ALIASES, FileStamp, SessionState, Tool, ToolContext

if typing.TYPE_CHECKING:
    import httpx

    from claw_runtime.agents.subagent import SubagentService

__all__ = [
    "Approval",
    "Approver",
    "PermissionDenial",
    "ToolExecution",
    "ToolExecutor",
    "aborted_result",
    "error_result",
]


@attrs.frozen(kw_only=True)
class Approval:
    """The user's answer to a permission prompt."""

    allowed: bool
    reason: str = ""
    """Why not, in the user's words: it goes back to the model."""
    remember_rule: str | None = None
    """A rule to allow from now on in this session ("yes, always")."""


Approver = Callable[[ToolCall, str], Awaitable[Approval]]
"""Asks the user whether a call may run (interactive use); headless runs have none."""


@attrs.frozen(kw_only=True)
class PermissionDenial:
    """A tool call that did not run because it was not allowed."""

    tool_name: str
    tool_use_id: str
    tool_input: dict[str, Any]
    reason: str


@attrs.frozen(kw_only=True)
class ToolExecution:
    """What :meth:`ToolExecutor.execute` made of one ``tool_use``."""

    result: ToolResultBlock
    """The one result for the call: the tool's, a hook's replacement, or an error."""
    denial: PermissionDenial | None = None
    """Set when a hook, a rule or the user did not let the call run."""
    end_run: str | None = None
    """A hook's reason to end the whole run (Claude Code's ``continue: false``)."""
    needed_approval: bool = False
    """The call was denied for want of someone to ask: it needed the user's yes and
    the executor has no approver (``claw tools call``, headless runs)."""


def error_result(tool_use_id: str, message: str) -> ToolResultBlock:
    """An error result the model reads: ``message`` as one text block."""
    return ToolResultBlock(
        tool_use_id=tool_use_id, content=(TextBlock(text=clean_text(message)),), is_error=True
    )


def aborted_result(tool_use_id: str) -> ToolResultBlock:
    """The result of a call the run's cancellation stopped (or never let start)."""
    return ToolResultBlock(
        tool_use_id=tool_use_id,
        content=(TextBlock(text="Tool call aborted: the run was cancelled before it finished."),),
        is_error=True,
    )


@attrs.define(eq=False, kw_only=True)
class ToolExecutor:
    """Runs tool calls for one session: hooks, permissions, approval, the tool, events.

    The agent loop holds one; ``claw tools call`` builds one for its single
    call. Several calls may run at once (read-only tools do); they share
    :attr:`permissions`, so a rule remembered during one applies to the next.
    """

    tools: Mapping[str, Tool]
    host: PluginHost
    session: SessionState
    permissions: PermissionPolicy
    """The session's live policy: "yes, always" answers add allow rules to it."""
    scheduler: Scheduler | None = None
    approver: Approver | None = None
    """Asked when a call needs approval; without one such a call is denied."""
    publish: Callable[[Event], Awaitable[None]] | None = None
    http: httpx.AsyncClient | None = None
    parent_task: TaskHandle[Any] | None = None
    """The task tools' background work belongs to (the session's)."""
    agents: SubagentService | None = None
    """What the ``Task`` tool starts sub-agents with (set by the session)."""
    _approval_lock: trio.Lock = attrs.field(factory=trio.Lock, init=False, repr=False)
    """Calls that run at once (a batch of read-only tools) ask the approver one at a time."""

    async def execute(self, tool_use: ToolUseBlock) -> ToolExecution:
        """Run one call through the whole pipeline; exactly one result, whatever happens.

        A failing tool or hook, a denial, an unknown or disabled tool: each is a
        result (an error one where it should be), never an exception.

        Raises:
            trio.Cancelled: the caller's scope was cancelled mid-call.
        """
        found = self.tools.get(tool_use.name) or self.tools.get(TOOL_ALIASES.get(tool_use.name, ""))
        if found is not None and not self.host.is_active(found.plugin):
            return ToolExecution(
                result=error_result(
                    tool_use.id,
                    f"Tool {tool_use.name} is unavailable: its plugin {found.plugin!r} failed "
                    "and was disabled for this run.",
                )
            )
        if found is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return ToolExecution(
                result=error_result(
                    tool_use.id, f"No such tool: {tool_use.name}. Available tools: {known}."
                )
            )
        call = ToolCall(
            tool_use_id=tool_use.id,
            name=tool_use.name,
            input=dict(tool_use.input),
            read_only=found.read_only,
        )
        call = with_targets(call, found, self.session.cwd)
        decision = await self._pre_tool_use(call, found)
        end_run = decision.end_run
        if decision.updated_input is not None:
            call = with_targets(
                attrs.evolve(call, input=decision.updated_input), found, self.session.cwd
            )
        refusal = await self._permission(call, decision)
        if refusal is not None:
            reason, needed_approval = refusal
            denial = PermissionDenial(
                tool_name=call.name,
                tool_use_id=call.tool_use_id,
                tool_input=call.input,
                reason=reason,
            )
            return ToolExecution(
                result=error_result(tool_use.id, reason),
                denial=denial,
                end_run=end_run,
                needed_approval=needed_approval,
            )
        await self._emit(
            ToolCallStarted(tool_use_id=call.tool_use_id, name=call.name, input=call.input)
        )
        started = time.perf_counter()
        ctx = ToolContext(
            session=self.session,
            tool_use_id=tool_use.id,
            http=self.http,
            scheduler=self.scheduler,
            parent_task=self.parent_task,
            read_denied=self.permissions.read_denied,
            agents=self.agents,
        )
        if self.publish is not None:
            ctx.publish = self.publish
        result = await found.invoke(call.input, ctx)
        stamps = {path: self.session.file_reads.get(path) for path in call.writes}
        result, post_end_run = await self._post_tool_use(call, result)
        result = self._absorb_hook_rewrites(result, stamps)
        await self._emit(
            ToolCallFinished(
                tool_use_id=call.tool_use_id,
                name=call.name,
                result=result,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        )
        return ToolExecution(result=result, end_run=end_run or post_end_run)

    async def _emit(self, event: Event) -> None:
        if self.publish is not None:
            await self.publish(event)

    # ------------------------------------------------------------ permissions

    async def _permission(
        self, call: ToolCall, decision: PreToolUseDecision
    ) -> tuple[str, bool] | None:
        """None if the call may run, else the reason (for the model) and a flag.

        The flag is true when only the lack of an approver stopped the call.
        """
        if decision.decision == "deny":
            return decision.reason or f"{call.name} was blocked by a hook.", False
        verdict = self.permissions.check(call, self.session.cwd, self.session.workspace_roots)
        if verdict.decision == "deny":
            return verdict.reason, False
        if decision.decision == "allow" and not verdict.protected:
            return None
        if verdict.allowed and decision.decision != "ask":
            return None
        reason = decision.reason if decision.decision == "ask" else verdict.reason
        if self.approver is None:
            return reason, True
        policy = self.permissions
        async with self._approval_lock:  # one question at a time, whatever the approver
            if self.permissions is not policy and decision.decision != "ask":
                # An answer given while this call waited ("yes, always") may cover it.
                again = self.permissions.check(call, self.session.cwd, self.session.workspace_roots)
                if again.allowed and not again.protected:
                    return None
            if self.host.has_implementations("notification"):
                await self.host.call(
                    "notification",
                    session=self.session,
                    message=f"claw needs your permission to use {call.name}",
                )
            answer = await self.approver(call, reason)
        if answer.allowed:
            if answer.remember_rule:
                policy = self.permissions
                rules = (*policy.allow, parse_rule(answer.remember_rule))
                self.permissions = attrs.evolve(policy, allow=rules)
            return None
        said = f": {answer.reason}" if answer.reason else "."
        return f"The user denied this {call.name} call{said}", False

    # ------------------------------------------------------------------ hooks

    async def _pre_tool_use(self, call: ToolCall, found: Tool) -> PreToolUseDecision:
        """Every ``pre_tool_use`` answer combined (see :mod:`claw_runtime.hooks.answers`)."""
        if not self.host.has_implementations("pre_tool_use"):
            return PreToolUseDecision()

        def retarget(rewritten: ToolCall) -> ToolCall:
            return with_targets(rewritten, found, self.session.cwd)

        return await hook_answers.combine_pre_tool_use(self.host, call, self.session, retarget)

    async def _post_tool_use(
        self, call: ToolCall, result: ToolResultBlock
    ) -> tuple[ToolResultBlock, str | None]:
        """The result after every ``post_tool_use`` answer, and the first ``end_run``."""
        if not self.host.has_implementations("post_tool_use"):
            return result, None
        return await hook_answers.combine_post_tool_use(self.host, call, result, self.session)

    def _absorb_hook_rewrites(
        self, result: ToolResultBlock, stamps: Mapping[Path, FileStamp | None]
    ) -> ToolResultBlock:
        """A file a PostToolUse hook rewrote (a formatter) is not "changed on disk" later.

        The tool stamped what it wrote; if the file differs from that stamp after
        the hooks ran, claw's own hooks changed it: the new state becomes the
        stamp, and the model is told to read the file again before editing.
        """
        changed = []
        for path, stamp in stamps.items():
            if stamp is None:
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            if (info.st_mtime_ns, info.st_size) != (stamp.mtime_ns, stamp.size):
                self.session.file_reads[path] = FileStamp(
                    mtime_ns=info.st_mtime_ns, size=info.st_size
                )
                changed.append(str(path))
        if not changed:
            return result
        note = (
            f"Note: {', '.join(changed)} was changed by a PostToolUse hook after this call "
            "(a formatter, for example); read it again before editing it."
        )
        return attrs.evolve(result, content=(*result.content, TextBlock(text=note)))
