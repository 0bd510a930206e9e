"""MCP: Claude Code's server configuration, a client for stdio and HTTP servers, and
``claw mcp serve``.

Nothing here imports the ``mcp`` SDK at import time: :mod:`claw_runtime.mcp.config`
reads configuration cheaply, and :mod:`claw_runtime.mcp.client` (the SDK's user) is
imported only when some server is to be started. See ``docs/mcp.md``.
"""
