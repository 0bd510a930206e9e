"""Running a sub-agent: a child agent as a scheduler task under the tool call that asked.

The ``Task`` tool reaches a :class:`SubagentService` through
``ToolContext.agents`` (the session sets one on its executor; each sub-agent
gets its own, one level deeper). :meth:`SubagentService.run` then:

1. finds the agent type (:mod:`claw_runtime.agents.definitions`) and checks
   the depth limit (settings ``subagents.maxDepth``);
2. with ``isolation: worktree``, makes a git worktree on a branch of its own
   (:mod:`claw_runtime.agents.worktree`);
3. builds a child :class:`~claw_runtime.loop.Agent` with a fresh conversation:
   the definition's system prompt, its view of the parent's tools, the
   parent's live permission rules in the definition's mode, its own budgets,
   a :meth:`~claw_runtime.plugins.PluginHost.scoped` plugin view (a plugin
   failing inside it is disabled there only), events tagged with its
   ``agent_id`` and ``parent_agent``, and a sidechain transcript;
4. gives it HTTP connections of its own (``runtime.clients.for_session()``,
   as a session has: a thousand sub-agents on one client's pool would queue);
5. spawns it as a scheduler task **under the calling task** (the Task tool
   call, or for ``run_in_background`` the session), in the capacity group of
   its depth (``subagents.maxConcurrent`` each), with its time budget as the
   task's timeout. Cancelling the parent cancels the child's whole subtree,
   its tool calls and their processes included;
6. runs ``subagent_start`` hooks before its first request and
   ``subagent_stop`` hooks after its end, publishes
   :class:`~claw_runtime.events.SubagentStarted` and
   :class:`~claw_runtime.events.SubagentFinished`.

Its answer, or why it failed, comes back as a :class:`SubagentOutcome`; the
tool turns a failed one into an error result, so siblings are unaffected.
Approval prompts from concurrent sub-agents are asked one at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs
import trio

from claw_runtime.agents.builtin import SERVICE_KEY
from claw_runtime.agents.definitions import (
    AgentCatalog,
    AgentDefinition,
    file_definitions,
    merge_definitions,
    plugin_agents,
)
from claw_runtime.errors import TaskCancelled, TaskFailed, TaskTimedOut, ToolError
from claw_runtime.events import Event, SubagentFinished, SubagentStarted
from claw_runtime.logs import get_logger
from claw_runtime.scheduler import TaskHandle, current_task
from claw_runtime.sessions.transcript import Transcript, sidechain_path
from claw_runtime.tooling import TOOL_ALIASES, SessionState, Tool, ToolContext

if TYPE_CHECKING:
    import httpx

    from claw_runtime.agents.worktree import Worktree
    from claw_runtime.executor import Approval, Approver
    from claw_runtime.hooks.decisions import ToolCall
    from claw_runtime.loop import Agent, RunResult
    from claw_runtime.runtime import Runtime

__all__ = [
    "BackgroundAgent",
    "SubagentOutcome",
    "SubagentRequest",
    "SubagentService",
]

log = get_logger(__name__)

Status = Literal["completed", "failed", "timed_out", "cancelled"]

_INHERITED_EXTRAS = ("sandbox", "skills.plugin_dirs", "transcript_path", "trust.directories")
"""``SessionState.extras`` a child starts with: the sandbox, plugins' skills, the
session's transcript path (hooks receive it as ``transcript_path``), and the
directories the runtime trusts (the memory-import rule reads them)."""

CLEANUP_DEADLINE_S = 30.0
"""How long removing a worktree and the end-of-run records may take after a cancellation."""

NOTICE_RESULT_CHARS = 4000
"""How much of a background sub-agent's answer its completion notice carries."""


@attrs.frozen(kw_only=True)
class SubagentRequest:
    """What the ``Task`` tool was asked for."""

    description: str
    prompt: str
    agent_type: str = "general-purpose"
    isolation: Literal["worktree"] | None = None


@attrs.frozen(kw_only=True)
class SubagentOutcome:
    """How one sub-agent ended."""

    agent_id: str
    agent_type: str
    status: Status
    text: str
    """Its final answer, or why it has none."""
    result: RunResult | None = None
    branch: str | None = None
    """The branch holding its changes (``isolation: worktree`` and it changed something)."""
    worktree: Path | None = None
    transcript: Path | None = None

    @property
    def is_error(self) -> bool:
        return self.status != "completed"

    def report(self) -> str:
        """What the parent model reads: the answer, and where the changes are."""
        text = self.text
        if self.branch is not None:
            text += (
                f"\n\n[The sub-agent's changes are committed on branch {self.branch}"
                f" (worktree: {self.worktree}).]"
            )
        return text


@attrs.define(eq=False, kw_only=True)
class BackgroundAgent:
    """A sub-agent started with ``run_in_background``; ``TaskOutput`` reads it."""

    agent_id: str
    agent_type: str
    description: str
    outcome: SubagentOutcome | None = None
    done: trio.Event = attrs.field(factory=trio.Event)
    read: bool = False
    """``TaskOutput`` returned the outcome (then no completion notice is needed)."""


@attrs.define(eq=False, kw_only=True)
class _Shared:
    """What one session's whole tree of sub-agents shares."""

    session_path: Callable[[], Path | None]
    approval_lock: trio.Lock = attrs.field(factory=trio.Lock)
    git_lock: trio.Lock = attrs.field(factory=trio.Lock)
    catalog: AgentCatalog | None = None
    files: tuple[list[AgentDefinition], list[str]] | None = None
    """The definition files and their warnings, read ahead by :meth:`SubagentService.read_files`."""


def new_agent_id() -> str:
    """A short unique id (Claude Code's are hex too)."""
    return uuid.uuid4().hex[:16]


@attrs.define(eq=False, kw_only=True)
class SubagentService:
    """Starts sub-agents for one agent (the session's, or a sub-agent's own).

    Build the session's with :meth:`for_session`; each child gets one from
    :meth:`_child_service`.
    """

    runtime: Runtime
    agent: Agent
    """The agent whose tool calls start sub-agents (its tools, policy, model)."""
    provider_name: str
    depth: int = 0
    """0 for the session's main agent; a sub-agent's service is its own depth."""
    agent_id: str | None = None
    """This agent's id (None: the session's main agent)."""
    background: dict[str, BackgroundAgent] = attrs.field(factory=dict)
    _shared: _Shared

    @classmethod
    def for_session(
        cls,
        runtime: Runtime,
        agent: Agent,
        provider_name: str,
        session_path: Callable[[], Path | None],
    ) -> SubagentService:
        """The service of a session's main agent; ``session_path`` is its transcript's.

        It is also kept in the session's extras (for the agent-type listing).
        """
        service = cls(
            runtime=runtime,
            agent=agent,
            provider_name=provider_name,
            shared=_Shared(session_path=session_path),
        )
        agent.session.extras[SERVICE_KEY] = service
        return service

    # --------------------------------------------------------------- catalog

    async def catalog(self, *, reload: bool = False) -> AgentCatalog:
        """Every agent type this session can start (files read once per session)."""
        shared = self._shared
        if shared.catalog is None or reload:
            registered, warnings = plugin_agents(self.runtime.host)
            read_ahead, shared.files = shared.files, None
            if read_ahead is None or reload:
                read_ahead = await trio.to_thread.run_sync(self.read_files)
            files, file_warnings = read_ahead
            for warning in file_warnings:
                log.warning(warning)
            shared.catalog = AgentCatalog(
                agents=merge_definitions([*registered, *files]),
                warnings=(*warnings, *file_warnings),
            )
        return shared.catalog

    def read_files(self) -> tuple[list[AgentDefinition], list[str]]:
        """Read the agent definition files (blocking); kept for :meth:`catalog` when called
        ahead of it (the listing's ``prepare``, in the session's worker thread)."""
        from claw_runtime.commands.locations import project_trusted

        state = self.agent.session
        trusted_dirs = self.runtime.settings.trusted_directories
        return file_definitions(state, lambda: project_trusted(state, trusted_dirs))

    def read_ahead(self) -> None:
        """:meth:`read_files` now, for the first :meth:`catalog` (blocking: in a thread)."""
        if self._shared.catalog is None and self._shared.files is None:
            self._shared.files = self.read_files()

    async def resolve(self, request: SubagentRequest) -> AgentDefinition:
        """The definition ``request`` names, after the depth check.

        Raises:
            ToolError: too deep, or no agent of that type.
        """
        limits = self.runtime.settings.subagents
        if self.depth >= limits.max_depth:
            raise ToolError(
                f"Cannot start a sub-agent here: sub-agents may nest {limits.max_depth} "
                f"level(s) deep (settings: subagents.maxDepth), and this agent is at depth "
                f"{self.depth}. Do the task yourself."
            )
        catalog = await self.catalog()
        definition = catalog.find(request.agent_type)
        if definition is None:
            known = ", ".join(sorted(catalog.agents)) or "none"
            raise ToolError(f"No agent type {request.agent_type!r}. Available types: {known}.")
        return definition

    # ----------------------------------------------------------------- running

    async def run(self, request: SubagentRequest) -> SubagentOutcome:
        """Run a sub-agent to its end, as a child of the calling task; its outcome.

        Raises:
            ToolError: it could not start (depth, unknown type, no git repository).
            trio.Cancelled: the caller was cancelled (the sub-agent was stopped first).
        """
        definition = await self.resolve(request)
        return await self._run_resolved(definition, request, new_agent_id(), background=False)

    async def start_background(self, request: SubagentRequest, ctx: ToolContext) -> BackgroundAgent:
        """Start a sub-agent that outlives this tool call (not the session); at once.

        When it ends, the parent model is told at its next message (a
        ``<system-reminder>``), unless ``TaskOutput`` already returned it.

        Raises:
            ToolError: it could not start (depth, unknown type).
        """
        definition = await self.resolve(request)
        agent_id = new_agent_id()
        entry = BackgroundAgent(
            agent_id=agent_id, agent_type=definition.name, description=request.description
        )
        self.background[agent_id] = entry
        ctx.spawn_background(
            self._background_main, entry, definition, request, name=f"agent:{agent_id}"
        )
        return entry

    async def _background_main(
        self, entry: BackgroundAgent, definition: AgentDefinition, request: SubagentRequest
    ) -> None:
        try:
            outcome = await self._run_resolved(definition, request, entry.agent_id, background=True)
        except Exception as exc:  # it could not start (no git repository...): say so
            text = str(exc) if isinstance(exc, ToolError) else f"{type(exc).__name__}: {exc}"
            outcome = SubagentOutcome(
                agent_id=entry.agent_id, agent_type=definition.name, status="failed", text=text
            )
        entry.outcome = outcome
        entry.done.set()
        if not entry.read:
            text = outcome.report()
            if len(text) > NOTICE_RESULT_CHARS:
                text = text[:NOTICE_RESULT_CHARS] + " [...] (TaskOutput has the whole answer)"
            self.agent.session.notices.append(
                f"Background agent {entry.agent_id} ({definition.name}: {entry.description}) "
                f"{outcome.status.replace('_', ' ')}. Its answer:\n{text}"
            )

    async def _run_resolved(
        self,
        definition: AgentDefinition,
        request: SubagentRequest,
        agent_id: str,
        *,
        background: bool,
    ) -> SubagentOutcome:
        runtime = self.runtime
        limits = runtime.settings.subagents
        worktree: Worktree | None = None
        cwd = self.agent.session.cwd
        if (request.isolation or definition.isolation) == "worktree":
            from claw_runtime.agents.worktree import create_worktree

            async with self._shared.git_lock:
                worktree = await create_worktree(cwd, agent_id, self.agent.session.env)
            cwd = worktree.cwd
        http = runtime.clients.for_session()  # its own connections, as a session's
        try:
            child = self._make_child(definition, agent_id, cwd, worktree, http)
        except BaseException:
            with trio.CancelScope(shield=True):
                await runtime.clients.release(http)
                if worktree is not None:  # nothing ran in it: removed
                    from claw_runtime.agents.worktree import finish_worktree

                    await finish_worktree(worktree, request.description, self.agent.session.env)
            raise
        group = f"subagents.depth{self.depth + 1}"
        runtime.scheduler.set_capacity(group, limits.max_concurrent)
        handle: TaskHandle[RunResult] = runtime.scheduler.spawn(
            self._child_main,
            child,
            definition,
            request,
            agent_id,
            background,
            name=f"agent:{definition.name}:{agent_id}",
            parent=current_task(),
            group=group,
            timeout=limits.timeout_s,
        )
        status: Status = "cancelled"
        text = "The sub-agent was cancelled."
        result: RunResult | None = None
        branch: str | None = None
        try:
            try:
                result = await handle.result()
                status = "failed" if result.is_error else "completed"
                text = result.result
                if result.is_error:
                    text = f"Sub-agent {agent_id} ({definition.name}) failed: {result.result}"
            except TaskTimedOut:
                status = "timed_out"
                text = (
                    f"Sub-agent {agent_id} ({definition.name}) was stopped: it ran longer "
                    f"than {limits.timeout_s:g} s (settings: subagents.timeoutS)."
                )
            except TaskFailed as exc:
                status = "failed"
                text = f"Sub-agent {agent_id} ({definition.name}) crashed: {exc.__cause__ or exc}"
            except TaskCancelled:
                status = "cancelled"
        except trio.Cancelled:
            handle.cancel()
            with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_DEADLINE_S):
                await handle.wait()
            raise
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_DEADLINE_S):
                if worktree is not None:
                    from claw_runtime.agents.worktree import finish_worktree

                    async with self._shared.git_lock:
                        kept = await finish_worktree(
                            worktree, request.description, self.agent.session.env
                        )
                    branch = worktree.branch if kept else None
                child.transcript.close()
                await runtime.clients.release(http)
                await self._publish_finished(child, definition, agent_id, status, text, branch)
        path = child.transcript.path
        if status != "cancelled" and child.host.has_implementations("subagent_stop"):
            await child.host.call(
                "subagent_stop",
                session=child.session,
                agent=definition.name,
                result=text,
                agent_id=agent_id,
                transcript_path=str(path or ""),
            )
        return SubagentOutcome(
            agent_id=agent_id,
            agent_type=definition.name,
            status=status,
            text=text,
            result=result,
            branch=branch,
            worktree=worktree.path if worktree is not None and branch is not None else None,
            transcript=path,
        )

    async def _child_main(
        self,
        child: Agent,
        definition: AgentDefinition,
        request: SubagentRequest,
        agent_id: str,
        background: bool,
    ) -> RunResult:
        """The sub-agent's task: start hooks, then its run; tool calls are its children."""
        child.parent_task = current_task()
        if child.host.has_implementations("subagent_start"):
            from claw_runtime.sessions.session import session_start_context

            answers = await child.host.call(
                "subagent_start",
                session=child.session,
                agent=definition.name,
                agent_id=agent_id,
                description=request.description,
            )
            ended = session_start_context(child, answers)
            if ended is not None:
                return child.result("hook_stopped", is_error=True, text=ended)
        assert child.publish is not None
        await child.publish(
            SubagentStarted(
                agent_type=definition.name,
                description=request.description,
                background=background,
                cwd=str(child.session.cwd),
            )
        )
        result = await child.run(request.prompt)
        child.transcript.append("result", result=result)
        return result

    async def _publish_finished(
        self,
        child: Agent,
        definition: AgentDefinition,
        agent_id: str,
        status: Status,
        text: str,
        branch: str | None,
    ) -> None:
        if child.publish is None:
            return
        await child.publish(
            SubagentFinished(
                agent_type=definition.name,
                status=status,
                result=text,
                num_turns=child.num_turns,
                usage=child.usage,
                branch=branch,
            )
        )

    # ---------------------------------------------------------------- the child

    def _make_child(
        self,
        definition: AgentDefinition,
        agent_id: str,
        cwd: Path,
        worktree: Worktree | None,
        http: httpx.AsyncClient,
    ) -> Agent:
        from claw_runtime.loop import Agent
        from claw_runtime.providers.aliases import resolve_model_alias

        runtime, parent = self.runtime, self.agent
        limits = runtime.settings.subagents
        roots = list(parent.session.workspace_roots)
        if worktree is not None:  # its edits stay in its worktree
            roots = [worktree.path, *roots[1:]]
        state = SessionState(
            session_id=parent.session.session_id,
            cwd=cwd,
            workspace_roots=roots,
            env=dict(parent.session.env),
        )
        for key in _INHERITED_EXTRAS:
            if key in parent.session.extras:
                state.extras[key] = parent.session.extras[key]
        policy = parent.executor.permissions
        mode = self._mode(definition, policy.mode)
        policy = attrs.evolve(policy, mode=mode)
        state.permission_mode = mode
        model = parent.options.model
        if definition.model:
            model = resolve_model_alias(definition.model, runtime.settings.model_aliases)
        options = attrs.evolve(
            parent.options,
            model=model,
            max_turns=definition.max_turns or limits.max_turns,
            max_budget_tokens=limits.max_tokens or parent.options.max_budget_tokens,
            system_prompt=definition.system_prompt or None,
            append_system_prompt=None,
            permissions=policy,
        )
        name, settings = runtime.provider_settings(self.provider_name, model=model)
        session_path = self._shared.session_path()
        transcript = Transcript(
            sidechain_path(session_path, agent_id) if session_path is not None else None,
            session_id=state.session_id,
            cwd=str(cwd),
            agent_id=agent_id,
        )
        child = Agent(
            provider=runtime.make_provider(name, settings, http=http),
            tools=self._tool_view(definition),
            host=parent.host.scoped(f"sub-agent {agent_id}"),
            session=state,
            options=options,
            scheduler=runtime.scheduler,
            processors=runtime.registry.context_processors,
            transcript=transcript,
            http=http,
            approver=self._child_approver(definition),
            publish=self._child_publish(agent_id),
        )
        service = SubagentService(
            runtime=runtime,
            agent=child,
            provider_name=self.provider_name,
            depth=self.depth + 1,
            agent_id=agent_id,
            shared=self._shared,
        )
        child.executor.agents = state.extras[SERVICE_KEY] = service
        return child

    def _mode(self, definition: AgentDefinition, parent_mode: Any) -> Any:
        """The definition's mode, unless settings turned bypass off; else the parent's.

        A parent in plan mode keeps its children in plan mode: a sub-agent can
        never change more than its parent could.
        """
        wanted = definition.permission_mode
        if wanted is None or parent_mode == "plan":
            return parent_mode
        off = self.runtime.settings.permissions.disable_bypass_permissions_mode == "disable"
        if wanted == "bypassPermissions" and off:
            return parent_mode
        return wanted

    def _tool_view(self, definition: AgentDefinition) -> dict[str, Tool]:
        """The parent's tools, narrowed to the definition's list (never widened)."""
        tools = dict(self.agent.tools)
        if definition.tools is None:
            return tools
        wanted = {TOOL_ALIASES.get(name, name) for name in definition.tools}
        return {name: t for name, t in tools.items() if name in wanted}

    def _child_approver(self, definition: AgentDefinition) -> Approver | None:
        """The parent's approver, one prompt at a time across the session's sub-agents."""
        parent = self.agent.executor.approver
        if parent is None:
            return None
        lock = self._shared.approval_lock

        async def approve(call: ToolCall, reason: str) -> Approval:
            async with lock:
                return await parent(call, f"[sub-agent {definition.name}] {reason}")

        return approve

    def _child_publish(self, agent_id: str) -> Callable[[Event], Any]:
        """Events tagged with the sub-agent and its parent, then published as the parent's."""
        parent_publish = self.agent.publish
        session_id = self.agent.session.session_id
        parent_agent = self.agent_id

        async def publish(event: Event) -> None:
            if event.agent_id is None:
                task = current_task()
                event = attrs.evolve(
                    event,
                    session_id=session_id,
                    task_id=task.id if task is not None else None,
                    agent_id=agent_id,
                    parent_agent=parent_agent,
                )
            if parent_publish is not None:
                await parent_publish(event)

        return publish
