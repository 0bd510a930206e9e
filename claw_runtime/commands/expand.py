"""Turning a command's Markdown body into the prompt it sends (Claude Code's syntax).

In order:

1. ``$ARGUMENTS`` becomes everything typed after the command's name, and
   ``$1`` .. ``$9`` its words (quotes group words: ``/fix "two words" x``); a
   missing word is empty. A body with neither gets the arguments appended as
   ``ARGUMENTS: ...``, so they are never lost.
2. ``!`cmd``` runs ``cmd`` with the Bash tool and is replaced by its output.
3. ``@path`` (at the start of a line or after a space) is replaced by the
   file's contents, read with the Read tool. An ``@word`` that is not a file
   (``@property``, ``@team``) stays as written.

Steps 2 and 3 go through the session's
:class:`~claw_runtime.executor.ToolExecutor`: hooks and permission rules apply
exactly as to the model's own calls, so an untrusted project's command cannot
run a shell line or read a denied file without the user's yes. A call that is
not allowed is replaced by the reason, which the model then reads. Output is
never expanded again: a file that contains ``!`rm -rf ~``` is only text.
"""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claw_runtime.models import TextBlock, ToolUseBlock

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = ["expand_body", "run_tool_for_command", "split_arguments", "substitute_arguments"]

_PLACEHOLDER = re.compile(r"\$ARGUMENTS|\$([1-9])(?![0-9])")
_EXPANSION = re.compile(r"!`([^`\n]+)`|(?:^|(?<=[\s(]))@([^\s`'\"<>()]+)", re.MULTILINE)
_TRAILING_PUNCTUATION = ".,:;!?"


def split_arguments(args: str) -> list[str]:
    """The words of ``args``, quotes grouping (``a "b c"`` -> ``["a", "b c"]``).

    Unbalanced quotes fall back to splitting on spaces, so a stray apostrophe
    (``/explain don't``) still works.
    """
    try:
        return shlex.split(args)
    except ValueError:
        return args.split()


def substitute_arguments(body: str, args: str) -> str:
    """``$ARGUMENTS`` and ``$1``..``$9`` replaced in one pass (arguments are not rescanned)."""
    words = split_arguments(args)
    used = False

    def replace(match: re.Match[str]) -> str:
        nonlocal used
        used = True
        if match.group(1) is None:
            return args
        index = int(match.group(1)) - 1
        return words[index] if index < len(words) else ""

    text = _PLACEHOLDER.sub(replace, body)
    if not used and args.strip():
        text = f"{text.rstrip()}\n\nARGUMENTS: {args.strip()}"
    return text


async def run_tool_for_command(
    session: Session, name: str, tool_input: dict[str, Any]
) -> tuple[str, bool]:
    """Run one tool call for a command through the session's executor: (text, is_error).

    A call that was not allowed counts among the run's permission denials.
    """
    agent = session.agent
    call = ToolUseBlock(id=f"toolu_cmd_{uuid.uuid4().hex[:20]}", name=name, input=tool_input)
    execution = await agent.executor.execute(call)
    if execution.denial is not None:
        agent.denials.append(execution.denial)
    text = "\n".join(b.text for b in execution.result.content if isinstance(b, TextBlock))
    return text, execution.result.is_error


def _existing_file(raw: str, cwd: Path) -> str | None:
    """The reference as written if it names a file (trailing punctuation tried off)."""
    candidates = [raw]
    trimmed = raw.rstrip(_TRAILING_PUNCTUATION)
    if trimmed and trimmed != raw:
        candidates.append(trimmed)
    for candidate in candidates:
        path = Path(candidate).expanduser()
        try:
            if (path if path.is_absolute() else cwd / path).is_file():
                return candidate
        except (OSError, ValueError):
            continue
    return None


async def expand_body(session: Session, text: str) -> str:
    """``!`cmd``` and ``@path`` in ``text`` replaced through the session's tools."""
    pieces: list[str] = []
    position = 0
    for match in _EXPANSION.finditer(text):
        pieces.append(text[position : match.start()])
        position = match.end()
        command, reference = match.group(1), match.group(2)
        if command is not None:
            output, _failed = await run_tool_for_command(session, "Bash", {"command": command})
            pieces.append(output.rstrip("\n"))
            continue
        found = _existing_file(reference, session.state.cwd)
        if found is None:
            pieces.append(match.group(0))
            continue
        content, failed = await run_tool_for_command(session, "Read", {"file_path": found})
        if failed:
            pieces.append(f"@{found} ({content.strip()})")
        else:
            pieces.append(f'@{found}:\n<file path="{found}">\n{content.rstrip()}\n</file>\n')
        pieces.append(reference[len(found) :])
    pieces.append(text[position:])
    return "".join(pieces)
