"""Sessions on disk: find them, list them, and read one back into a conversation.

A session is one append-only JSON-lines file,
``~/.claw/projects/<workspace slug>/<session id>.jsonl`` (see
:func:`claw_runtime.sessions.transcript.transcript_path`), whose conversation lines have
Claude Code's shape (``type`` ``user``/``assistant``, ``uuid``, ``message``...).
claw's own records (``result`` and later ones) are further line types.

Reading is forgiving, because the file may come from a process that was
killed, from a newer claw, or from Claude Code itself:

* a line cut off mid-write (``kill -9``) is skipped with a warning;
* record types this version does not know are kept in ``records`` and
  otherwise ignored;
* Claude Code writes one assistant API message as several lines sharing
  ``message.id``: they are merged back into one message;
* a ``tool_use`` whose result never arrived (killed mid-tool) gets an
  "aborted" result, so the next request to the model is valid;
* content blocks of types claw does not interpret come back as
  :class:`~claw_runtime.models.RawBlock`, sent to the API unchanged;
* a compacted session continues from its last ``compact_boundary`` record:
  the summary and the turns after it, not the history the summary replaced.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from claw_runtime.errors import ClawError
from claw_runtime.models import (
    ContentBlock,
    ImageBlock,
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from claw_runtime.sessions.transcript import transcript_path

__all__ = [
    "LoadedSession",
    "SessionInfo",
    "SessionNotFound",
    "find_session",
    "latest_session",
    "list_sessions",
    "load_session",
    "message_from_wire",
]

ABORTED = "Tool call aborted: the session ended before it finished."


class SessionNotFound(ClawError):
    """No session matches the id or path given."""


@attrs.frozen(kw_only=True)
class LoadedSession:
    """A session file read back: its conversation and everything else it held."""

    session_id: str
    path: Path
    messages: tuple[Message, ...]
    records: tuple[dict[str, Any], ...]
    """Every complete line, in order (claw's own and unknown record types included)."""
    warnings: tuple[str, ...] = ()
    cwd: str | None = None


@attrs.frozen(kw_only=True)
class SessionInfo:
    """One line of ``claw sessions``."""

    session_id: str
    path: Path
    title: str
    modified: datetime
    turns: int
    cost_usd: float


def sessions_dir(cwd: Path, environ: Mapping[str, str]) -> Path:
    """The folder holding this workspace's session files."""
    return transcript_path(cwd, "x", environ).parent


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    last = len(lines) - 1
    for number, line in enumerate(lines, start=1):
        if line and not line.isspace():  # not .strip(): that copies every line
            yield number, line, number - 1 == last and not data.endswith(b"\n")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a session file becomes objects.

    Reading a long session builds hundreds of thousands of small containers
    (decoded records, blocks, messages), none of them part of a cycle. Each
    time enough of them survive, CPython's collector walks everything built so
    far, and with 10,000 records those walks were a third of the time
    (``benchmarks/bench_sessions.py``). Reference counting frees memory as
    usual meanwhile; the collector runs again afterwards, if it was running.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _records(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    records = []
    for number, line, unterminated in _lines(path):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            why = "cut off mid-write (the process was killed?)" if unterminated else "not JSON"
            warnings.append(f"{path}: line {number} skipped: {why}")
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


# --------------------------------------------------------------------------- wire blocks


def _text_content(value: Any) -> tuple[TextBlock | ImageBlock, ...]:
    if isinstance(value, str):
        return (TextBlock(text=value),)
    blocks: list[TextBlock | ImageBlock] = []
    for item in value if isinstance(value, list) else ():
        block = block_from_wire(item)
        if isinstance(block, TextBlock | ImageBlock):
            blocks.append(block)
    return tuple(blocks)


def block_from_wire(data: Any) -> ContentBlock | None:
    """One content block from its API (or claw transcript) shape; unknown types stay raw."""
    if not isinstance(data, dict):
        return None
    kind = data.get("type")
    if kind == "text":
        return TextBlock(text=str(data.get("text", "")), citations=data.get("citations"))
    if kind == "thinking":
        return ThinkingBlock(
            thinking=str(data.get("thinking", "")), signature=str(data.get("signature", ""))
        )
    if kind == "tool_use":
        raw_input = data.get("input")
        return ToolUseBlock(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            input=raw_input if isinstance(raw_input, dict) else {},
        )
    if kind == "tool_result":
        return ToolResultBlock(
            tool_use_id=str(data.get("tool_use_id", "")),
            content=_text_content(data.get("content", "")),
            is_error=bool(data.get("is_error", False)),
        )
    if kind == "image":
        source = data.get("source")
        if isinstance(source, dict):  # the API's shape
            return ImageBlock(
                media_type=str(source.get("media_type", "")), data=str(source.get("data", ""))
            )
        return ImageBlock(
            media_type=str(data.get("media_type", "")), data=str(data.get("data", ""))
        )
    if kind == "raw" and isinstance(data.get("data"), dict):  # claw's own transcript shape
        return RawBlock(data=data["data"], provider=str(data.get("provider", "anthropic")))
    return RawBlock(data=data)


def message_from_wire(data: Any, role: str) -> Message | None:
    """A message from a line's ``message`` field (content may be a plain string)."""
    if not isinstance(data, dict):
        return None
    content = data.get("content", "")
    if isinstance(content, str):
        blocks: tuple[ContentBlock, ...] = (TextBlock(text=content),) if content else ()
    else:
        blocks = tuple(b for b in map(block_from_wire, content) if b is not None)
    chosen = data.get("role", role)
    if chosen not in ("user", "assistant") or not blocks:
        return None
    return Message(role=chosen, content=blocks)


# --------------------------------------------------------------------------- conversation


def _conversation(records: Sequence[dict[str, Any]]) -> list[Message]:
    """Messages in order, consecutive lines of one role joined.

    That one rule covers Claude Code's assistant messages split over lines
    sharing ``message.id``, and a tool-result line followed by a prompt line.
    """
    messages: list[Message] = []
    for record in records:
        kind = record.get("type")
        if kind not in ("user", "assistant") or record.get("isSidechain"):
            continue
        message = message_from_wire(record.get("message"), kind)
        if message is None:
            continue
        if messages and messages[-1].role == message.role:
            merged = (*messages[-1].content, *message.content)
            messages[-1] = Message(role=message.role, content=merged)
        else:
            messages.append(message)
    return _repair(messages)


def _aborted(tool_use_id: str) -> ToolResultBlock:
    return ToolResultBlock(
        tool_use_id=tool_use_id, content=(TextBlock(text=ABORTED),), is_error=True
    )


def _answers_in_order(message: Message, wanted: list[str]) -> bool:
    """Whether ``message`` opens with one result per id of ``wanted``, in order, and
    holds no other result: what :func:`_repair` would rebuild it into anyway."""
    count = len(wanted)
    content = message.content
    if not content or len(content) < count or len(set(wanted)) != count:
        return False
    for block, tool_use_id in zip(content, wanted, strict=False):
        if not isinstance(block, ToolResultBlock) or block.tool_use_id != tool_use_id:
            return False
    return not any(isinstance(b, ToolResultBlock) for b in content[count:])


def _repair(messages: list[Message]) -> list[Message]:
    """Every tool_use answered by the next user message, results first (the API's rule)."""
    repaired: list[Message] = []
    for index, message in enumerate(messages):
        if message.role == "user" and repaired and repaired[-1].role == "assistant":
            wanted = [t.id for t in repaired[-1].tool_uses]
            if _answers_in_order(message, wanted):
                repaired.append(message)  # the usual case: nothing to repair
                continue
            results = {b.tool_use_id: b for b in message.content if isinstance(b, ToolResultBlock)}
            others = tuple(b for b in message.content if not isinstance(b, ToolResultBlock))
            ordered = tuple(results.get(i) or _aborted(i) for i in wanted)
            message = Message(role="user", content=(*ordered, *others))
            if not message.content:
                continue
        elif message.role == "user" and any(
            isinstance(b, ToolResultBlock) for b in message.content
        ):
            # results with no tool_use before them cannot be sent: keep the rest
            kept = tuple(b for b in message.content if not isinstance(b, ToolResultBlock))
            if not kept:
                continue
            message = Message(role="user", content=kept)
        repaired.append(message)
        is_last = index == len(messages) - 1
        if message.role == "assistant" and message.tool_uses and is_last:
            repaired.append(
                Message(role="user", content=tuple(_aborted(t.id) for t in message.tool_uses))
            )
    return repaired


def _after_last_compaction(records: Sequence[dict[str, Any]]) -> int:
    """Where the conversation to send starts: after the last ``compact_boundary`` record.

    What came before it was summarised (claw's and Claude Code's files alike);
    the summary line and the turns kept verbatim follow the boundary.
    """
    for index in range(len(records) - 1, -1, -1):
        record = records[index]
        if (
            record.get("subtype") == "compact_boundary"
            and record.get("type") == "system"
            and not record.get("isSidechain")
        ):
            return index + 1
    return 0


def load_session(path: Path) -> LoadedSession:
    """Read a claw or Claude Code session file back.

    Raises:
        SessionNotFound: the file cannot be read.
    """
    warnings: list[str] = []
    with _collector_paused():
        try:
            records = _records(path, warnings)
        except OSError as exc:
            raise SessionNotFound(f"cannot read session {path}: {exc.strerror or exc}") from None
        messages = tuple(_conversation(records[_after_last_compaction(records) :]))
    session_id = next(
        (
            str(r["sessionId"])
            for r in records
            if isinstance(r.get("sessionId"), str) and r["sessionId"]
        ),
        path.stem,
    )
    cwd = next((str(r["cwd"]) for r in records if isinstance(r.get("cwd"), str) and r["cwd"]), None)
    return LoadedSession(
        session_id=session_id,
        path=path,
        messages=messages,
        records=tuple(records),
        warnings=tuple(warnings),
        cwd=cwd,
    )


# --------------------------------------------------------------------------- finding


_NO_TITLE = "(no prompt)"


def _title(records: Sequence[dict[str, Any]]) -> str:
    for record in records:
        if record.get("type") == "user":
            message = message_from_wire(record.get("message"), "user")
            if message is not None and message.text.strip():
                return " ".join(message.text.split())[:80]
    return _NO_TITLE


def _info(path: Path) -> SessionInfo:
    """A session's listing line, without building its conversation.

    Only the lines that matter are decoded: the first ones up to the first
    prompt (id and title) and the ``result`` records (turns and cost); a
    10,000-record session lists in milliseconds, not the time a resume takes.
    """
    session_id = ""
    title_records: list[dict[str, Any]] = []
    turns, cost = 0, 0.0
    with contextlib.suppress(OSError):
        for _number, line, _torn in _lines(path):
            wanted_for_title = not title_records or not session_id
            if not wanted_for_title and b'"result"' not in line:
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            if not session_id and isinstance(record.get("sessionId"), str):
                session_id = record["sessionId"]
            if not title_records and _title([record]) != _NO_TITLE:
                title_records.append(record)
            if record.get("type") == "result" and isinstance(record.get("result"), dict):
                turns += int(record["result"].get("num_turns", 0) or 0)
                cost += float(record["result"].get("total_cost_usd", 0) or 0)
    return SessionInfo(
        session_id=session_id or path.stem,
        path=path,
        title=_title(title_records),
        modified=datetime.fromtimestamp(path.stat().st_mtime, tz=UTC),
        turns=turns,
        cost_usd=round(cost, 6),
    )


def list_sessions(cwd: Path, environ: Mapping[str, str]) -> list[SessionInfo]:
    """This workspace's sessions, newest first."""
    folder = sessions_dir(cwd, environ)
    try:
        files = [p for p in folder.iterdir() if p.suffix == ".jsonl"]
    except OSError:
        return []
    files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [_info(p) for p in files]


def latest_session(cwd: Path, environ: Mapping[str, str]) -> Path | None:
    """The most recently written session file of this workspace (``claw -c``)."""
    folder = sessions_dir(cwd, environ)
    try:
        files = [p for p in folder.iterdir() if p.suffix == ".jsonl"]
    except OSError:
        return None
    return max(files, key=lambda p: p.stat().st_mtime, default=None)


def find_session(reference: str, cwd: Path, environ: Mapping[str, str]) -> Path:
    """A session file from an id, a unique id prefix, or a path (a Claude Code file too).

    Raises:
        SessionNotFound: nothing matches, or a prefix matches several sessions.
    """
    given = Path(os.path.expanduser(reference))
    if given.suffix == ".jsonl" or os.sep in reference:
        if given.is_file():
            return given
        raise SessionNotFound(f"no session file {given}")
    folder = sessions_dir(cwd, environ)
    exact = folder / f"{reference}.jsonl"
    if exact.is_file():
        return exact
    try:
        matches = sorted(p for p in folder.iterdir() if p.name.startswith(reference))
    except OSError:
        matches = []
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise SessionNotFound(
            f"{reference!r} matches {len(matches)} sessions; give more of the id (claw sessions)"
        )
    raise SessionNotFound(f"no session {reference!r} for {cwd} (claw sessions lists them)")
