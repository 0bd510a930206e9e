"""Keys typed while a turn runs: shown under the answer as they come, kept for later.

Between prompts nothing edits a line, yet people type ahead: the next
question while the answer streams. The terminal is switched to reading key by
key (no line buffering, no echo; Ctrl-C still sends SIGINT) and this reader,
a trio task of the turn, takes the keys as they arrive: printable text,
Backspace, Ctrl-U (clear), Enter (the line is queued to be sent when the turn
ends). The view draws them below the growing answer at once, so typing stays
visibly responsive however long the answer is; what is left unsent goes into
the next prompt, as typed.

A permission question reads the terminal itself, in line mode: :meth:`pause`
gives the terminal back for it, :meth:`resume` takes it again.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import termios
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

__all__ = ["TypeAhead", "keys_one_by_one"]

_ERASE = ("\x7f", "\x08")
_CLEAR_LINE = "\x15"
_ENTER = ("\r", "\n")


def _keys_mode(fd: int, saved: list[Any]) -> None:
    """``saved`` (the terminal's attributes) with keys one by one and no echo."""
    attributes = [*saved[:6], list(saved[6])]
    attributes[3] = saved[3] & ~(termios.ICANON | termios.ECHO)
    attributes[6][termios.VMIN] = 1  # in line mode these slots are VEOF and VEOL
    attributes[6][termios.VTIME] = 0
    with contextlib.suppress(termios.error, OSError):
        termios.tcsetattr(fd, termios.TCSANOW, attributes)


def _restore(fd: int, saved: list[Any]) -> None:
    with contextlib.suppress(termios.error, OSError):
        termios.tcsetattr(fd, termios.TCSANOW, saved)


@contextlib.contextmanager
def keys_one_by_one(fd: int = 0) -> Iterator[list[Any] | None]:
    """The terminal on ``fd`` delivers keys one by one, unechoed, until the block ends.

    Yields the attributes it had (None if it is no terminal: nothing changes).
    """
    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError):
        yield None
        return
    _keys_mode(fd, saved)
    try:
        yield saved
    finally:
        _restore(fd, saved)


@attrs.define(eq=False)
class TypeAhead:
    """What was typed during a turn: the line being typed and the lines sent (queued).

    Args:
        on_change: called after each key that changed :attr:`text` or :attr:`queued`
            (the view redraws).
        fd: the terminal.
    """

    on_change: Callable[[], None] = lambda: None
    fd: int = 0
    text: str = ""
    queued: list[str] = attrs.field(factory=list)
    _decoder: Any = attrs.field(factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    _escape: bool = False
    _paused: bool = False
    _resumed: trio.Event = attrs.field(factory=trio.Event)
    _scope: trio.CancelScope | None = None
    _saved: list[Any] | None = None

    async def run(self) -> None:
        """Read keys until cancelled (the turn ended) or the terminal goes away."""
        with keys_one_by_one(self.fd) as saved:
            if saved is None:
                return
            self._saved = saved
            while True:
                if self._paused:
                    await self._resumed.wait()
                    continue
                with trio.CancelScope() as self._scope:
                    if not await self._read():
                        return

    async def _read(self) -> bool:
        while True:
            await trio.lowlevel.wait_readable(self.fd)
            try:
                data = os.read(self.fd, 1024)
            except BlockingIOError:
                continue
            except OSError:  # the terminal went away
                return False
            if not data:
                return False
            if self.feed(data):
                self.on_change()

    def feed(self, data: bytes) -> bool:
        """Apply typed bytes; whether anything shown changed."""
        changed = False
        for char in self._decoder.decode(data):
            if self._escape:  # an escape sequence (arrows...) ends with a letter or ~
                self._escape = not (char.isalpha() or char == "~")
                continue
            if char == "\x1b":
                self._escape = True
            elif char in _ERASE:
                changed = changed or bool(self.text)
                self.text = self.text[:-1]
            elif char == _CLEAR_LINE:
                changed = changed or bool(self.text)
                self.text = ""
            elif char in _ENTER:
                if self.text.strip():
                    self.queued.append(self.text)
                    changed = True
                self.text = ""
            elif char.isprintable():
                self.text += char
                changed = True
        return changed

    def pause(self) -> None:
        """Give the terminal back as it was (line mode: a question is asked)."""
        self._paused = True
        self._resumed = trio.Event()
        if self._scope is not None:
            self._scope.cancel()
        if self._saved is not None:
            _restore(self.fd, self._saved)

    def resume(self) -> None:
        """Read keys again (the question was answered)."""
        if self._saved is not None:
            _keys_mode(self.fd, self._saved)
        self._paused = False
        self._resumed.set()
