"""Logging: structlog, configured once by the ``claw`` entry point.

* Default: only warnings and errors, one line each on stderr (stdout belongs to
  the answer and to ``--output-format json``).
* ``-v``: info, ``-vv``: debug, human-readable on stderr.
* ``--log-json FILE``: every event at debug level as JSON lines in FILE,
  created ``0600``. :func:`configure_logging` raises :class:`OSError` when FILE
  cannot be opened (the CLI turns that into one line and exit 1); a write that
  fails later (disk full) ends the JSON log with one warning, not the run.

Secrets never reach a log: :func:`redact_processor` runs before rendering and
masks API keys, tokens, passwords, private keys and values under secret-looking
key names wherever they appear (:mod:`claw_runtime.secrets`; :func:`redact` is
re-exported here).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import stat
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, TextIO

import structlog

from claw_runtime.secrets import redact, redact_json

__all__ = ["close_logging", "configure_logging", "redact", "redact_processor"]


def redact_processor(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every value (by key name and by pattern).

    Nested dicts, lists and tuples are walked; see :mod:`claw_runtime.secrets`.
    """
    for key, value in list(event_dict.items()):
        event_dict[key] = redact_json(value, str(key))
    return event_dict


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "critical": 50}


def _level_filter(minimum: int) -> Any:
    def processor(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if _LEVELS.get(method_name, 20) < minimum:
            raise structlog.DropEvent
        return event_dict

    return processor


class _JsonAndConsole:
    """A renderer that writes a JSON line to a file and a console line to stderr."""

    def __init__(self, minimum_console: int, json_file: TextIO | None, colors: bool) -> None:
        self.minimum_console = minimum_console
        self.json_file = json_file
        self.json = structlog.processors.JSONRenderer()
        self.console = structlog.dev.ConsoleRenderer(colors=colors)

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
        if self.json_file is not None:
            try:
                self.json_file.write(str(self.json(logger, method_name, dict(event_dict))) + "\n")
                self.json_file.flush()
            except OSError as exc:  # disk full, file system gone: stop logging, keep running
                self.json_file = None
                print(
                    f"claw: warning: the JSON log stopped: {exc.strerror or exc}", file=sys.stderr
                )
        if _LEVELS.get(method_name, 20) >= self.minimum_console:
            return str(self.console(logger, method_name, event_dict))
        raise structlog.DropEvent


def _open_private(path: Path) -> TextIO:
    """Open ``path`` for appending, created 0600.

    Raises:
        OSError: it cannot be written (a directory, under a file, no permission...).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # never chmod /dev/stderr or a FIFO
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


_json_stream: TextIO | None = None


def close_logging() -> None:
    """Close the JSON log file, if one is open (also run at exit)."""
    global _json_stream
    if _json_stream is not None:
        stream, _json_stream = _json_stream, None
        with contextlib.suppress(OSError):  # already reported when a write failed
            stream.close()


atexit.register(close_logging)


def configure_logging(verbosity: int = 0, json_file: Path | None = None) -> None:
    """Configure structlog for this process (the entry point calls it once)."""
    global _json_stream
    close_logging()
    console_level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    json_stream = _json_stream = _open_private(json_file) if json_file is not None else None
    minimum = logging.DEBUG if json_stream is not None else console_level
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _level_filter(minimum),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_processor,
            _JsonAndConsole(console_level, json_stream, colors=sys.stderr.isatty()),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
