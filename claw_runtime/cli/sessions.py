"""``claw sessions [list | show ID | export ID --format markdown|json]``.

Sessions are this workspace's files under ``~/.claw/projects/<slug>/``; an ID
may be a unique prefix, and ``show``/``export`` also take a path (a Claude Code
session file works too).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from claw_runtime.cli._setup import CliContext
from claw_runtime.models import (
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from claw_runtime.sessions import SessionNotFound, find_session, list_sessions, load_session

__all__ = ["run_sessions_command", "to_markdown"]


def _age(when: datetime) -> str:
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return "just now"


def to_markdown(messages: tuple[Message, ...]) -> str:
    """A conversation as Markdown: prompts, answers, tool calls and their results."""
    out: list[str] = []
    for message in messages:
        for block in message.content:
            if isinstance(block, TextBlock) and block.text.strip():
                who = "User" if message.role == "user" else "Assistant"
                out.append(f"## {who}\n\n{block.text.strip()}\n")
            elif isinstance(block, ThinkingBlock) and block.thinking.strip():
                out.append(f"> *thinking:* {' '.join(block.thinking.split())[:500]}\n")
            elif isinstance(block, ToolUseBlock):
                payload = orjson.dumps(dict(block.input), option=orjson.OPT_INDENT_2).decode()
                out.append(f"### Tool call: {block.name}\n\n```json\n{payload}\n```\n")
            elif isinstance(block, ToolResultBlock):
                flag = " (error)" if block.is_error else ""
                out.append(f"### Tool result{flag}\n\n```\n{block.text[:4000]}\n```\n")
            elif isinstance(block, RawBlock):
                out.append(f"*[{block.kind} block]*\n")
    return "\n".join(out)


def run_sessions_command(context: CliContext, args: argparse.Namespace) -> int:
    action = args.sessions_command or "list"
    if action == "list":
        sessions = list_sessions(context.cwd, context.environ)
        if not sessions:
            print(f"No sessions for {context.cwd} yet.")
            return 0
        for info in sessions:
            print(
                f"{info.session_id}  {_age(info.modified):>9}  {info.turns:>3} turns  "
                f"${info.cost_usd:.4f}  {info.title}"
            )
        return 0
    try:
        loaded = load_session(find_session(args.session, context.cwd, context.environ))
    except SessionNotFound as exc:
        print(f"claw: {exc}", file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(f"claw: warning: {warning}", file=sys.stderr)
    if action == "show" or args.format == "markdown":
        print(to_markdown(loaded.messages))
        return 0
    document: dict[str, Any] = {
        "session_id": loaded.session_id,
        "cwd": loaded.cwd,
        "records": list(loaded.records),
    }
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return 0
