"""Claude Code's command hooks, as a built-in pluggy plugin (``builtin.command_hooks``).

The ``hooks`` settings shape is Claude Code's: event -> matchers -> commands::

    "hooks": {"PreToolUse": [{"matcher": "Bash|Edit", "hooks": [
        {"type": "command", "command": "./check.sh", "timeout": 30}]}]}

Each matching command runs with ``bash -c`` in the session's directory, gets
a JSON object on stdin (``session_id``, ``transcript_path``, ``cwd``,
``hook_event_name``, ``tool_name``, ``tool_input``, ``tool_response``,
``prompt``...), and answers with its exit code and output:

* exit 0: stdout may be JSON (``decision``, ``reason``, ``continue``,
  ``stopReason``, ``systemMessage``, ``hookSpecificOutput`` with
  ``permissionDecision``, ``permissionDecisionReason``, ``updatedInput``,
  ``additionalContext``); plain stdout of UserPromptSubmit and SessionStart
  hooks is added as context.
* exit 2: a blocking error; stderr goes to the model (PreToolUse: the call is
  denied; PostToolUse: added to the result; UserPromptSubmit: the prompt is
  blocked; Stop: the model is sent back to work with it).
* any other exit code, a crash or a timeout (default 60 s): reported, and the
  run goes on, except that ``hookFailure: "closed"`` makes a failing
  PreToolUse hook deny the call.

All hooks matching one event run in parallel. They are the same hookspecs
Python plugins implement, so a command hook and a plugin combine the same way.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from claw_runtime.config.settings import CommandHook, HookMatcher, Settings
from claw_runtime.hooks.answers import stricter
from claw_runtime.hooks.decisions import (
    PostToolUseOutcome,
    PreToolUseDecision,
    PromptDecision,
    SessionStartOutcome,
    StopDecision,
    ToolCall,
)
from claw_runtime.hooks.payloads import tool_response
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.logs import get_logger
from claw_runtime.models import ToolResultBlock
from claw_runtime.tooling import TOOL_ALIASES, SessionState

__all__ = ["CommandHooks", "HookOutcome", "run_command_hook"]

log = get_logger(__name__)

DEFAULT_TIMEOUT_S = 60.0
MAX_OUTPUT = 1_000_000


@attrs.frozen(kw_only=True)
class HookOutcome:
    """What one command hook did."""

    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    error: str | None = None
    """Why it failed to run properly (crash, timeout); None if it ran."""

    @property
    def blocking(self) -> bool:
        return self.exit_code == 2

    def json(self) -> dict[str, Any] | None:
        text = self.stdout.strip()
        if self.exit_code != 0 or not text.startswith("{"):
            return None
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None


async def run_command_hook(
    hook: CommandHook, payload: Mapping[str, Any], cwd: Path, env: Mapping[str, str]
) -> HookOutcome:
    """Run one hook command with ``payload`` on stdin; never raises (but for cancellation).

    ``env`` is the whole environment of the command (the session's, see
    :attr:`SessionState.env`), not additions to claw's own.
    """
    timeout = hook.timeout if hook.timeout is not None else DEFAULT_TIMEOUT_S
    data = orjson.dumps(payload)
    try:
        with trio.fail_after(timeout):
            result = await trio.run_process(
                ["bash", "-c", hook.command],
                stdin=data,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
                deliver_cancel=_kill_group,
            )
    except trio.TooSlowError:
        return HookOutcome(
            command=hook.command,
            exit_code=None,
            stdout="",
            stderr="",
            error=f"timed out after {timeout:g} s",
        )
    except OSError as exc:
        return HookOutcome(
            command=hook.command, exit_code=None, stdout="", stderr="", error=str(exc)
        )
    stdout = result.stdout[:MAX_OUTPUT].decode("utf-8", "replace")
    stderr = result.stderr[:MAX_OUTPUT].decode("utf-8", "replace")
    error = None
    if result.returncode not in (0, 2):
        error = f"exited with code {result.returncode}: {stderr.strip()[:300]}"
    return HookOutcome(
        command=hook.command, exit_code=result.returncode, stdout=stdout, stderr=stderr, error=error
    )


async def _kill_group(process: trio.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _additional_context(outcomes: Sequence[HookOutcome]) -> list[str]:
    """What SessionStart-like hooks add: ``additionalContext``, or plain stdout on exit 0."""
    context = []
    for outcome in outcomes:
        data = outcome.json()
        if data is not None:
            extra = (data.get("hookSpecificOutput") or {}).get("additionalContext")
            if extra:
                context.append(str(extra))
        elif outcome.exit_code == 0 and outcome.stdout.strip():
            context.append(outcome.stdout.strip())
    return context


def _end_run(outcomes: Sequence[HookOutcome]) -> str | None:
    """The first ``continue: false`` among the answers, as the reason to end the run."""
    for outcome in outcomes:
        data = outcome.json() or {}
        if data.get("continue") is False:
            return str(data.get("stopReason") or "Stopped by a hook.")
    return None


_SESSION_END_REASONS = {"clear", "logout", "prompt_input_exit", "other"}


def _session_end_reason(reason: str) -> str:
    """Claude Code's SessionEnd reasons; claw's own stop reasons are all ``other``."""
    return reason if reason in _SESSION_END_REASONS else "other"


def _env_file_for(session: SessionState) -> Path:
    from tempfile import gettempdir

    directory = Path(gettempdir()) / f"claw-session-env-{os.getuid()}"
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{session.session_id}.sh"
    path.touch(mode=0o600)
    return path


def _apply_env_file(path: Path, session: SessionState) -> None:
    """``export NAME=value`` lines a SessionStart hook wrote, applied to the session's env."""
    import shlex

    from claw_runtime.tools._environment import is_startup_variable

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    if not text.strip():
        return
    env = dict(session.env)
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, sep, value = word.partition("=")
            if sep and name.isidentifier() and not is_startup_variable(name):
                env[name] = value
    session.env = env


def _matches(matcher: str, tool_name: str | None) -> bool:
    if tool_name is None or matcher in ("", "*"):
        return True
    names = [tool_name, *(a for a, t in TOOL_ALIASES.items() if t == tool_name)]
    if tool_name in TOOL_ALIASES:  # "Agent" and "Task" are one tool: either name matches
        names.append(TOOL_ALIASES[tool_name])
    try:
        return any(re.fullmatch(matcher, name) is not None for name in names)
    except re.error:
        return matcher in names


@attrs.define(eq=False)
class CommandHooks:
    """The settings' ``hooks``, served through claw's hookspecs.

    A hook command's environment is its session's (:attr:`SessionState.env`, where
    the runtime already applied settings' ``env``) plus ``CLAUDE_PROJECT_DIR``.
    """

    hooks: Mapping[str, Sequence[HookMatcher]]
    fail_closed: bool = False
    transcript_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CommandHooks:
        return cls(hooks=settings.hooks, fail_closed=settings.hook_failure == "closed")

    async def _run(
        self,
        event: str,
        session: SessionState,
        tool_name: str | None = None,
        *,
        match: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> list[HookOutcome]:
        subject = match if match is not None else tool_name
        commands = [
            hook
            for matcher in self.hooks.get(event, ())
            if _matches(matcher.matcher, subject)
            for hook in matcher.hooks
        ]
        if not commands:
            return []
        payload = {
            "session_id": session.session_id,
            "transcript_path": str(session.extras.get("transcript_path", "")),
            "cwd": str(session.cwd),
            "permission_mode": session.permission_mode,
            "hook_event_name": event,
            **({"tool_name": tool_name} if tool_name else {}),
            **fields,
        }
        env = {
            **session.env,
            "CLAUDE_PROJECT_DIR": str(session.workspace_roots[0]),
            "CLAW_PROJECT_DIR": str(session.workspace_roots[0]),
            **(extra_env or {}),
        }
        outcomes: list[HookOutcome | None] = [None] * len(commands)

        async def one(index: int, hook: CommandHook) -> None:
            outcomes[index] = await run_command_hook(hook, payload, session.cwd, env)

        async with trio.open_nursery() as nursery:
            for index, hook in enumerate(commands):
                nursery.start_soon(one, index, hook)
        done = [o for o in outcomes if o is not None]
        for outcome in done:
            if outcome.error:
                log.warning(
                    "hook failed", hook_event=event, command=outcome.command, error=outcome.error
                )
            message = (outcome.json() or {}).get("systemMessage")
            if message:
                log.warning("hook message", hook_event=event, message=str(message))
        return done

    # ------------------------------------------------------------- tool calls

    @hookimpl
    async def pre_tool_use(
        self, call: ToolCall, session: SessionState
    ) -> PreToolUseDecision | None:
        outcomes = await self._run(
            "PreToolUse", session, call.name, tool_input=call.input, tool_use_id=call.tool_use_id
        )
        # The commands ran in parallel on the same input, so rewrites cannot chain:
        # the last command (in settings order) that rewrote the input wins.
        decision: PreToolUseDecision | None = None
        for outcome in outcomes:
            answer = self._pre_tool_answer(outcome)
            if answer is None:
                continue
            if decision is None:
                decision = answer
                continue
            updated = answer.updated_input or decision.updated_input
            decision = attrs.evolve(stricter(decision, answer), updated_input=updated)
        return decision

    def _pre_tool_answer(self, outcome: HookOutcome) -> PreToolUseDecision | None:
        if outcome.blocking:
            return PreToolUseDecision(
                decision="deny", reason=outcome.stderr.strip() or "Blocked by a hook."
            )
        if outcome.error:
            if self.fail_closed:
                return PreToolUseDecision(
                    decision="deny",
                    reason=f"A PreToolUse hook failed ({outcome.error}); hooks fail closed here.",
                )
            return None
        data = outcome.json()
        if data is None:
            return None
        if data.get("continue") is False:
            reason = str(data.get("stopReason") or "Stopped by a hook.")
            return PreToolUseDecision(decision="deny", reason=reason, end_run=reason)
        specific = data.get("hookSpecificOutput") or {}
        permission = specific.get("permissionDecision")
        reason = str(specific.get("permissionDecisionReason") or data.get("reason") or "")
        legacy = {"approve": "allow", "block": "deny"}.get(str(data.get("decision")))
        chosen = permission if permission in ("allow", "deny", "ask") else legacy
        updated = specific.get("updatedInput") or data.get("updatedInput")
        if chosen is None and not isinstance(updated, dict):
            return None
        return PreToolUseDecision(
            decision=chosen,  # type: ignore[arg-type]
            reason=reason,
            updated_input=updated if isinstance(updated, dict) else None,
        )

    @hookimpl
    async def post_tool_use(
        self, call: ToolCall, result: ToolResultBlock, session: SessionState
    ) -> PostToolUseOutcome | None:
        outcomes = await self._run(
            "PostToolUse",
            session,
            call.name,
            tool_input=call.input,
            tool_response=tool_response(call, result),
            tool_use_id=call.tool_use_id,
        )
        context = []
        end_run = _end_run(outcomes)
        for outcome in outcomes:
            if outcome.blocking and outcome.stderr.strip():
                context.append(outcome.stderr.strip())
            data = outcome.json() or {}
            if data.get("decision") == "block" and data.get("reason"):
                context.append(str(data["reason"]))
            extra = (data.get("hookSpecificOutput") or {}).get("additionalContext")
            if extra:
                context.append(str(extra))
        if not context and end_run is None:
            return None
        return PostToolUseOutcome(additional_context="\n".join(context), end_run=end_run)

    # ----------------------------------------------------------------- prompts

    @hookimpl
    async def user_prompt_submit(self, prompt: str, session: SessionState) -> PromptDecision | None:
        outcomes = await self._run("UserPromptSubmit", session, prompt=prompt)
        block, reasons, context = False, [], []
        for outcome in outcomes:
            data = outcome.json()
            if outcome.blocking:
                block = True
                reasons.append(outcome.stderr.strip())
            elif data is not None:
                if data.get("decision") == "block" or data.get("continue") is False:
                    block = True
                    reasons.append(str(data.get("reason") or data.get("stopReason") or ""))
                extra = (data.get("hookSpecificOutput") or {}).get("additionalContext")
                if extra:
                    context.append(str(extra))
            elif outcome.exit_code == 0 and outcome.stdout.strip():
                context.append(outcome.stdout.strip())
        if not (block or context):
            return None
        return PromptDecision(
            block=block,
            reason="; ".join(r for r in reasons if r) or ("Blocked by a hook." if block else ""),
            additional_context="\n".join(context),
        )

    # --------------------------------------------------------------- lifecycle

    @hookimpl
    async def stop(
        self, session: SessionState, stop_hook_active: bool, last_assistant_message: str
    ) -> StopDecision | None:
        outcomes = await self._run(
            "Stop",
            session,
            stop_hook_active=stop_hook_active,
            last_assistant_message=last_assistant_message,
        )
        block, reasons = False, []
        for outcome in outcomes:
            data = outcome.json() or {}
            if outcome.blocking:
                block = True
                reasons.append(outcome.stderr.strip())
            elif data.get("decision") == "block":
                block = True
                reasons.append(str(data.get("reason") or ""))
        end_run = _end_run(outcomes)
        if not block and end_run is None:
            return None
        reason = "\n".join(r for r in reasons if r) or "A Stop hook asked you to continue."
        return StopDecision(block=block, reason=reason, end_run=end_run)

    @hookimpl
    async def session_start(self, session: SessionState, source: str) -> SessionStartOutcome | None:
        """Hooks matched by source; their stdout and ``additionalContext`` reach the model.

        ``CLAUDE_ENV_FILE`` names a file the hooks may write ``export NAME=value``
        lines to; those variables apply to the session's later Bash calls.
        """
        if not self.hooks.get("SessionStart"):
            return None
        env_file = _env_file_for(session)
        outcomes = await self._run(
            "SessionStart",
            session,
            match=source,
            extra_env={"CLAUDE_ENV_FILE": str(env_file)},
            source=source,
        )
        _apply_env_file(env_file, session)
        context = _additional_context(outcomes)
        end_run = _end_run(outcomes)
        if not context and end_run is None:
            return None
        return SessionStartOutcome(additional_context="\n".join(context), end_run=end_run)

    @hookimpl
    async def session_end(self, session: SessionState, reason: str) -> None:
        await self._run("SessionEnd", session, match=reason, reason=_session_end_reason(reason))

    @hookimpl
    async def subagent_start(
        self, session: SessionState, agent: str, agent_id: str
    ) -> SessionStartOutcome | None:
        """Matched by agent type; ``additionalContext`` (or plain stdout) reaches the sub-agent."""
        outcomes = await self._run(
            "SubagentStart", session, match=agent, agent_id=agent_id, agent_type=agent
        )
        context = _additional_context(outcomes)
        if not context:
            return None
        return SessionStartOutcome(additional_context="\n".join(context))

    @hookimpl
    async def subagent_stop(
        self, session: SessionState, agent: str, result: str, agent_id: str, transcript_path: str
    ) -> None:
        """Matched by agent type, with Claude Code's fields (``agent_transcript_path``...)."""
        await self._run(
            "SubagentStop",
            session,
            match=agent,
            agent_id=agent_id,
            agent_type=agent,
            agent_transcript_path=transcript_path,
            last_assistant_message=result,
            stop_hook_active=False,
        )

    @hookimpl
    async def notification(self, session: SessionState, message: str) -> None:
        await self._run("Notification", session, message=message)

    @hookimpl
    async def pre_compact(self, context: Any, trigger: str, custom_instructions: str) -> None:
        """Matched by trigger (``auto``, ``manual``), with Claude Code's PreCompact fields."""
        await self._run(
            "PreCompact",
            context.session,
            match=trigger,
            trigger=trigger,
            custom_instructions=custom_instructions,
        )
