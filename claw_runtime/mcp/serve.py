"""``claw mcp serve``: claw's built-in and plugin tools, offered to any MCP client.

Over stdio by default (``claw mcp serve`` as a client's server command), or
Streamable HTTP on ``127.0.0.1:PORT`` with ``--http PORT``. Every call goes
through the same :class:`~claw_runtime.executor.ToolExecutor` as the agent
loop's: ``PreToolUse``/``PostToolUse`` hooks, deny/ask/allow rules, the
workspace edge and protected paths. Nobody is there to answer a permission
prompt, so a call that would ask is refused, with the reason as an error
result; allow what the client may do in settings (``permissions.allow``) or
with ``--permission-mode``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from claw_runtime.cli._setup import CliContext
    from claw_runtime.executor import ToolExecutor
    from claw_runtime.permissions import PermissionMode
    from claw_runtime.runtime import Runtime

__all__ = ["build_server", "run_serve"]


def build_server(runtime: Runtime, executor: ToolExecutor) -> Any:
    """An MCP ``Server`` whose tools are ``executor.tools``, each call through ``executor``."""
    import mcp_types as types
    from mcp.server import Server

    from claw_runtime._version import __version__
    from claw_runtime.models import ImageBlock, TextBlock, ToolUseBlock

    calls = 0

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=t.name,
                    description=t.description,
                    input_schema=dict(t.input_schema),
                    annotations=types.ToolAnnotations(read_only_hint=t.read_only),
                )
                for _name, t in sorted(executor.tools.items())
                if runtime.host.is_active(t.plugin) and executor.permissions.visible(t.name)
            ]
        )

    async def call_tool(_ctx: Any, params: Any) -> types.CallToolResult:
        nonlocal calls
        calls += 1
        tool_use = ToolUseBlock(
            id=f"mcp_{calls}", name=params.name, input=dict(params.arguments or {})
        )
        execution = await executor.execute(tool_use)
        content: list[Any] = []
        for block in execution.result.content:
            if isinstance(block, TextBlock):
                content.append(types.TextContent(text=block.text))
            elif isinstance(block, ImageBlock):
                content.append(types.ImageContent(data=block.data, mime_type=block.media_type))
        return types.CallToolResult(content=content, is_error=execution.result.is_error)

    return Server("claw", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def _serve(context: CliContext, http_port: int | None, mode: PermissionMode | None) -> None:
    from claw_runtime.permissions import PermissionPolicy
    from claw_runtime.runtime import open_runtime

    async with open_runtime(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    ) as runtime:
        policy = PermissionPolicy.from_settings(
            context.settings.permissions, project=context.cwd, mode=mode
        )
        executor = runtime.tool_executor(context.cwd, policy)
        server = build_server(runtime, executor)
        if http_port is None:
            from mcp.server.stdio import stdio_server

            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())
            return
        # hypercorn, not uvicorn: it serves ASGI on trio, the runtime's own event loop.
        from hypercorn.config import Config
        from hypercorn.trio import serve

        config = Config()
        config.bind = [f"127.0.0.1:{http_port}"]
        config.accesslog = None
        app = server.streamable_http_app(host="127.0.0.1")
        print(f"claw: serving MCP on http://127.0.0.1:{http_port}/mcp", file=sys.stderr)
        await serve(app, config, mode="asgi")


def run_serve(context: CliContext, args: argparse.Namespace) -> int:
    """Serve until the client goes away (stdio) or the process is stopped (HTTP)."""
    mode = getattr(args, "permission_mode", None)
    try:
        trio.run(_serve, context, args.http, mode)
    except KeyboardInterrupt:
        return 0
    return 0
