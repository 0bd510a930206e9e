"""One batch task as one session: the part every executor shares.

:func:`run_task` opens a session on a runtime the caller owns (the local
executor shares one runtime among all its tasks); :func:`run_task_alone`
opens a runtime of its own first (a Ray worker, which has nothing else).
Neither raises for a task that goes wrong: a bad line, a missing directory,
a provider error or a crash all become a failed :class:`BatchResult`. Only
cancellation leaves as itself, and then no result is made: the task did not
finish, and a re-run does it again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from claw_runtime.batch.results import BatchResult
from claw_runtime.batch.tasks import BadLine, BatchTask
from claw_runtime.config.settings import Settings
from claw_runtime.errors import ClawError, ConfigError
from claw_runtime.tooling import TOOL_ALIASES

if TYPE_CHECKING:
    from claw_runtime.agents.definitions import AgentDefinition
    from claw_runtime.runtime import Runtime
    from claw_runtime.sessions.session import HookScope, Session

__all__ = ["SessionDefaults", "WorkerJob", "bad_line_result", "run_task", "run_task_alone"]


@attrs.frozen(kw_only=True)
class SessionDefaults:
    """What every task's session gets unless its line says otherwise.

    Model, permission mode and rules, turn and cost limits come from the
    settings (the command line's flags are layered into them), so they reach
    Ray workers with the settings."""

    workdir: Path
    """The batch's directory: a task without ``cwd`` works here, relative ones start here."""
    persist: bool = True
    """Write each task's session file (``claw sessions show ID`` then shows it)."""


@attrs.frozen(kw_only=True)
class WorkerJob:
    """What a worker without a runtime needs to run tasks as the driver would."""

    settings: Settings
    """The driver's settings: workers never read settings files of their own."""
    environ: Mapping[str, str]
    """Variables the driver forwards (provider keys and URLs, ``CLAW_*``), over the worker's own."""
    defaults: SessionDefaults
    no_plugins: bool = False


async def _agent_definition(name: str, cwd: Path, runtime: Runtime) -> AgentDefinition:
    """The agent definition ``name`` as a sub-agent working in ``cwd`` would find it:
    built-ins, plugins', the user's and that project's files (its trust rules too).

    Raises:
        ConfigError: no agent of that name.
    """
    from claw_runtime.agents.definitions import load_agent_catalog
    from claw_runtime.commands.locations import project_trusted

    state = runtime.new_session(cwd)
    trusted_dirs = runtime.settings.trusted_directories
    catalog = await trio.to_thread.run_sync(
        lambda: load_agent_catalog(
            state, runtime.host, trusted=lambda: project_trusted(state, trusted_dirs)
        )
    )
    definition = catalog.find(name)
    if definition is None:
        known = ", ".join(sorted(catalog.agents)) or "none"
        raise ConfigError(f"no agent named {name!r} (agents: {known})")
    return definition


def _agent_options(
    definition: AgentDefinition, task: BatchTask, runtime: Runtime
) -> dict[str, Any]:
    """The session options ``definition`` sets; the line's own ``model`` and
    ``max_turns`` win. Its permission mode applies as a sub-agent's does: never out
    of plan mode, never to bypass when settings turned bypass off."""
    options: dict[str, Any] = {
        "model": task.model or definition.model,
        "max_turns": task.max_turns or definition.max_turns,
        "system_prompt": definition.system_prompt or None,
    }
    permissions = runtime.settings.permissions
    wanted = definition.permission_mode
    bypass_off = permissions.disable_bypass_permissions_mode == "disable"
    if (
        wanted is not None
        and permissions.default_mode != "plan"
        and not (wanted == "bypassPermissions" and bypass_off)
    ):
        options["permission_mode"] = wanted
    return options


def _narrow_tools(session: Session, definition: AgentDefinition) -> None:
    """Show the session's model only the tools ``definition`` lists (never more)."""
    if definition.tools is None:
        return
    wanted = {TOOL_ALIASES.get(name, name) for name in definition.tools}
    tools = session.agent.tools
    session.agent.tools = {name: t for name, t in tools.items() if name in wanted}


def _failed(task: BatchTask | BadLine, error: str, started: float) -> BatchResult:
    return BatchResult(
        id=task.id,
        status="failed",
        error=" ".join(error.split()),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        line=task.line,
    )


def bad_line_result(line: BadLine) -> BatchResult:
    """The failed result of a line that could not be read as a task."""
    return BatchResult(id=line.id, status="failed", error=line.error, line=line.line)


def _workspace(workdir: Path, cwd: str | None) -> Path:
    """Where a task works: its ``cwd`` (``~`` expanded) from the batch's directory."""
    return workdir / Path(cwd).expanduser() if cwd else workdir


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


async def run_task(
    runtime: Runtime,
    task: BatchTask | BadLine,
    defaults: SessionDefaults,
    *,
    hook_scope: HookScope | None = None,
) -> BatchResult:
    """Run ``task`` as a new session on ``runtime``; its result, never an exception.

    Raises:
        trio.Cancelled: the caller was cancelled (the session was ended cleanly first).
    """
    started = time.perf_counter()
    if isinstance(task, BadLine):
        return bad_line_result(task)
    cwd = _workspace(defaults.workdir, task.cwd)
    if not cwd.is_dir():
        return _failed(task, f"cwd {cwd} is not a directory", started)
    options: dict[str, Any] = {
        "cwd": cwd,
        "model": task.model,
        "max_turns": task.max_turns,
        "persist": defaults.persist,
    }
    if hook_scope is not None:
        options["hook_scope"] = hook_scope
    try:
        definition = None
        if task.agent:
            definition = await _agent_definition(task.agent, cwd, runtime)
            options |= _agent_options(definition, task, runtime)
        async with runtime.open_session(**options) as session:
            if definition is not None:
                _narrow_tools(session, definition)
            result = await session.run(task.prompt)
    except ClawError as exc:
        return _failed(task, str(exc), started)
    except Exception as exc:  # a bug: the task fails, the batch goes on
        return _failed(task, f"unexpected error: {type(exc).__name__}: {exc}", started)
    error = None
    if result.is_error:
        error = _first_line(result.result) or f"the run stopped: {result.stop_reason}"
    return BatchResult(
        id=task.id,
        status="failed" if result.is_error else "succeeded",
        result=result.result,
        error=error,
        stop_reason=result.stop_reason,
        turns=result.num_turns,
        usage=result.usage,
        cost_usd=result.total_cost_usd,
        session_id=result.session_id,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        line=task.line,
    )


async def run_task_alone(task: BatchTask, job: WorkerJob) -> BatchResult:
    """Run ``task`` in a runtime of its own (a worker process): ``trio.run(run_task_alone, ...)``.

    The worker's environment is its own with the driver's forwarded variables on top.
    """
    import os

    from claw_runtime.runtime import open_runtime

    started = time.perf_counter()
    environ = {**os.environ, **job.environ}
    try:
        async with open_runtime(job.settings, environ=environ, no_plugins=job.no_plugins) as rt:
            return await run_task(rt, task, job.defaults)
    except ClawError as exc:
        return _failed(task, str(exc), started)
