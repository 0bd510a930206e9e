"""The input line of the interactive terminal: prompt_toolkit, run in a thread of its own.

prompt_toolkit drives its prompt with an asyncio event loop; claw runs on
trio. Rather than mixing the two in one thread, each prompt runs in a plain
worker thread (``PromptSession.prompt()`` starts and ends its own loop there),
and trio waits for the answer with ``trio.to_thread.run_sync``. A prompt is
only ever open while no turn runs, so the two never write to the terminal at
once. The thread can start before trio does: the first prompt is on the
screen while the runtime is still loading (see :func:`PromptInput.start`).

Keys (besides prompt_toolkit's Emacs-style editing and history):

* Enter sends; Esc then Enter (or Alt-Enter), or a trailing ``\\``, starts a
  new line instead.
* Tab completes slash commands (``/he`` -> ``/help``) and file paths after
  ``@``.
* Shift+Tab cycles the permission mode (default -> acceptEdits -> plan ->
  default; bypassPermissions too if the session started in it).
* Ctrl-C clears the line; at an empty line it is reported (twice in a row
  exits); Ctrl-D at an empty line exits.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import attrs
from prompt_toolkit import PromptSession
from prompt_toolkit.application import run_in_terminal
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.styles import Style

if TYPE_CHECKING:
    from claw_runtime.permissions import PermissionMode

from claw_runtime.cli.repl.modes import MODE_LABELS, PROMPT_ARROW, next_mode

__all__ = ["Entry", "PromptInput", "ReplCompleter", "history_path"]

MAX_PATH_COMPLETIONS = 200


def history_path(environ: Mapping[str, str]) -> Path:
    """``~/.claw/history`` (``$CLAW_CONFIG_DIR/history`` when that is set)."""
    home = Path(environ.get("HOME") or Path.home())
    return Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw") / "history"


def _open_history(path: Path) -> History:
    """The history file, private (prompts can hold secrets); in memory if it cannot be made."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))


class ReplCompleter(Completer):
    """Slash commands at the start of the line; paths (from ``cwd``) after ``@``.

    Args:
        commands: the command names and their descriptions, asked for at each
            completion (the plugins register theirs while the first prompt is
            already on the screen).
        cwd: where relative paths start, asked for at each completion (the
            session's directory moves with Bash's ``cd``).
    """

    def __init__(self, commands: Callable[[], Mapping[str, str]], cwd: Callable[[], Path]) -> None:
        self.commands = commands
        self.cwd = cwd

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        if before.startswith("/") and not any(c.isspace() for c in before):
            typed = before[1:]
            for name, description in sorted(self.commands().items()):
                if name.startswith(typed):
                    yield Completion(
                        name,
                        start_position=-len(typed),
                        display=f"/{name}",
                        display_meta=description,
                    )
            return
        word = before.split()[-1] if before and not before[-1].isspace() else ""
        if word.startswith("@"):
            yield from self._paths(word[1:])

    def _paths(self, typed: str) -> Iterable[Completion]:
        folder, _, start = typed.rpartition("/")
        base = Path(os.path.expanduser(folder)) if folder else Path()
        where = base if base.is_absolute() else self.cwd() / base
        try:
            entries = sorted(os.scandir(where), key=lambda e: e.name)
        except OSError:
            return
        shown = 0
        for entry in entries:
            if not entry.name.startswith(start):
                continue
            if entry.name.startswith(".") and not start.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            name = entry.name + ("/" if is_dir else "")
            yield Completion(name, start_position=-len(start), display=name)
            shown += 1
            if shown >= MAX_PATH_COMPLETIONS:
                return


@attrs.frozen
class Entry:
    """What one prompt produced."""

    kind: Literal["text", "interrupt", "eof"]
    """``text``: a line was sent; ``interrupt``: Ctrl-C at an empty line; ``eof``:
    Ctrl-D at an empty line, the terminal went away, or the prompt was aborted."""
    text: str = ""


_STYLE = Style.from_dict(
    {
        "mode": "ansiyellow bold",
        "mode.bypass": "ansired bold",
        "arrow": "ansicyan bold",
        "continuation": "ansibrightblack",
    }
)


def _bindings(owner: PromptInput) -> KeyBindings:
    keys = KeyBindings()

    @keys.add("enter")
    def _send(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None and state.current_completion is not None:
            buffer.apply_completion(state.current_completion)
            return
        if (
            buffer.document.text_before_cursor.endswith("\\")
            and buffer.document.is_cursor_at_the_end
        ):
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
            return
        buffer.validate_and_handle()

    @keys.add("escape", "enter")
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @keys.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
            return
        event.app.exit(result=_INTERRUPTED)

    @keys.add("s-tab")
    def _cycle_mode(event: KeyPressEvent) -> None:
        owner.mode = next_mode(owner.mode, with_bypass=owner.with_bypass)
        owner.mode_chosen = True
        event.app.invalidate()

    return keys


_INTERRUPTED = "\x00interrupted\x00"
"""What the Ctrl-C binding returns from the prompt (no typed line can be this)."""


@attrs.define(eq=False)
class PromptInput:
    """Reads entries from the terminal, one prompt at a time, each in a worker thread.

    ``mode`` is the permission mode shown before the prompt; Shift+Tab changes
    it and the caller applies it to the session when the entry comes back.

    Args:
        history: the history file (None: history in memory only).
        cwd: where ``@`` paths start.
        mode: the session's permission mode at the start.
        commands: the slash commands to complete, with their descriptions
            (replace the mapping, do not change it: the prompt's thread reads it).
    """

    history: Path | None
    cwd: Path
    mode: PermissionMode = "default"
    commands: Mapping[str, str] = attrs.field(factory=dict)
    with_bypass: bool = attrs.field(init=False)
    """bypassPermissions is in the Shift+Tab cycle: the session started in it."""
    mode_chosen: bool = attrs.field(init=False, default=False)
    """Shift+Tab was pressed: :attr:`mode` is the person's choice, not the session's."""
    session: PromptSession[str] = attrs.field(init=False)
    _thread: threading.Thread | None = attrs.field(init=False, default=None)
    _running: threading.Event = attrs.field(init=False, factory=threading.Event)
    _done: threading.Event = attrs.field(init=False, factory=threading.Event)
    _entry: Entry | None = attrs.field(init=False, default=None)
    _abort: bool = attrs.field(init=False, default=False)
    _unsent: str = attrs.field(init=False, default="")

    def __attrs_post_init__(self) -> None:
        self.with_bypass = self.mode == "bypassPermissions"
        history = _open_history(self.history) if self.history is not None else InMemoryHistory()
        self.session = PromptSession(
            message=self._message,
            multiline=True,
            history=history,
            completer=ReplCompleter(lambda: self.commands, lambda: self.cwd),
            complete_while_typing=True,
            key_bindings=_bindings(self),
            prompt_continuation=lambda width, line, wrapped: FormattedText(
                [("class:continuation", "…".rjust(width - 1) + " ")]
            ),
            style=_STYLE,
            enable_suspend=True,
        )

    def _message(self) -> FormattedText:
        label = MODE_LABELS.get(self.mode, self.mode)
        parts: list[tuple[str, str]] = []
        if label:
            style = "class:mode.bypass" if self.mode == "bypassPermissions" else "class:mode"
            parts.append((style, f"{label} "))
        parts.append(("class:arrow", PROMPT_ARROW))
        return FormattedText(parts)

    @property
    def active(self) -> bool:
        """A prompt is on the screen (or its answer has not been collected yet)."""
        return self._thread is not None

    def start(self, text: str = "") -> None:
        """Put a prompt on the screen now (callable before trio runs); :meth:`wait` for it.

        ``text`` is already typed in it (what :meth:`abort` took off the screen).
        """
        if self._thread is not None:
            return
        self._running.clear()
        self._done.clear()
        self._entry = None
        self._abort = False
        self._unsent = ""
        self._thread = threading.Thread(
            target=self._read, args=(text,), name="claw-prompt", daemon=True
        )
        self._thread.start()

    def _read(self, text: str) -> None:
        entry = Entry("eof")
        try:
            typed = self.session.prompt(default=text, handle_sigint=False, pre_run=self._started)
            entry = Entry("interrupt") if typed == _INTERRUPTED else Entry("text", typed)
        except KeyboardInterrupt:
            entry = Entry("interrupt")
        except (EOFError, OSError):
            entry = Entry("eof")
        finally:
            self._entry = entry
            self._running.set()  # for an abort waiting on a prompt that never ran
            self._done.set()

    def _started(self) -> None:
        self._running.set()
        if self._abort:
            self._exit_app()

    def _exit_app(self) -> None:
        """Runs in the prompt's own thread: end it as Ctrl-D would, keeping what was typed."""
        app = self.session.app
        if app.future is not None and not app.future.done():
            self._unsent = self.session.default_buffer.text
            app.exit(exception=EOFError())

    def starting_mode(self, mode: PermissionMode) -> None:
        """The mode the session starts in (settings and flags known now); thread-safe.

        A mode already chosen with Shift+Tab stays: the caller applies it to the
        session when the entry comes back.
        """
        self.with_bypass = self.with_bypass or mode == "bypassPermissions"
        if not self.mode_chosen:
            self.mode = mode
        self.redraw()

    def redraw(self) -> None:
        """Draw the prompt again (after :attr:`mode` changed); thread-safe."""
        self.session.app.invalidate()

    def set_commands(self, commands: Mapping[str, str]) -> None:
        """Offer these slash commands; a menu already open for ``/`` is made again."""
        self.commands = dict(commands)
        app = self.session.app
        loop = app.loop
        if self._thread is None or loop is None:
            return

        def complete_again() -> None:  # in the prompt's own thread and event loop
            buffer = self.session.default_buffer
            if app.is_running and buffer.text.startswith("/"):
                buffer.start_completion(select_first=False)

        with contextlib.suppress(RuntimeError):  # the prompt's loop has just ended
            loop.call_soon_threadsafe(complete_again)

    async def wait(self) -> Entry:
        """The entry of the prompt :meth:`start` opened (it is started if it was not).

        Cancelling the wait takes the prompt off the screen (the terminal is
        left as it was found) before the cancellation goes on.
        """
        import trio  # not at import: the prompt is drawn before trio is loaded

        self.start()
        try:
            await trio.to_thread.run_sync(self._done.wait, abandon_on_cancel=True)
        except trio.Cancelled:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.abort)
            raise
        return self._collect()

    def _collect(self, timeout: float | None = None) -> Entry:
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        entry, self._entry = self._entry or Entry("eof"), None
        return entry

    def abort(self, timeout: float = 5.0) -> str:
        """Take the open prompt, if any, off the screen as Ctrl-D would; what was typed in it.

        Blocks until the prompt's thread has ended (at most about ``timeout``).
        A line already sent but not collected is returned as well.
        """
        if self._thread is None:
            return ""
        self._abort = True
        if self._running.wait(timeout):
            loop = self.session.app.loop
            if loop is not None and not self._done.is_set():
                # Its loop may have just closed (RuntimeError): the prompt is ending anyway.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._exit_app)
        self._done.wait(timeout)
        entry = self._collect(timeout)
        return entry.text if entry.kind == "text" else self._unsent

    def print_above(self, text: str) -> None:
        """Show ``text`` above the prompt and draw the prompt again below it (blocking).

        Without a prompt on the screen, ``text`` is simply written to stderr.
        """
        if not text:
            return
        shown = threading.Event()
        if self._thread is not None and self._running.wait(5):
            loop = self.session.app.loop

            def show() -> None:  # in the prompt's own thread and event loop
                app = self.session.app
                if not app.is_running or app.future is None or app.future.done():
                    return

                def write() -> None:
                    _write(text)
                    shown.set()

                run_in_terminal(write)

            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(show)
                while not shown.wait(0.05) and not self._done.is_set():
                    pass
        if not shown.is_set():
            _write(text)


def _write(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()
