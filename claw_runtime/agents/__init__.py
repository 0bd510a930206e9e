"""Sub-agents: agent types, running a child agent, git worktree isolation.

* :mod:`~claw_runtime.agents.definitions`: :class:`AgentDefinition`, the
  built-in types, Markdown files in ``.claude/agents``, plugins' ``register_agents``.
* :mod:`~claw_runtime.agents.subagent`: :class:`SubagentService`, which the
  ``Task`` tool reaches through ``ToolContext.agents`` to run a child agent as a
  scheduler task under the calling tool call, with its own tools, permission
  mode, budgets, hooks, events and transcript.
* :mod:`~claw_runtime.agents.worktree`: ``isolation: worktree``.
* :mod:`~claw_runtime.agents.builtin`: the built-in plugin ``builtin.agents``.

See ``docs/agents.md``.
"""

from claw_runtime.agents.definitions import AgentCatalog, AgentDefinition

__all__ = ["AgentCatalog", "AgentDefinition"]
