"""The terminal itself: whether it echoes keys, and stderr held back while a prompt is drawn."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import termios
from collections.abc import Iterator
from typing import TextIO

import attrs

__all__ = ["HeldOutput", "TerminalOutput", "hold_stderr", "set_terminal_echo", "terminal_echo"]


def set_terminal_echo(enabled: bool, fd: int = 0) -> None:
    """Make the terminal on ``fd`` echo typed keys, or not (nothing if it is no terminal)."""
    with contextlib.suppress(termios.error, OSError):
        attributes = termios.tcgetattr(fd)
        flags = attributes[3]
        attributes[3] = flags | termios.ECHO if enabled else flags & ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attributes)


@contextlib.contextmanager
def terminal_echo(enabled: bool, fd: int = 0) -> Iterator[None]:
    """The terminal echoes typed keys or not until the block ends, then is as it was.

    During a turn nothing is being edited, so keys typed ahead are not echoed
    over the answer; they wait in the terminal for the next prompt. Ctrl-C
    still sends SIGINT.
    """
    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError):
        yield
        return
    set_terminal_echo(enabled, fd)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


@attrs.define(eq=False)
class HeldOutput:
    """What was written to standard error while it was held (see :func:`hold_stderr`)."""

    text: str = ""


@contextlib.contextmanager
def hold_stderr(fd: int = 2) -> Iterator[HeldOutput]:
    """Keep what anything writes to ``fd`` (warnings, log lines) off the terminal for a while.

    The first prompt is on the screen while settings, plugins and the session
    load; a warning written straight to the terminal then would land in the
    middle of the line being typed. The file descriptor itself is redirected
    (the loggers hold their own reference to ``sys.stderr``), and what it got
    is handed back as :attr:`HeldOutput.text` when the block ends, to be shown
    above the prompt. Nothing is lost if the block raises: the text is there.
    """
    held = HeldOutput()
    try:
        saved = os.dup(fd)
    except OSError:
        yield held
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), fd)
            yield held
        finally:
            with contextlib.suppress(ValueError, OSError):
                if sys.stderr is not None:
                    sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            held.text = sink.read().decode("utf-8", "replace")


class TerminalOutput:
    """Standard output for the view and the questions, surviving the terminal's end.

    When the terminal goes away (the window closed, SSH dropped: SIGHUP), a
    write fails with EIO. The session must still end properly (its turn
    cancelled, its hooks run, its file closed), so writes then fail silently
    and :attr:`gone` says so.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.gone = False

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except (OSError, ValueError):
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.gone = True

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self.stream.fileno()
