"""MCP server prompts as slash commands: ``/mcp__<server>__<prompt> [args...]``.

A server's prompt is a template the person chooses to run, as Claude Code
offers them. The words after the command fill the prompt's arguments in order
(the last argument takes the rest of the line); the server's messages become the
prompt the model is sent. The loader is registered for every runtime but finds
commands only in a session whose MCP servers offer prompts, and it never loads
the ``mcp`` SDK itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from claw_runtime.commands import Command, CommandLoader, CommandResult

if TYPE_CHECKING:
    from claw_runtime.mcp.session import SessionMcp
    from claw_runtime.sessions.session import Session

__all__ = ["MCP_PROMPTS_LOADER", "prompt_commands"]


def _session_mcp(session: Session) -> SessionMcp | None:
    from claw_runtime.mcp.session import EXTRAS_KEY

    found = session.state.extras.get(EXTRAS_KEY)
    return found if found is not None else None


def _arguments(listed: Any, text: str) -> dict[str, str]:
    names = [str(a.name) for a in (listed.arguments or [])]
    if not names:
        return {}
    words = text.split(maxsplit=len(names) - 1) if text.strip() else []
    return dict(zip(names, words, strict=False))


def _message_text(result: Any) -> str:
    parts: list[str] = []
    for message in result.messages:
        content = message.content
        kind = getattr(content, "type", None)
        if kind == "text":
            parts.append(str(content.text))
        elif kind == "resource" and getattr(content.resource, "text", None) is not None:
            parts.append(str(content.resource.text))
    return "\n\n".join(parts)


def prompt_commands(mcp: SessionMcp) -> list[Command]:
    """One command per prompt of each connected server."""
    commands: list[Command] = []
    for connection in mcp.servers.connections.values():
        if connection.state != "connected":
            continue
        for listed in connection.prompts:
            commands.append(_command(mcp, connection.name, listed))
    return commands


def _command(mcp: SessionMcp, server: str, listed: Any) -> Command:
    remote = str(listed.name)
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in remote)

    async def run(args: str, session: Session) -> CommandResult:
        from claw_runtime.mcp.client import McpCallError

        missing = [
            str(a.name)
            for a in (listed.arguments or [])
            if a.required and str(a.name) not in _arguments(listed, args)
        ]
        if missing:
            return CommandResult(
                output=f"/mcp__{server}__{safe} needs: {' '.join(missing)}", is_error=True
            )
        connection = mcp.servers.connections[server]
        try:
            result = await connection.call(
                mcp.servers, "get_prompt", remote, _arguments(listed, args)
            )
        except McpCallError as exc:
            return CommandResult(output=str(exc), is_error=True)
        text = _message_text(result)
        if not text.strip():
            return CommandResult(output=f"MCP prompt {remote} of {server} is empty", is_error=True)
        return CommandResult(prompt=text)

    hint = " ".join(f"<{a.name}>" for a in (listed.arguments or []))
    return Command(
        name=f"mcp__{server}__{safe}",
        description=(listed.description or f"MCP prompt {remote}").strip(),
        run=run,
        argument_hint=hint,
        source=f"mcp: {server}",
    )


async def _load(session: Session) -> list[Command]:
    mcp = _session_mcp(session)
    return prompt_commands(mcp) if mcp is not None else []


MCP_PROMPTS_LOADER = CommandLoader(name="mcp.prompts", load=_load, order=50)
"""Added to every registry (:func:`claw_runtime.registry.build_registry`)."""
