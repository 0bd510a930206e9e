"""The plugin contract. These docstrings are the reference documentation.

A plugin is any module or object with functions marked ``@hookimpl`` whose names
match the specs below. It is discovered through the ``claw`` entry-point group::

    [project.entry-points.claw]
    word_count = "claw_word_count"

Rules that hold for every hook:

* An implementation may take any subset of the spec's arguments, by name.
* An implementation may be ``async def``; the runtime awaits it. Hooks are
  called in pluggy's order (``tryfirst``/``trylast``, then last registered first).
* An implementation that raises is reported (plugin, hook, reason) and its
  plugin disabled for the rest of the run; the other plugins still run.
* ``wrapper``/``hookwrapper`` implementations are not supported: claw calls
  each implementation itself so that one plugin's failure cannot stop another's.

Registration hooks take a ``register`` callback instead of returning lists: the
runtime decides what a duplicate name means and which plugin registered what.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    # Annotations only: pluggy reads argument names, never types, so importing a
    # plugin's ``hookimpl`` does not load the provider, agent and command machinery.
    from claw_runtime.agents.definitions import AgentDefinition
    from claw_runtime.commands import Command, CommandLoader
    from claw_runtime.context.processors import ContextProcessor, PromptContext
    from claw_runtime.events import Event
    from claw_runtime.hooks.decisions import ToolCall
    from claw_runtime.models import ToolResultBlock
    from claw_runtime.providers.base import ProviderFactory
    from claw_runtime.tooling import SessionState, Tool

PROJECT_NAME = "claw"
"""pluggy project name and entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

MaybeAwaitable = Any  # an implementation may return a value or an awaitable of it


# ----------------------------------------------------------------- registration


@hookspec
def register_tools(register: Callable[[Tool | Callable[..., Awaitable[Any]]], None]) -> None:
    """Register tools the model may call.

    Call ``register(t)`` once per tool, with a :class:`~claw_runtime.Tool` (made by
    ``@tool``) or a plain async function (wrapped with ``@tool`` defaults, so it
    is treated as *not* read-only). A name already registered by another plugin
    is reported as a conflict and the second registration ignored.
    """


@hookspec
def register_commands(register: Callable[[Command | CommandLoader], None]) -> None:
    """Register slash commands (``/name args``) with ``register(Command(...))``.

    ``Command.run(args, session)`` is awaited with the text after the name and
    the live :class:`~claw_runtime.sessions.session.Session`; it returns a
    :class:`~claw_runtime.commands.CommandResult`: ``output`` to show, or a
    ``prompt`` to run in the user's place (with ``allowed_tools`` and ``model``
    for that run only). Names may be namespaced (``frontend:component``). A
    plugin's command replaces a built-in one of the same name; between two
    plugins, the second is reported as a conflict.

    ``register(CommandLoader(...))`` instead registers a source of commands
    found per session when needed (how ``.claude/commands`` files are read);
    its commands never replace registered ones.
    """


@hookspec
def register_skills(register: Callable[[str | os.PathLike[str]], None]) -> None:
    """Ship skills: ``register(path)`` with the absolute path of a skill folder (one
    with a ``SKILL.md``) or of a folder of them.

    The model sees each skill's name, as ``<plugin>:<name>``, and description, and
    loads its body with the ``Skill`` tool when a task calls for it. A path that
    is not an existing directory is reported against the plugin.
    """


@hookspec
def register_context_processors(register: Callable[[ContextProcessor], None]) -> None:
    """Register steps that build the system prompt and messages before each model call.

    Processors run in ascending ``order`` and mutate a
    :class:`~claw_runtime.context.processors.PromptContext`.
    """


@hookspec
def register_agents(register: Callable[[AgentDefinition], None]) -> None:
    """Ship sub-agent types for the ``Task`` tool: ``register(AgentDefinition(...))``.

    An :class:`~claw_runtime.agents.AgentDefinition` names the agent, says when
    to use it (``description``, shown to the model), and gives its system prompt,
    its tools (``None``: all the session's), model, permission mode, turn budget
    and isolation. Markdown files in ``.claude/agents`` and ``~/.claude/agents``
    replace a plugin's agent of the same name; a plugin's replaces a built-in.
    """


@hookspec
def register_providers(register: Callable[[ProviderFactory], None]) -> None:
    """Register model providers by name (``anthropic``, ``openai``, ...).

    ``--provider NAME`` and the ``provider`` setting pick one.
    """


# ------------------------------------------------------------------ tool calls


@hookspec
def pre_tool_use(call: ToolCall, session: SessionState) -> MaybeAwaitable:
    """Inspect a tool call before it runs; return a :class:`PreToolUseDecision` or None.

    ``deny`` blocks the call and its ``reason`` goes to the model as the tool
    result; ``ask`` forces a permission prompt; ``allow`` skips it;
    ``updated_input`` replaces the input (it is validated again); rewrites chain
    in call order, each hook seeing the input the one before it left. When
    plugins disagree the most restrictive decision wins: deny > ask > allow.
    ``end_run`` ends the whole run after this call with that reason.
    """


@hookspec
def post_tool_use(call: ToolCall, result: ToolResultBlock, session: SessionState) -> MaybeAwaitable:
    """See a tool's result before the model does; return a :class:`PostToolUseOutcome` or None.

    ``replace_result`` substitutes the result; ``additional_context`` is appended
    to it for the model; ``end_run`` ends the whole run after this call.
    """


# --------------------------------------------------------------------- prompts


@hookspec
def user_prompt_submit(prompt: str, session: SessionState) -> MaybeAwaitable:
    """See a user prompt before the model does; return a :class:`PromptDecision` or None.

    ``block=True`` stops the prompt (``reason`` is shown to the user: a clean
    end, not an error); ``additional_context`` is added after the prompt.
    """


@hookspec
def pre_compact(context: PromptContext, trigger: str, custom_instructions: str) -> MaybeAwaitable:
    """The conversation is about to be compacted (``trigger``: ``manual`` or ``auto``).

    ``context`` is the prompt the next request would carry (system sections and
    every message, before the summary replaces the older ones): the last chance
    to save something from it. ``custom_instructions`` is the focus text of
    ``/compact <focus>`` ("" otherwise). Return values are ignored; a plugin
    that raises is disabled and the compaction goes on.
    """


# -------------------------------------------------------------------- lifecycle


@hookspec
def session_start(session: SessionState, source: str) -> MaybeAwaitable:
    """A session started (``source``: ``startup``, ``resume``, ``clear`` or ``compact``).

    Return a :class:`SessionStartOutcome` (or a plain string) to give the model
    context for the whole session, or to end the run before it starts.
    """


@hookspec
def session_end(session: SessionState, reason: str) -> MaybeAwaitable:
    """A session ended (``reason``: ``end_turn``, ``max_turns``, ``cancelled``, ``error``...)."""


@hookspec
def stop(
    session: SessionState, stop_hook_active: bool, last_assistant_message: str
) -> MaybeAwaitable:
    """The model finished answering (no more tool calls). Answer to make it go on.

    Return a :class:`StopDecision` (or a non-empty string, the same as a block
    with that reason): the reason is sent back to the model as a user message,
    so a plugin can insist ("the tests still fail"). ``stop_hook_active`` is
    True when the model is already continuing because a stop hook blocked;
    the runtime bounds how often.
    """


@hookspec
def subagent_start(
    session: SessionState, agent: str, agent_id: str, description: str
) -> MaybeAwaitable:
    """A sub-agent is about to send its first request (``agent``: its type, such as
    ``Explore``; ``session``: the sub-agent's own state, with its own cwd).

    Return a :class:`SessionStartOutcome` (or a plain string) to give the
    sub-agent context for its whole run; ``end_run`` stops it before it starts
    (its caller gets an error result with that reason). A plugin that raises
    here is disabled for this sub-agent only.
    """


@hookspec
def subagent_stop(
    session: SessionState, agent: str, result: str, agent_id: str, transcript_path: str
) -> MaybeAwaitable:
    """A sub-agent finished; ``result`` is its final answer (or why it failed).

    ``transcript_path`` is its own sidechain transcript ("" when nothing is
    saved); ``session`` is the sub-agent's state. Return values are ignored.
    """


@hookspec
def notification(session: SessionState, message: str) -> MaybeAwaitable:
    """The runtime wants the user's attention (a permission prompt, an idle wait)."""


@hookspec
def on_event(event: Event) -> MaybeAwaitable:
    """Observe every runtime event (see ``claw_runtime.events``).

    Delivered from a bus subscriber with the drop-with-notice policy: a slow
    implementation never stalls the runtime, and it sees an ``EventsDropped``
    event if it fell behind. Return values are ignored.
    """
