"""MCP: Claude Code's server configuration, a client for stdio and HTTP servers, and
``claw mcp serve``.

Nothing here imports the ``mcp`` SDK at import time: :mod:`claw_runtime.mcp.config`
reads configuration cheaply, and :mod:`claw_runtime.mcp.client` (the SDK's user) is
imported only when some server is to be started. See ``docs/mcp.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

__all__ = ["SESSION_MCP_KEY", "mcp_configured"]

SESSION_MCP_KEY = "mcp.servers"
"""``SessionState.extras`` key of the session's :class:`~claw_runtime.mcp.session.SessionMcp`
(here, so a session can look for it without importing the MCP modules)."""


def mcp_configured(cwd: Path, environ: Mapping[str, str]) -> bool:
    """Whether any file could configure an MCP server for ``cwd`` (cheap: no JSON parsing).

    A session calls this first, so a run without MCP servers never imports the
    configuration reader; a yes only means "read the configuration properly".
    """
    from claw_runtime.config.settings import settings_files

    if environ.get("CLAW_MCP_CONFIG"):
        return True
    home = Path(environ.get("HOME") or Path.home())
    claude_dir = environ.get("CLAUDE_CONFIG_DIR")
    claw_dir = Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw")
    candidates = [
        Path(claude_dir) / ".claude.json" if claude_dir else home / ".claude.json",
        claw_dir / "mcp.json",
        cwd / ".mcp.json",
        *(f.path for f in settings_files(cwd, home, environ)),
    ]
    for path in candidates:
        try:
            with open(path, "rb") as file:
                if b"mcpServers" in file.read():
                    return True
        except OSError:
            continue
    return False
