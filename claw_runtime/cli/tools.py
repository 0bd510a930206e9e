"""``claw tools list`` and ``claw tools call NAME --input JSON``: tools without a model.

For plugin authors and scripts: the call goes through the same validation and
the same ``Tool.invoke`` the agent loop uses (hooks and permissions aside), so
what you see is what the model would see. Exit code 1 on a tool error.
"""

from __future__ import annotations

import argparse
import sys

import orjson
import trio

from claw_runtime.cli._setup import CliContext
from claw_runtime.models import ImageBlock, TextBlock, ToolResultBlock
from claw_runtime.runtime import load_plugins, open_runtime
from claw_runtime.tooling import ToolContext

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


async def _call_tool(context: CliContext, name: str, raw_input: object) -> int:
    async with open_runtime(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    ) as runtime:
        found = runtime.registry.tools.get(name)
        if found is None:
            known = ", ".join(sorted(runtime.registry.tools))
            print(f"claw: no tool named {name!r}; known tools: {known}", file=sys.stderr)
            return 1
        session = runtime.new_session(context.cwd)
        ctx = ToolContext(
            session=session,
            tool_use_id="cli",
            http=runtime.http,
            scheduler=runtime.scheduler,
            publish=runtime.publish,
        )
        result = await found.invoke(raw_input, ctx)  # type: ignore[arg-type]
    _print_result(result)
    return 1 if result.is_error else 0


def run_tools_command(context: CliContext, args: argparse.Namespace) -> int:
    if args.tools_command == "list":
        return _list_tools(context)
    try:
        raw_input = orjson.loads(args.input)
    except orjson.JSONDecodeError as exc:
        print(f"claw: --input is not valid JSON: {exc}", file=sys.stderr)
        return 2
    return trio.run(_call_tool, context, args.name, raw_input)
