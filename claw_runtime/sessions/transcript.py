"""The session transcript: an append-only JSON-lines file, written as things happen.

Every record is one line, written and flushed with a single ``os.write`` on a
descriptor opened ``O_APPEND``: a crash (or ``kill -9``) can cost at most the
record being written, never corrupt the lines before it. The assistant message
is appended before any of its tools run, so what the model asked for is never
lost. The file is created ``0600``: transcripts hold code and command output,
and every string of a record goes through :func:`claw_runtime.secrets.redact_json`
before the line is written (API keys, tokens, passwords, private keys, values
under secret-looking key names).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from claw_runtime import serde
from claw_runtime._version import __version__
from claw_runtime.models import Message
from claw_runtime.secrets import redact_json
from claw_runtime.text import clean_text

__all__ = ["Transcript", "read_transcript", "sidechain_path", "transcript_path"]


def transcript_path(cwd: Path, session_id: str, environ: Mapping[str, str]) -> Path:
    """Where a session's transcript lives: ``~/.claw/projects/<cwd as a slug>/<id>.jsonl``.

    The layout mirrors Claude Code's ``~/.claude/projects``; ``CLAW_CONFIG_DIR``
    moves the root.
    """
    root = Path(environ.get("CLAW_CONFIG_DIR") or Path.home() / ".claw")
    slug = re.sub(r"[^A-Za-z0-9]", "-", str(cwd))
    return root / "projects" / slug / f"{session_id}.jsonl"


def sidechain_path(session_path: Path, agent_id: str) -> Path:
    """Where a sub-agent's transcript lives, beside its session's, as Claude Code keeps it:
    ``<project>/<session id>/subagents/agent-<agent id>.jsonl``. The session's own file
    stays a valid conversation of the main agent alone."""
    return session_path.parent / session_path.stem / "subagents" / f"agent-{agent_id}.jsonl"


def _log_warning(message: str) -> None:
    from claw_runtime.logs import get_logger

    get_logger("claw.transcript").warning(message)


_SIGNED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _signed(block: Any) -> bool:
    """Thinking blocks are signed: the API rejects a resumed conversation that altered one."""
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "raw" and isinstance(block.get("data"), dict):
        kind = block["data"].get("type")
    return kind in _SIGNED_BLOCKS


def _redacted(record: dict[str, Any]) -> Any:
    """The record with secrets masked everywhere except inside signed blocks."""
    message = record.get("message")
    if not isinstance(message, dict):
        return redact_json(record)
    content = message.get("content")
    if not isinstance(content, list) or not any(_signed(b) for b in content):
        return redact_json(record)
    kept = [b if _signed(b) else redact_json(b) for b in content]
    rest = redact_json({**record, "message": {**message, "content": []}})
    rest["message"]["content"] = kept
    return rest


def _redacted_message(message: dict[str, Any]) -> Any:
    """A conversation line's ``message``, masked as :func:`_redacted` masks it in a record."""
    masked = _redacted({"message": message})
    return masked["message"] if isinstance(masked, dict) else masked


def _start_on_a_fresh_line(fd: int, path: Path) -> None:
    """A file whose last line was torn (killed mid-write) gets a newline first,
    so the next record is a whole line of its own and readers skip only the torn one."""
    size = os.fstat(fd).st_size
    if size:
        with open(path, "rb") as existing:
            existing.seek(size - 1)
            if existing.read(1) != b"\n":
                os.write(fd, b"\n")


@attrs.define(eq=False)
class Transcript:
    """Appends records to ``path``; with ``path=None`` it keeps nothing (``--no-session``).

    A transcript that cannot be created (``~/.claw`` is a file, a read-only or
    full disk) does not stop the run: ``path`` becomes None, ``unsaved`` says
    why, and ``warn`` is called once with a one-line message.
    """

    path: Path | None
    session_id: str = ""
    cwd: str = attrs.field(default="", converter=clean_text)  # a non-UTF-8 name, escaped
    warn: Callable[[str], None] = attrs.field(default=_log_warning, kw_only=True)
    agent_id: str | None = attrs.field(default=None, kw_only=True)
    """Set for a sub-agent's transcript: its lines are Claude Code's sidechain lines
    (``isSidechain: true``, ``agentId``), in a file of their own."""
    unsaved: str | None = attrs.field(default=None, init=False)
    """Why the transcript could not be created; None if it was (or was not wanted)."""
    _fd: int | None = attrs.field(default=None, init=False)
    _last_uuid: str | None = attrs.field(default=None, init=False)
    _line_fields: dict[str, Any] | None = attrs.field(default=None, init=False)

    def open(self) -> bool:
        """Create the file now (else it is created with the first record); False if unsaved."""
        return self._open() is not None

    def _open(self) -> int | None:
        if self._fd is None and self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                _start_on_a_fresh_line(self._fd, self.path)
            except OSError as exc:
                self.unsaved = f"{exc.filename or self.path}: {exc.strerror or exc}"
                self.path = None
                self.warn(
                    f"cannot save this session ({self.unsaved}); "
                    "the run goes on without a transcript"
                )
        return self._fd

    def append(self, record_type: str, **fields: Any) -> None:
        """Write one record: ``{"type": record_type, **fields}`` as a line."""
        if self.path is None:
            return
        self._write(_redacted({"type": record_type, **serde.unstructure(fields)}))

    def _write(self, record: Any) -> None:
        fd = self._open()
        if fd is not None:
            os.write(fd, serde.dumps(record) + b"\n")

    def append_message(self, message: Message) -> None:
        """One conversation line in Claude Code's shape, so hooks and tools can read it.

        ``type`` is the role (``user`` lines also carry tool results), each line
        has a ``uuid`` chained through ``parentUuid``, and ``message`` is the
        message as the API sees it.

        Only the message is redacted line by line: the fields that are the same
        on every line are redacted once, and the line's uuids and time are
        claw's own (redacting each costs as much as a short message does).
        """
        if self.path is None:
            return  # nothing is written (``--no-session``), so no line needs an id
        line_uuid = str(uuid.uuid4())
        same = self._line_fields
        if same is None:
            same = self._line_fields = redact_json(
                {
                    "sessionId": self.session_id,
                    "cwd": self.cwd,
                    "version": __version__,
                    "isSidechain": self.agent_id is not None,
                    "userType": "external",
                }
            )
        sidechain = {"agentId": self.agent_id} if self.agent_id is not None else {}
        self._write(
            {
                "type": message.role,
                "uuid": line_uuid,
                "parentUuid": self._last_uuid,
                "sessionId": same["sessionId"],
                "timestamp": datetime.now(UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "cwd": same["cwd"],
                "version": same["version"],
                "isSidechain": same["isSidechain"],
                "userType": same["userType"],
                **sidechain,
                "message": _redacted_message(serde.unstructure(message)),
            }
        )
        self._last_uuid = line_uuid

    def append_compaction(
        self,
        *,
        trigger: str,
        pre_tokens: int,
        post_tokens: int,
        summary: Message,
        kept: Sequence[Message],
    ) -> None:
        """The conversation was compacted: Claude Code's records for it, then the kept turns.

        A ``system`` line with ``subtype: "compact_boundary"`` (its ``parentUuid``
        is null, ``logicalParentUuid`` the line before it) and ``compactMetadata``
        (``trigger``, ``preTokens``, ``postTokens``), then a ``user`` line with the
        summary and ``isCompactSummary: true``, then the turns kept verbatim,
        written again so the conversation after the boundary stands on its own:
        a resumed session reads from the last boundary on.
        """
        if self.path is None:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        boundary_uuid, summary_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        common = {
            "sessionId": self.session_id,
            "cwd": self.cwd,
            "version": __version__,
            "isSidechain": False,
            "userType": "external",
            "timestamp": now,
        }
        self._write(
            redact_json(
                {
                    "type": "system",
                    "subtype": "compact_boundary",
                    "uuid": boundary_uuid,
                    "parentUuid": None,
                    "logicalParentUuid": self._last_uuid,
                    **common,
                    "content": "Conversation compacted",
                    "isMeta": False,
                    "level": "info",
                    "compactMetadata": {
                        "trigger": trigger,
                        "preTokens": pre_tokens,
                        "postTokens": post_tokens,
                    },
                }
            )
        )
        self._write(
            {
                **redact_json(
                    {
                        "type": "user",
                        "uuid": summary_uuid,
                        "parentUuid": boundary_uuid,
                        **common,
                        "isCompactSummary": True,
                        "isVisibleInTranscriptOnly": True,
                    }
                ),
                "message": _redacted_message(serde.unstructure(summary)),
            }
        )
        self._last_uuid = summary_uuid
        for message in kept:
            self.append_message(message)

    @property
    def has_file(self) -> bool:
        """True once records went to a file (there is something for :meth:`sync` to do)."""
        return self._fd is not None

    def sync(self) -> None:
        """Make what was written durable (the end of a turn): ``fsync``."""
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self.warn(f"cannot sync the session file: {exc.strerror or exc}")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_transcript(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a transcript; a torn last line (a crash) is skipped."""
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(serde.loads(line))
        except ValueError:
            continue
    return records
