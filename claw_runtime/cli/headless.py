"""``claw -p PROMPT`` / ``claw run PROMPT``: one run, no questions, a result, an exit code.

Signals (SIGINT from Ctrl-C, SIGTERM, SIGHUP when the terminal or SSH session
closes) are handled alike. The first one while the agent runs cancels the
run's task: tool processes are killed, unfinished tool calls get "aborted"
results, the transcript stays valid, and the result says the run was cancelled.
A second signal, or one while a SessionStart or SessionEnd hook runs, stops at
once: the hook's processes are killed, later session hooks are skipped, and the
result is written. Either way the exit code is 130. SessionEnd hooks get
``CLAW_SESSION_END_TIMEOUT`` seconds (default 10) in all, then are stopped.

The interactive terminal (:mod:`claw_runtime.cli.repl`) opens its runtime and
session the same way (:func:`open_cli_runtime`, :func:`open_cli_session`), so
``-c``/``-r``/``--fork-session``, the session flags and the signal handling
mean the same in both.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from claw_runtime.cli import _startup
from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.render import Renderer, make_renderer
from claw_runtime.errors import ClawError, ConfigError
from claw_runtime.loop import Approver, RunResult
from claw_runtime.runtime import Runtime, open_runtime
from claw_runtime.sessions.store import SessionNotFound, find_session, latest_session

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = [
    "Interrupts",
    "execute_run",
    "open_cli_runtime",
    "open_cli_session",
    "run_headless",
    "session_end_timeout",
    "session_to_resume",
]

EXIT_CANCELLED = 130
"""Any run a signal stopped: SIGINT (Ctrl-C), SIGTERM or SIGHUP."""

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

SESSION_END_TIMEOUT_S = 10.0
"""How long SessionEnd hooks may take before they are stopped (CLAW_SESSION_END_TIMEOUT)."""


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

    def rearm(self) -> None:
        """Forget the signals so far: the next one is a first one again.

        The interactive terminal calls this after each turn, so a Ctrl-C that
        cancelled one turn does not make the next one stop at once.
        """
        self.received.clear()
        self.graceful = None
        self.hurry = False

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


def session_to_resume(context: CliContext, args: argparse.Namespace) -> Path | None:
    """The session file ``-c`` or ``-r`` names, or None for a new session.

    Raises:
        SessionNotFound: nothing to continue, or the reference matches nothing.
        ConfigError: the flags do not go together.
    """
    continuing = bool(getattr(args, "continue_session", False))
    reference = getattr(args, "resume", None)
    if getattr(args, "fork_session", False) and not (continuing or reference):
        raise ConfigError("--fork-session forks the session -c or -r resumes; give one of them")
    if continuing and reference:
        raise ConfigError("give -c (the latest session) or -r SESSION, not both")
    if reference:
        return find_session(reference, context.cwd, context.environ)
    if not continuing:
        return None
    latest = latest_session(context.cwd, context.environ)
    if latest is None:
        raise SessionNotFound(
            f"no session to continue in {context.cwd}; start one with claw -p PROMPT"
        )
    return latest


@asynccontextmanager
async def open_cli_runtime(context: CliContext) -> AsyncIterator[Runtime]:
    """The runtime a ``claw`` run uses: the settings, environment and plugins of ``context``.

    Start-up ends once the plugins are loaded (see :mod:`claw_runtime.cli._startup`).
    """
    async with open_runtime(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    ) as runtime:
        _startup.resume()  # plugins are loaded: start-up is over
        yield runtime


def open_cli_session(
    runtime: Runtime,
    context: CliContext,
    args: argparse.Namespace,
    *,
    approver: Approver | None,
    interrupts: Interrupts,
    notify: Callable[[str], None] | None = None,
) -> AbstractAsyncContextManager[Session]:
    """The session the flags ask for (new, ``-c``, ``-r``, forked) on ``runtime``.

    Session hooks run in scopes ``interrupts`` can cancel; notices go to
    ``notify`` (default: a ``claw: warning:`` line on stderr).

    Raises:
        ClawError: the flags do not go together, or name no session (at once);
            the session cannot open (when entered).
    """
    return runtime.open_session(
        cwd=context.cwd,
        system_prompt=getattr(args, "system_prompt", None),
        append_system_prompt=getattr(args, "append_system_prompt", None),
        thinking_budget=getattr(args, "thinking_budget", None),
        approver=approver,
        persist=not getattr(args, "no_session", False),
        resume=session_to_resume(context, args),
        fork=bool(getattr(args, "fork_session", False)),
        session_id=getattr(args, "session_id", None),
        notify=notify or _warn,
        hook_scope=interrupts.cancellable,
        session_end_timeout=session_end_timeout(context.environ),
    )


async def execute_run(
    runtime: Runtime,
    context: CliContext,
    args: argparse.Namespace,
    prompt: str,
    renderer: Renderer,
    *,
    approver: Approver | None = None,
    interrupts: Interrupts | None = None,
) -> RunResult | None:
    """Run one prompt in a session on ``runtime``; None if it could not start.

    Without ``interrupts`` the run watches SIGINT, SIGTERM and SIGHUP itself.
    The life of the run (hooks, events, the session file, background work)
    is the core's :class:`~claw_runtime.sessions.session.Session`; this only
    maps flags to its options and signals to cancelling it.
    """
    async with trio.open_nursery() as nursery:
        if interrupts is None:
            interrupts = Interrupts()
            await nursery.start(interrupts.watch)
        await nursery.start(renderer.consume, runtime.bus)
        try:
            result = await _run_in_session(runtime, context, args, prompt, approver, interrupts)
        finally:
            nursery.cancel_scope.cancel()  # the signal watcher; the renderer already ended
    return result


async def _run_in_session(
    runtime: Runtime,
    context: CliContext,
    args: argparse.Namespace,
    prompt: str,
    approver: Approver | None,
    interrupts: Interrupts,
) -> RunResult | None:
    result: RunResult | None = None
    async with contextlib.AsyncExitStack() as stack:
        try:
            session = await stack.enter_async_context(
                open_cli_session(runtime, context, args, approver=approver, interrupts=interrupts)
            )
        except ClawError as exc:
            print(f"claw: {exc}", file=sys.stderr)
            return None
        interrupts.graceful = session.cancel
        with interrupts.cancellable():  # a second signal stops waiting for the run
            await session.run(prompt)
        interrupts.graceful = None
        if session.results:
            result = session.results[-1]
        else:  # stopped before the run began (a signal during SessionStart hooks)
            result = session.agent.result("cancelled", is_error=True, text="Cancelled by the user.")
    return result


def _warn(message: str) -> None:
    with contextlib.suppress(OSError):  # the terminal is gone (SIGHUP)
        print(f"claw: warning: {message}", file=sys.stderr)


async def _main(context: CliContext, args: argparse.Namespace, prompt: str) -> int:
    interrupts = Interrupts()
    renderer = make_renderer(args.output_format)
    async with trio.open_nursery() as watcher:
        # Watching from the start: a signal while plugins load or a hook runs is handled too.
        await watcher.start(interrupts.watch)
        async with open_cli_runtime(context) as runtime:
            # A person at a terminal is asked; piped or machine-readable runs are not.
            approver = None
            if args.output_format == "text" and _isatty(sys.stdin):
                from claw_runtime.cli.approval import TerminalApprover

                approver = TerminalApprover()
            result = await execute_run(
                runtime, context, args, prompt, renderer, approver=approver, interrupts=interrupts
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
