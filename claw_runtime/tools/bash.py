"""The ``Bash``, ``BashOutput`` and ``KillShell`` tools (Claude Code's names and inputs).

``Bash`` runs a command with ``bash -c`` in the session's working directory,
which persists between calls (``cd`` sticks; exported variables do not, as in
Claude Code). Output is capped, keeping its head and tail. A non-zero exit
code is an error result that says the code. On timeout or cancellation the
command's whole process group is killed.

``run_in_background`` starts the command and returns a shell id at once; its
output is collected by a task that lives as long as the session, and
``BashOutput`` returns what arrived since the last read. Ending the session
kills background shells too.

No process outlives its command: each runs in its own process tree (a cgroup
when one can be made; see ``_process_tree``), killed whole when a foreground
command ends or times out, when KillShell stops a background shell, and when
the session ends. Commands get the session's environment
(``SessionState.env``); under the sandbox, without credentials.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from typing import Annotated

import attrs
import trio

from claw_runtime.errors import ToolError, ToolInputError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool, truncate_text
from claw_runtime.tools._sandbox import (
    SANDBOX_KEY,
    SandboxConfig,
    SandboxPlan,
    sandbox_environment,
)
from claw_runtime.tools._shell import (
    run_foreground,
    start_process,
    terminate_group,
    watch_tree,
)
from claw_runtime.tools._spawn import ChildProcess

__all__ = ["BackgroundShell", "bash", "bash_output", "kill_shell"]

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
MAX_OUTPUT_CHARS = 30_000
_STATE_KEY = "tools.bash"


@attrs.define(eq=False, kw_only=True)
class BackgroundShell:
    """A command started with ``run_in_background``."""

    id: str
    command: str
    process: ChildProcess
    output: list[str] = attrs.field(factory=list)
    read_upto: int = 0
    status: str = "running"
    exit_code: int | None = None
    finished: trio.Event = attrs.field(factory=trio.Event)
    sandbox: SandboxPlan | None = None

    def describe_status(self) -> str:
        if self.status == "running":
            return "running"
        if self.status == "killed":
            return "killed"
        return f"exited with code {self.exit_code}"


@attrs.define(eq=False)
class _Shells:
    shells: dict[str, BackgroundShell] = attrs.field(factory=dict)
    next_number: int = 1


def _sandbox_config(ctx: ToolContext) -> SandboxConfig:
    config = ctx.session.extras.get(SANDBOX_KEY)
    return config if isinstance(config, SandboxConfig) else SandboxConfig()


def _base_env(ctx: ToolContext) -> Mapping[str, str]:
    """The session's environment for processes (never claw's own ``os.environ``)."""
    return ctx.session.env


def _sandbox_plan(ctx: ToolContext) -> SandboxPlan | None:
    """The sandbox for a command now, or ``None``; fails early if bwrap is missing."""
    return SandboxPlan.build(
        _sandbox_config(ctx), ctx.session.cwd, ctx.session.workspace_roots, _base_env(ctx)
    )


def _shells(ctx: ToolContext) -> _Shells:
    state = ctx.session.extras.get(_STATE_KEY)
    if state is None:
        state = ctx.session.extras[_STATE_KEY] = _Shells()
    assert isinstance(state, _Shells)
    return state


async def _collect_background(shell: BackgroundShell) -> None:
    """Read a background shell's output until it ends; kill it if we are cancelled."""
    process = shell.process
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_tree, process)
            while True:
                data = await process.stdout.receive_some(65536)
                if not data:
                    break
                shell.output.append(decoder.decode(data))
            await process.wait()
            nursery.cancel_scope.cancel()
        if shell.status == "running":
            shell.status, shell.exit_code = "exited", process.returncode
    finally:
        if process.returncode is None:
            shell.status = "killed"
        await terminate_group(process)  # and whatever it left behind
        with trio.CancelScope(shield=True):
            await process.stdout.aclose()
        if shell.sandbox is not None:
            shell.sandbox.release()
        shell.finished.set()


def _format_result(output: str, exit_code: int | None) -> str:
    text = output.rstrip("\n")
    if exit_code:
        text = f"{text}\n\nExit code: {exit_code}" if text else f"Exit code: {exit_code}"
    return text or "(no output)"


@tool(name="Bash", max_output_chars=MAX_OUTPUT_CHARS + 2_000)
async def bash(
    command: Annotated[str, Param(description="The command to run")],
    ctx: ToolContext,
    timeout: Annotated[  # noqa: ASYNC109 - the wire name models are trained on
        int | None, Param(description=f"Timeout in milliseconds (max {MAX_TIMEOUT_MS})")
    ] = None,
    description: Annotated[
        str | None, Param(description="What the command does, in 5-10 words")
    ] = None,
    run_in_background: Annotated[
        bool, Param(description="Start it and return at once; read output with BashOutput")
    ] = False,
) -> str:
    """Run a bash command in the session's working directory and return its output.

    The directory persists between calls (cd sticks); environment variables do not.
    Output over 30000 characters is cut in the middle. Prefer the Read, Grep and Glob
    tools to cat, grep and find. Use run_in_background for servers and watchers.
    """
    timeout_ms = DEFAULT_TIMEOUT_MS if timeout is None else timeout
    if not 0 < timeout_ms <= MAX_TIMEOUT_MS:
        raise ToolInputError(
            f"Invalid input for tool Bash: timeout must be between 1 and {MAX_TIMEOUT_MS} ms, "
            f"got {timeout_ms}"
        )
    if not command.strip():
        raise ToolInputError("Invalid input for tool Bash: command is empty")
    if run_in_background:
        return await _start_background(command, ctx)
    plan = _sandbox_plan(ctx)
    if plan is None:
        result = await run_foreground(
            command,
            cwd=ctx.session.cwd,
            timeout_s=timeout_ms / 1000,
            max_chars=MAX_OUTPUT_CHARS,
            base_env=_base_env(ctx),
        )
    else:
        with plan.held():
            result = await run_foreground(
                command,
                cwd=ctx.session.cwd,
                timeout_s=timeout_ms / 1000,
                max_chars=MAX_OUTPUT_CHARS,
                sandbox=lambda cwd_file: plan.argv([cwd_file]),
                base_env=_base_env(ctx),
                finish_env=sandbox_environment,
            )
    if result.new_cwd is not None:
        ctx.session.cwd = result.new_cwd
    if result.timed_out:
        raise ToolError(
            f"Command timed out after {timeout_ms} ms and was killed.\n\n"
            f"Output so far:\n{result.output.rstrip() or '(no output)'}"
        )
    text = _format_result(result.output, result.exit_code)
    if result.exit_code:
        raise ToolError(text)
    return text


async def _start_background(command: str, ctx: ToolContext) -> str:
    registry = _shells(ctx)
    shell_id = f"bash_{registry.next_number}"
    plan = _sandbox_plan(ctx)
    if plan is not None:
        plan.acquire()
    try:
        process = await start_process(
            command,
            ctx.session.cwd,
            None,
            plan.argv() if plan is not None else (),
            base_env=_base_env(ctx),
            finish_env=sandbox_environment if plan is not None else None,
        )
    except BaseException:
        if plan is not None:
            plan.release()
        raise
    shell = BackgroundShell(id=shell_id, command=command, process=process, sandbox=plan)
    try:
        ctx.spawn_background(_collect_background, shell, name=f"shell:{shell_id}")
    except BaseException:
        await terminate_group(process)
        if plan is not None:
            plan.release()
        raise
    registry.next_number += 1
    registry.shells[shell_id] = shell
    return (
        f"Started in the background with id {shell_id}. "
        f"Read its output with BashOutput(bash_id={shell_id!r}); stop it with KillShell."
    )


def _find(ctx: ToolContext, shell_id: str) -> BackgroundShell:
    registry = _shells(ctx)
    shell = registry.shells.get(shell_id)
    if shell is None:
        known = ", ".join(registry.shells) or "none"
        raise ToolError(f"No background shell with id {shell_id!r}. Known shells: {known}.")
    return shell


@tool(name="BashOutput", read_only=True, max_output_chars=MAX_OUTPUT_CHARS)
async def bash_output(
    bash_id: Annotated[str, Param(description="The id Bash returned (bash_1, ...)")],
    ctx: ToolContext,
    filter: Annotated[
        str | None, Param(description="A regular expression: only matching lines are returned")
    ] = None,
) -> str:
    """Get the output a background shell produced since the last read, and its status."""
    pattern = None
    if filter:
        try:
            pattern = re.compile(filter)
        except re.error as exc:
            raise ToolInputError(
                f"Invalid input for tool BashOutput: bad filter regex: {exc}"
            ) from None
    shell = _find(ctx, bash_id)
    await trio.lowlevel.checkpoint()
    new = "".join(shell.output[shell.read_upto :])
    shell.read_upto = len(shell.output)
    if pattern is not None:
        new = "".join(line for line in new.splitlines(keepends=True) if pattern.search(line))
    body = truncate_text(new.rstrip("\n"), MAX_OUTPUT_CHARS) if new.strip() else "(no new output)"
    return f"Status: {shell.describe_status()}\n\n{body}"


@tool(name="KillShell")
async def kill_shell(
    shell_id: Annotated[str, Param(description="The id of the background shell to stop")],
    ctx: ToolContext,
) -> str:
    """Stop a background shell started by Bash with run_in_background, and its children."""
    shell = _find(ctx, shell_id)
    if shell.status != "running":
        return f"Shell {shell_id} is not running ({shell.describe_status()})."
    shell.status = "killed"
    await terminate_group(shell.process)
    with trio.move_on_after(5):
        await shell.finished.wait()
    return f"Killed shell {shell_id} ({shell.command})."


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    for item in (bash, bash_output, kill_shell):
        register(item)
