"""``claw tools list`` and ``claw tools call NAME --input JSON``: tools without a model.

For plugin authors and scripts: the call goes through the pipeline the agent
loop uses (:class:`~claw_runtime.executor.ToolExecutor`: ``PreToolUse`` hooks,
the permission policy from settings, the tool's validation and ``Tool.invoke``,
``PostToolUse`` hooks), so what you see is what the model would see.

Naming the tool on the command line allows it, as ``--allowed-tools NAME``
would; everything an allow rule does not override still applies: deny and ask
rules, plan mode, the workspace edge and protected paths, and hooks. Nobody is
asked, so a call that needs approval is refused with one line on stderr.
Exit code 1 on a tool error or a refusal.
"""

from __future__ import annotations

import argparse
import sys

import orjson
import trio

from claw_runtime.cli import _startup
from claw_runtime.cli._setup import CliContext
from claw_runtime.executor import ToolExecution
from claw_runtime.models import ImageBlock, TextBlock, ToolResultBlock, ToolUseBlock
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import load_plugins, open_runtime

__all__ = ["run_tools_command"]


def _list_tools(context: CliContext) -> int:
    _host, registry = load_plugins(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    )
    width = max((len(name) for name in registry.tools), default=0)
    for name in sorted(registry.tools):
        t = registry.tools[name]
        first_line = t.description.strip().splitlines()[0] if t.description.strip() else ""
        mode = "read-only" if t.read_only else "mutating "
        print(f"{name:<{width}}  {mode}  {first_line}")
    return 0


def _print_result(result: ToolResultBlock) -> None:
    for block in result.content:
        if isinstance(block, TextBlock):
            text = block.text
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        elif isinstance(block, ImageBlock):
            print(f"[image {block.media_type}, {len(block.data) * 3 // 4} bytes]")


def _policy(context: CliContext, name: str) -> PermissionPolicy:
    """The session policy settings and flags give, with ``name`` allowed (it was asked for).

    The same rules as a session's (:meth:`PermissionPolicy.from_settings`).

    Raises:
        ConfigError: a rule cannot be understood, or bypass mode is turned off.
    """
    return PermissionPolicy.from_settings(
        context.settings.permissions, project=context.cwd, allow=[name]
    )


def _refusal(name: str, execution: ToolExecution) -> str:
    """The one stderr line for a call that did not run."""
    assert execution.denial is not None
    reason = " ".join(execution.denial.reason.split())
    line = f"claw: {name} was not run: {reason}"
    if execution.needed_approval:
        line += (
            " (claw tools call has no one to ask: add an allow rule in settings "
            "or pass --permission-mode)"
        )
    return line


async def _call_tool(context: CliContext, name: str, tool_input: dict[str, object]) -> int:
    async with open_runtime(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    ) as runtime:
        _startup.resume()  # plugins are loaded: start-up is over
        if name not in runtime.registry.tools:
            known = ", ".join(sorted(runtime.registry.tools))
            print(f"claw: no tool named {name!r}; known tools: {known}", file=sys.stderr)
            return 1
        executor = runtime.tool_executor(context.cwd, _policy(context, name))
        execution = await executor.execute(ToolUseBlock(id="cli", name=name, input=tool_input))
    if execution.denial is not None:
        print(_refusal(name, execution), file=sys.stderr)
        return 1
    _print_result(execution.result)
    return 1 if execution.result.is_error else 0


def run_tools_command(context: CliContext, args: argparse.Namespace) -> int:
    if args.tools_command == "list":
        return _list_tools(context)
    try:
        tool_input = orjson.loads(args.input)
    except orjson.JSONDecodeError as exc:
        print(f"claw: --input is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(tool_input, dict):
        kind = type(tool_input).__name__
        print(f"claw: --input must be a JSON object, got {kind}", file=sys.stderr)
        return 2
    return trio.run(_call_tool, context, args.name, tool_input)
