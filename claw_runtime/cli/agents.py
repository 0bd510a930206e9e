"""``claw agents``: the agent types the Task tool can start here, and where each came from.

Built-ins, plugins' (``register_agents``), then the user's and the project's
Markdown files (``~/.claude/agents``, ``~/.claw/agents``, ``.claude/agents``,
``.claw/agents``), a later one replacing an earlier one of the same name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from claw_runtime.cli._setup import CliContext

__all__ = ["run_agents_command"]


def run_agents_command(context: CliContext) -> int:
    """Print the agent types; exit 0."""
    from claw_runtime.agents.definitions import load_agent_catalog
    from claw_runtime.agents.listing import describe_catalog
    from claw_runtime.commands.locations import project_trusted
    from claw_runtime.runtime import load_plugins
    from claw_runtime.tooling import SessionState

    host, _registry = load_plugins(
        context.settings, environ=context.environ, no_plugins=context.no_plugins
    )
    state = SessionState(session_id="claw-agents", cwd=context.cwd, env=dict(context.environ))
    trusted_dirs = context.settings.trusted_directories
    catalog = load_agent_catalog(state, host, trusted=lambda: project_trusted(state, trusted_dirs))
    print("\n".join(describe_catalog(catalog)))
    return 0
