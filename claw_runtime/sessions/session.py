"""A session: one conversation, its state, its file on disk, and its life.

The CLI, a program embedding claw, a sub-agent and a server all need the same
things around the agent loop: options built from settings, a provider, the
session state, the transcript, ``session_start``/``session_end`` hooks and
events, background work that ends with the session, and a result record per
run. :func:`open_session` is that, once; callers only say what differs::

    async with claw_runtime.open_runtime(cwd=project) as runtime:
        async with runtime.open_session(model="sonnet", permission_mode="acceptEdits") as session:
            result = await session.run("fix the failing test")
            again = await session.run("now add a test for it")  # same conversation

Each :meth:`Session.run` returns that run's own :class:`RunResult` (its turns,
usage and cost; its own ``max_turns`` budget), and continues the conversation.

Lifetime: the session owns a scheduler task; each run is a child of it, and so
is background work a tool starts (``run_in_background`` shells), so that work
outlives a run but never the session: closing the session cancels it and kills
its processes. Signal handling is the caller's (the CLI's), so a session works
off the main thread and many sessions share one runtime.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import attrs
import trio

from claw_runtime._paths import user_path
from claw_runtime.bus import DeliveryPolicy, EventBus, Subscription
from claw_runtime.commands import CommandResult, parse_command_line
from claw_runtime.commands.locations import project_dir
from claw_runtime.context.compaction import CompactionOutcome, CompactionPolicy, Compactor
from claw_runtime.context.skills import PLUGIN_DIRS_KEY as PLUGIN_SKILL_DIRS_KEY
from claw_runtime.errors import ConfigError, TaskCancelled, TaskError
from claw_runtime.events import Event, SessionEnded, SessionStarted
from claw_runtime.hooks.decisions import SessionStartOutcome
from claw_runtime.logs import get_logger
from claw_runtime.loop import Agent, AgentOptions, Approver, RunResult
from claw_runtime.mcp import SESSION_MCP_KEY, mcp_configured
from claw_runtime.models import Usage
from claw_runtime.permissions import PermissionMode, parse_rule
from claw_runtime.providers.aliases import resolve_model_alias
from claw_runtime.providers.base import Provider
from claw_runtime.providers.unconfigured import UnconfiguredProvider
from claw_runtime.scheduler import TaskHandle, current_task
from claw_runtime.sessions.store import LoadedSession, load_session
from claw_runtime.sessions.transcript import Transcript, transcript_path
from claw_runtime.tooling import SessionState

if TYPE_CHECKING:
    from claw_runtime.commands.dispatch import CommandTable
    from claw_runtime.mcp.session import SessionMcp
    from claw_runtime.runtime import Runtime

__all__ = [
    "HookScope",
    "Session",
    "open_session",
    "session_start_context",
]

log = get_logger(__name__)

_T = TypeVar("_T")

_FOUND_AGAIN_AFTER_CLEAR = ("builtin.context.", "skills.catalog", "tools.skill.")
"""``SessionState.extras`` keys of what a new conversation reads again: the memory files
and the environment (``context_builtin``), the skills and their listing."""

SESSION_END_DEADLINE_S = 10.0
"""How long ``session_end`` hooks may take before the session closes anyway."""

HookScope = Callable[[float | None], AbstractContextManager[trio.CancelScope]]
"""Makes the cancel scope session hooks run in, given their time limit (None: none)."""


@attrs.define(eq=False, kw_only=True)
class Session:
    """A live session. Get one from :func:`open_session` (or ``Runtime.open_session``)."""

    runtime: Runtime
    state: SessionState
    agent: Agent
    transcript: Transcript
    provider_name: str
    loaded: LoadedSession | None = None
    """What was read back when the session resumed (its warnings, its records)."""
    ended_by_hook: str | None = None
    """Set when a ``session_start`` hook ended the session before it began."""
    notify: Callable[[str], None]
    """Where one-line notices for the person go (see :func:`open_session`)."""
    hook_scope: HookScope
    session_end_timeout: float
    last_command: CommandResult | None = None
    """What the slash command of the latest run returned (None: the run was no command),
    so the host can act on its requests (``exit``, ``resume``)."""
    _bus: EventBus = attrs.field(factory=EventBus)
    """This session's own events, for :meth:`events` (the runtime's bus gets them too)."""
    _task: TaskHandle[Any] | None = None
    _current: TaskHandle[Any] | None = None
    _totals: list[RunResult] = attrs.field(factory=list)

    @property
    def id(self) -> str:
        return self.state.session_id

    @property
    def model(self) -> str:
        return self.agent.options.model

    @property
    def results(self) -> tuple[RunResult, ...]:
        """Every run's result so far, in order."""
        return tuple(self._totals)

    @property
    def cwd(self) -> Path:
        """Where the session works now (Bash's ``cd`` moves it)."""
        return self.state.cwd

    async def run(self, prompt: str, *, mentions: bool = True) -> RunResult:
        """Run ``prompt`` to the end of its turn; that run's own result.

        Each file the prompt mentions as ``@path`` is attached after it (read
        through the Read tool, so hooks and deny rules apply; files outside the
        workspace are not), as the terminal and ``claw -p`` do; a mention left
        out is one notice. ``mentions=False`` sends the prompt exactly as given.

        A prompt whose first word is ``/name`` (letters, digits, ``_``, ``-``,
        ``:``) runs the slash command of that name instead (see
        :mod:`claw_runtime.commands`): its ``output`` is the result, with no
        model call, unless it returns a ``prompt``, which then runs as this
        prompt would have, with the command's ``allowed_tools`` and ``model``
        for that run only. An unknown ``/name`` is an error result; a first
        word that is a path (``/usr/bin/foo is broken``, ``/tmp is full``) is
        sent to the model as it is.

        Cancelling the caller (or :meth:`cancel`) stops the run: its tools and
        their processes are stopped, unfinished calls get "aborted" results, and
        the result says ``cancelled``. Failures inside the run come back as an
        error result, not an exception.
        """
        agent = self.agent
        self.last_command = None
        if self.ended_by_hook is not None:
            ended = agent.result("hook_stopped", text=self.ended_by_hook)
            await self._record(ended)
            return ended
        agent.num_turns, agent.usage, agent.cost_usd = 0, Usage(), 0.0
        agent.denials.clear()
        try:  # cancelled already (a signal while hooks ran): do not start at all
            await trio.lowlevel.checkpoint_if_cancelled()
        except trio.Cancelled:
            await self._record(agent.result("cancelled", is_error=True, text="Cancelled."))
            raise
        self.state.extras.setdefault(  # for the Skill tool and the skills listing
            PLUGIN_SKILL_DIRS_KEY, tuple(self.runtime.registry.skill_dirs)
        )
        invocation = parse_command_line(prompt)
        if invocation is not None:
            return await self._run_command(prompt, *invocation)
        if mentions and "@" in prompt:
            attached = await self._attach_mentions(prompt)
            if isinstance(attached, RunResult):  # cancelled while reading
                await self._record(attached)
                return attached
            prompt = attached
        return await self._run_prompt(prompt)

    async def _attach_mentions(self, prompt: str) -> str | RunResult:
        """``prompt`` with the files it mentions attached; each one left out is a notice."""
        from claw_runtime.commands.expand import attach_mentions

        found = await self._supervise(attach_mentions, self, prompt, name="mentions")
        if isinstance(found, RunResult):
            return found
        for notice in found.notices:
            self.notify(notice)
        return found.prompt

    async def commands(self) -> CommandTable:
        """Every slash command this session can run now: registered ones, then skills
        and Markdown files as they are on disk (read in threads)."""
        from claw_runtime.commands.dispatch import command_table

        return await command_table(self)

    def set_model(self, model: str) -> str:
        """Use ``model`` (an alias such as ``sonnet``, or a full name) from the next run on;
        the full name it resolved to."""
        resolved = resolve_model_alias(model, self.runtime.settings.model_aliases)
        self.agent.options = attrs.evolve(self.agent.options, model=resolved)
        return resolved

    @property
    def permission_mode(self) -> PermissionMode:
        """The mode the session's live permission policy is in."""
        return self.agent.executor.permissions.mode

    def set_permission_mode(self, mode: PermissionMode) -> None:
        """Switch the permission mode from the next tool call on (Shift+Tab in the terminal).

        Rules the session has gathered ("yes, always") are kept.

        Raises:
            ConfigError: bypass mode is turned off in settings.
        """
        settings = self.runtime.settings.permissions
        if mode == "bypassPermissions" and settings.disable_bypass_permissions_mode == "disable":
            raise ConfigError(
                "bypassPermissions is turned off by permissions.disableBypassPermissionsMode"
            )
        executor = self.agent.executor
        executor.permissions = attrs.evolve(executor.permissions, mode=mode)
        self.state.permission_mode = mode

    @contextmanager
    def allowing(self, rules: Sequence[str]) -> Iterator[None]:
        """Allow ``rules`` (``Bash(git status:*)``, ``Read``) for the duration of the block.

        The rules join the session's live policy and leave it afterwards; rules
        the person allowed meanwhile ("yes, always") stay.

        Raises:
            ValueError: a rule cannot be understood.
        """
        added = tuple(parse_rule(rule) for rule in rules)
        if not added:
            yield
            return
        executor = self.agent.executor
        executor.permissions = attrs.evolve(
            executor.permissions, allow=(*executor.permissions.allow, *added)
        )
        try:
            yield
        finally:
            ours = {id(rule) for rule in added}
            policy = executor.permissions
            executor.permissions = attrs.evolve(
                policy, allow=tuple(r for r in policy.allow if id(r) not in ours)
            )

    async def clear(self) -> None:
        """Start a new conversation, as Claude Code's ``/clear`` does.

        ``session_end`` hooks run with reason ``clear``; the history, the todo
        list, what Read saw and the session context go; the session gets a new
        id and, when it is saved, a new file; then ``session_start`` hooks run
        with source ``clear``. The model, the permission rules, the cost so far
        and background work stay.
        """
        state, agent = self.state, self.agent
        with self.hook_scope(self.session_end_timeout):
            await self.runtime.host.call("session_end", session=state, reason="clear")
        self.transcript.close()
        state.session_id = str(uuid.uuid4())
        path = None
        if self.transcript.path is not None:
            path = transcript_path(project_dir(state), state.session_id, self.runtime.environ)
        self.transcript = Transcript(
            path, session_id=state.session_id, cwd=self.transcript.cwd, warn=self.notify
        )
        agent.transcript = self.transcript
        state.extras["transcript_path"] = str(path or "")
        agent.messages.clear()
        agent.session_context.clear()
        state.todos.clear()
        state.file_reads.clear()
        for key in [k for k in state.extras if k.startswith(_FOUND_AGAIN_AFTER_CLEAR)]:
            del state.extras[key]
        with self.hook_scope(None):
            answers = await self.runtime.host.call("session_start", session=state, source="clear")
            self.ended_by_hook = session_start_context(agent, answers)

    async def compact(
        self, focus: str | None = None, trigger: Literal["manual", "auto"] = "manual"
    ) -> CompactionOutcome:
        """Summarise the older turns and keep the recent ones, as ``/compact [focus]`` does.

        ``pre_compact`` hooks run first (PreCompact command hooks matched by
        ``trigger``), ``session_start`` hooks with source ``compact`` after; the
        session file gets the compaction record, so a resumed session continues
        from the summary. ``focus`` tells the summariser what to keep in detail.
        See ``docs/compaction.md``.

        Raises:
            CompactionError: nothing to compact yet, or the model failed; the
                conversation is unchanged.
        """
        compactor = self.agent.compactor
        if compactor is None:
            compactor = self.agent.compactor = Compactor(notify=self.notify)
        return await compactor.compact(self.agent, trigger=trigger, focus=focus)

    async def _run_command(self, prompt: str, name: str, args: str) -> RunResult:
        """Run the command ``/name``; a path-like unknown name goes to the model instead."""
        started = time.perf_counter()
        table = await self.commands()
        command = table.find(name)
        if command is None:
            if _is_a_path(f"/{name}"):
                return await self._run_prompt(prompt)
            return await self._command_result(
                f"unknown command /{name}; /help lists them", started, is_error=True
            )
        outcome = await self._supervise(
            command.run, args, self, name=f"command:/{command.name}", what=f"/{command.name}"
        )
        if isinstance(outcome, RunResult):
            await self._record(outcome)
            return outcome
        if not isinstance(outcome, CommandResult):
            return await self._command_result(
                f"/{command.name} returned {type(outcome).__name__}, not a CommandResult",
                started,
                is_error=True,
            )
        self.last_command = outcome
        if outcome.prompt is None:
            return await self._command_result(outcome.output, started, is_error=outcome.is_error)
        try:
            return await self._run_prompt(
                outcome.prompt, allowed_tools=outcome.allowed_tools, model=outcome.model
            )
        except ValueError as exc:  # an allowed-tools rule that cannot be understood
            return await self._command_result(f"/{command.name}: {exc}", started, is_error=True)

    async def _run_prompt(
        self, prompt: str, *, allowed_tools: Sequence[str] = (), model: str | None = None
    ) -> RunResult:
        """Run ``prompt`` through the agent, with extra allow rules and a model for this run."""
        agent = self.agent
        if isinstance(agent.provider, UnconfiguredProvider):  # no credentials: say so, send nothing
            failed = agent.result("error", is_error=True, text=str(agent.provider.error))
            await self._record(failed)
            return failed
        session_model = agent.options.model
        if model:
            agent.options = attrs.evolve(
                agent.options,
                model=resolve_model_alias(model, self.runtime.settings.model_aliases),
            )
        try:
            with self.allowing(allowed_tools):
                result = await self._supervise(agent.run, prompt, name="agent")
        finally:
            if model:
                agent.options = attrs.evolve(agent.options, model=session_model)
        await self._record(result)
        return result

    async def _supervise(
        self, fn: Callable[..., Awaitable[_T]], *args: Any, name: str, what: str = "The run"
    ) -> _T | RunResult:
        """``fn(*args)`` as a task of this session that :meth:`cancel` stops; a cancelled or
        crashed task is an error result (recorded by the caller), never an exception."""
        agent = self.agent
        handle = self.runtime.scheduler.spawn(fn, *args, name=name, parent=self._task)
        self._current = handle
        try:
            return await handle.result()
        except TaskCancelled:
            return agent.result("cancelled", is_error=True, text="Cancelled by the user.")
        except TaskError as exc:
            return agent.result(
                "error", is_error=True, text=f"{what} crashed: {exc.__cause__ or exc}"
            )
        except trio.Cancelled:
            handle.cancel()
            with trio.CancelScope(shield=True):
                await handle.wait()
                await self._record(agent.result("cancelled", is_error=True, text="Cancelled."))
            raise
        finally:
            self._current = None

    async def _command_result(
        self, text: str, started: float, *, is_error: bool = False
    ) -> RunResult:
        """The result of a command that did not call the model (recorded)."""
        result = RunResult(
            result=text,
            is_error=is_error,
            num_turns=0,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            usage=Usage(),
            total_cost_usd=0.0,
            session_id=self.id,
            stop_reason="command",
            permission_denials=tuple(self.agent.denials),
        )
        await self._record(result)
        return result

    def events(self, *, buffer: int = 4096, policy: DeliveryPolicy = "drop") -> Subscription:
        """This session's events from now on, until it ends (``SessionEnded`` is the last)::

            with session.events() as events:
                async for event in events:
                    ...

        ``drop`` (the default) never slows the session: a reader that falls
        ``buffer`` events behind gets an ``EventsDropped`` saying how many it
        missed. ``block`` loses nothing but makes the session wait for the
        reader, so read concurrently (in a nursery) with ``block``. Use it as a
        context manager so it unsubscribes.
        """
        return self._bus.subscribe(f"session:{self.id}", buffer=buffer, policy=policy)

    async def publish(self, event: Event) -> None:
        """Publish ``event``, stamped with this session and the task, to the runtime and
        to this session's :meth:`events` readers (if any reader takes its kind)."""
        kind = type(event)
        if not (self.runtime.bus.wants(kind) or self._bus.wants(kind)):
            return  # nobody reads it: no stamped copy, no delivery
        if event.session_id is None:
            task = current_task()
            event = attrs.evolve(
                event, session_id=self.id, task_id=task.id if task is not None else None
            )
        await self.runtime.publish(event)
        await self._bus.publish(event)

    def cancel(self) -> None:
        """Cancel the run in progress, if any (what Ctrl-C does)."""
        if self._current is not None:
            self._current.cancel()

    async def _record(self, result: RunResult) -> None:
        """Keep ``result`` and write it; the file is made durable off the event loop
        (``fsync`` can take milliseconds, and other sessions are running)."""
        self._totals.append(result)
        self.transcript.append("result", result=result)
        if self.transcript.has_file:  # else nothing to sync (``persist=False``): no thread
            with trio.CancelScope(shield=True):  # the record is written whatever happens
                await trio.to_thread.run_sync(self.transcript.sync)


async def _session_task(running: trio.Event) -> None:
    """The session's own task: the parent of its runs and of its background work."""
    running.set()
    await trio.sleep_forever()


def session_start_context(agent: Agent, answers: list[tuple[str, Any]]) -> str | None:
    """SessionStart answers become session context; the first ``end_run`` ends it."""
    ended = None
    for _plugin, answer in answers:
        if isinstance(answer, SessionStartOutcome):
            if answer.additional_context:
                agent.session_context.append(answer.additional_context)
            ended = ended or answer.end_run
        elif isinstance(answer, str) and answer.strip():
            agent.session_context.append(answer)
    return ended


def _is_a_path(word: str) -> bool:
    """``/tmp``, ``/usr``: a first word that names something on disk is not a command."""
    try:
        return os.path.lexists(word)
    except (OSError, ValueError):
        return False


def _timed_scope(timeout: float | None) -> AbstractContextManager[trio.CancelScope]:
    return trio.move_on_after(math.inf if timeout is None else timeout)


def _log_notice(message: str) -> None:
    log.warning(message)


@asynccontextmanager
async def open_session(
    runtime: Runtime,
    *,
    cwd: str | os.PathLike[str] | None = None,
    model: str | None = None,
    provider: str | None = None,
    permission_mode: PermissionMode | None = None,
    allowed_tools: Sequence[str] = (),
    disallowed_tools: Sequence[str] = (),
    system_prompt: str | None = None,
    append_system_prompt: str | None = None,
    thinking_budget: int | None = None,
    max_turns: int | None = None,
    approver: Approver | None = None,
    persist: bool = True,
    resume: str | os.PathLike[str] | None = None,
    fork: bool = False,
    session_id: str | None = None,
    source: Literal["startup", "resume", "clear", "compact"] | None = None,
    notify: Callable[[str], None] | None = None,
    hook_scope: HookScope | None = None,
    session_end_timeout: float = SESSION_END_DEADLINE_S,
) -> AsyncIterator[Session]:
    """Open a session on ``runtime``; on exit, end it (hooks, events, background work).

    Args:
        cwd: the workspace (default: the current directory).
        resume: a session file to continue (claw's or Claude Code's); with
            ``fork`` the conversation is copied into a new session id.
        session_id: the new session's id (default: a fresh UUID, or the
            resumed session's own id when not forking).
        persist: write the session file (``False``: nothing on disk).
        notify: told each one-line notice meant for the person (a torn line
            skipped on resume, a background task the session's end stopped,
            hooks that overran); default: the log.
        hook_scope: the scope ``session_start`` and ``session_end`` hooks run
            in, given their time limit (None: none). The CLI passes one its
            signal handler can cancel; default: just the time limit.
        session_end_timeout: how long ``session_end`` hooks may take in all.

    Raises:
        ConfigError: settings or options that cannot be used.
        ProviderConfigError: an unknown provider. Missing credentials do not
            stop the session from opening: each prompt's run is then an error
            result saying what to set (slash commands that need no model work).
        SessionNotFound: ``resume`` cannot be read.
    """
    cwd = user_path(cwd if cwd is not None else os.curdir)
    tell = notify or _log_notice
    scope = hook_scope or _timed_scope
    settings = runtime.settings
    if max_turns is not None:
        settings = attrs.evolve(settings, max_turns=max_turns)
    # Without credentials the session opens: its first model request fails instead.
    provider_name, provider_settings, missing = runtime.session_provider_settings(
        provider, model=model
    )
    options = AgentOptions.from_settings(
        settings,
        model=provider_settings.model,
        project=cwd,
        permission_mode=permission_mode,
        allowed_tools=allowed_tools,
        disallowed_tools=disallowed_tools,
        system_prompt=system_prompt,
        append_system_prompt=append_system_prompt,
        thinking_budget=thinking_budget,
    )
    loaded = load_session(user_path(resume)) if resume is not None else None
    if loaded is not None:
        for warning in loaded.warnings:
            tell(warning)
    if session_id is None:
        session_id = loaded.session_id if loaded is not None and not fork else str(uuid.uuid4())
    state = runtime.new_session(cwd, session_id=session_id)
    path = transcript_path(cwd, session_id, runtime.environ) if persist else None
    if path is not None and path.exists() and (loaded is None or loaded.path != path):
        raise ConfigError(
            f"session id {session_id} is already in use; resume it (claw -r {session_id}) "
            "or choose another id"
        )
    transcript = Transcript(path, session_id=session_id, cwd=str(cwd), warn=tell)
    state.extras["transcript_path"] = str(path or "")
    http = runtime.clients.for_session()  # its own connections (settings: http)
    model_api: Provider = (
        runtime.make_provider(provider_name, provider_settings, http=http)
        if missing is None
        else UnconfiguredProvider(name=provider_name, error=missing)
    )
    agent = Agent(
        provider=model_api,
        tools=dict(runtime.registry.tools),  # the session's own table: MCP tools join it
        host=runtime.host,
        session=state,
        options=options,
        scheduler=runtime.scheduler,
        processors=runtime.registry.context_processors,
        transcript=transcript,
        http=http,
        approver=approver,
        compactor=Compactor(policy=CompactionPolicy.from_settings(settings), notify=tell),
    )
    session = Session(
        runtime=runtime,
        state=state,
        agent=agent,
        transcript=transcript,
        provider_name=provider_name,
        loaded=loaded,
        notify=tell,
        hook_scope=scope,
        session_end_timeout=session_end_timeout,
    )
    agent.publish = session.publish  # events carry the session id and the task id
    from claw_runtime.agents.subagent import SubagentService

    agent.executor.agents = SubagentService.for_session(  # the Task tool's sub-agents
        runtime, agent, provider_name, lambda: session.transcript.path
    )
    if loaded is not None:
        agent.messages.extend(loaded.messages)
        if fork or loaded.path != path:
            for message in loaded.messages:  # the new file starts with the history
                transcript.append_message(message)
    running = trio.Event()
    session._task = runtime.scheduler.spawn(
        _session_task, running, name=f"session:{session_id}", session_id=session_id
    )
    await running.wait()
    agent.parent_task = session._task
    mcp: SessionMcp | None = None
    try:
        try:
            if mcp_configured(cwd, state.env):  # without servers: no MCP code is even imported
                from claw_runtime.mcp.session import start_session_servers

                with scope(None):  # a signal stops a server that hangs at start-up, as hooks
                    mcp = await start_session_servers(session)
        finally:  # once servers started or failed (bounded by MCP_TIMEOUT): they and their tools
            with trio.CancelScope(shield=True):
                await session.publish(_session_started(session, provider_settings.model))
        with scope(None):
            answers = await runtime.host.call(
                "session_start",
                session=state,
                source=source or ("resume" if loaded is not None else "startup"),
            )
            session.ended_by_hook = session_start_context(agent, answers)
        yield session
    finally:
        with trio.CancelScope(shield=True):
            try:
                if mcp is not None:
                    await mcp.aclose()  # before _close, which reports leftover background work
                await _close(session)
            finally:
                await runtime.clients.release(http)


def _session_started(session: Session, model: str) -> SessionStarted:
    """The first event of a session: its tools (MCP servers' included) and its MCP servers."""
    mcp = session.state.extras.get(SESSION_MCP_KEY)
    return SessionStarted(
        cwd=str(session.state.cwd),
        model=model,
        provider=session.provider_name,
        tools=tuple(sorted(session.agent.tools)),
        mcp_servers=mcp.statuses() if mcp is not None else (),
    )


async def _close(session: Session) -> None:
    runtime = session.runtime
    task = session._task
    assert task is not None
    background = [c for c in task.children if not c.done]
    task.cancel()
    with trio.move_on_after(10):
        await task.wait()
    for child in background:
        log.info("background task stopped with the session", task=child.name)
        session.notify(f"stopped {child.name} (still running when the session ended)")
    last = session._totals[-1] if session._totals else None
    reason = last.stop_reason if last is not None else "other"
    session.transcript.close()
    timeout = session.session_end_timeout
    with session.hook_scope(timeout) as ending:
        await runtime.host.call("session_end", session=session.state, reason=reason)
    if ending.cancelled_caught and trio.current_time() >= ending.deadline:
        session.notify(f"SessionEnd hooks did not finish within {timeout:g} s; stopped them")
    await session.publish(
        SessionEnded(
            stop_reason=reason,
            num_turns=sum(r.num_turns for r in session._totals),
            usage=sum((r.usage for r in session._totals), Usage()),
            total_cost_usd=round(sum(r.total_cost_usd for r in session._totals), 6),
            is_error=last.is_error if last is not None else False,
            result=last.result if last is not None else "",
        )
    )
    await session._bus.aclose()
