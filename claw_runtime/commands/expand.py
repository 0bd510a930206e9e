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

:func:`attach_mentions` is step 3 for a prompt (``Session.run`` calls it for
every prompt that is not a slash command, so the terminal, ``claw -p`` and
embedders all get it): the prompt stays as written and each file it mentions is attached
after it (as Claude Code attaches ``@`` mentions), only files inside the
workspace.

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from claw_runtime.models import TextBlock, ToolUseBlock

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = [
    "Mentions",
    "attach_mentions",
    "expand_body",
    "run_tool_for_command",
    "split_arguments",
    "substitute_arguments",
]

_PLACEHOLDER = re.compile(r"\$ARGUMENTS|\$([1-9])(?![0-9])")
_REFERENCE = r"(?:^|(?<=[\s(]))@([^\s`'\"<>()]+)"
"""``@path`` at the start of a line or after a space or ``(`` (not ``me@example.com``)."""
_EXPANSION = re.compile(r"!`([^`\n]+)`|" + _REFERENCE, re.MULTILINE)
_MENTION = re.compile(_REFERENCE, re.MULTILINE)
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


def _file_block(path: str, content: str) -> str:
    return f'<file path="{path}">\n{content.rstrip()}\n</file>'


async def _read_reference(session: Session, path: str) -> tuple[str, bool]:
    """``path`` read with the Read tool, through the executor: (contents or why not, failed)."""
    return await run_tool_for_command(session, "Read", {"file_path": path})


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
        content, failed = await _read_reference(session, found)
        if failed:
            pieces.append(f"@{found} ({content.strip()})")
        else:
            pieces.append(f"@{found}:\n{_file_block(found, content)}\n")
        pieces.append(reference[len(found) :])
    pieces.append(text[position:])
    return "".join(pieces)


@attrs.frozen
class Mentions:
    """A typed prompt with the files it mentions attached (see :func:`attach_mentions`)."""

    prompt: str
    """What to send: the prompt as typed, then one ``<file>`` block per attached file."""
    attached: tuple[str, ...] = ()
    """The mentions attached, as written."""
    notices: tuple[str, ...] = ()
    """One line per mention left out, saying why."""


def _inside(raw: str, cwd: Path, roots: Sequence[Path]) -> bool:
    """Whether the file ``raw`` names (from ``cwd``), links resolved, is under one of ``roots``."""
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else cwd / path
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return False
    for root in roots:
        try:
            if real.is_relative_to(root.resolve()):
                return True
        except (OSError, RuntimeError):
            continue
    return False


async def attach_mentions(session: Session, text: str) -> Mentions:
    """Attach the files ``text`` mentions as ``@path`` (each once), as Claude Code does.

    Only a file inside the session's workspace roots is attached, read through
    the Read tool and so through hooks and the permission policy: a file a deny
    rule covers is not attached. Each mention left out gets a one-line notice;
    an ``@word`` that names no file (``@team``) is only text, without notice.
    """
    state = session.state
    blocks: list[str] = []
    attached: list[str] = []
    notices: list[str] = []
    for match in _MENTION.finditer(text):
        found = _existing_file(match.group(1), state.cwd)
        if found is None or found in attached:
            continue
        if not _inside(found, state.cwd, state.workspace_roots):
            notices.append(f"@{found} not attached: it is outside the workspace")
            continue
        content, failed = await _read_reference(session, found)
        if failed:
            notices.append(f"@{found} not attached: {' '.join(content.split())}")
            continue
        attached.append(found)
        blocks.append(_file_block(found, content))
    if not blocks:
        return Mentions(prompt=text, notices=tuple(notices))
    prompt = "\n\n".join([text.rstrip(), *blocks])
    return Mentions(prompt=prompt, attached=tuple(attached), notices=tuple(notices))
