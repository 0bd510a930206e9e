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

claw's modules log through :func:`get_logger`, whose loggers import structlog
only for the first event that passes the configured level. Most runs log
nothing at the default level, and importing structlog (with the rich,
asyncio and traceback modules it brings) costs about a tenth of a second of a
``claw -p`` run. Once structlog is loaded, every event goes to it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import stat
import sys
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from claw_runtime.secrets import redact, redact_json

if TYPE_CHECKING:
    import structlog

__all__ = [
    "ClawLogger",
    "close_logging",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_processor",
]


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
    import structlog

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
        import structlog

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
        import structlog

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


_minimum = 0
"""Events below this level are dropped before structlog is imported (0 until configured)."""
_pending: Callable[[], None] | None = None
"""The structlog configuration :func:`configure_logging` asked for, applied at its import."""


def configure_logging(verbosity: int = 0, json_file: Path | None = None) -> None:
    """Configure logging for this process (the entry point calls it once).

    structlog itself is configured when it is first needed (at once if it is
    already imported).
    """
    global _json_stream, _minimum, _pending
    close_logging()
    console_level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    json_stream = _json_stream = _open_private(json_file) if json_file is not None else None
    minimum = logging.DEBUG if json_stream is not None else console_level

    def apply() -> None:
        import structlog

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

    _minimum = minimum
    if "structlog" in sys.modules:
        _pending = None
        apply()
    else:
        _pending = apply


def _structlog() -> Any:
    """structlog, configured as :func:`configure_logging` asked."""
    global _pending
    import structlog

    if _pending is not None:
        apply, _pending = _pending, None
        apply()
    return structlog


class ClawLogger:
    """A structlog logger that does not import structlog for events nobody will see."""

    __slots__ = ("_bound", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: structlog.typing.BindableLogger | None = None

    def _emit(self, method: str, level: int, event: str, fields: dict[str, Any]) -> None:
        if level < _minimum and "structlog" not in sys.modules:
            return
        if self._bound is None:
            self._bound = _structlog().get_logger(self._name)
        getattr(self._bound, method)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._emit("exception", logging.ERROR, event, fields)


def get_logger(name: str) -> ClawLogger:
    """The logger claw's modules use (``log = get_logger(__name__)``)."""
    return ClawLogger(name)
