"""What the interactive terminal shows of a session: rich, as the events arrive.

* The model's text is Markdown, rendered as it streams: each finished block
  (a paragraph, a list, a fenced code block) is printed once, for good; the
  block still growing is redrawn in place below it until it is finished too.
* Thinking streams dimmed, line by line.
* A tool call is one line (``● Bash(pytest -q)``), its result a few lines
  below it (longer output is cut to its first lines and a count).
* A spinner runs while the model has not sent its first token, and while a
  tool runs.
* An automatic compaction is one dim line (``Conversation compacted (183k → 21k
  tokens)``); the spinner says so while it runs.
* After each turn: one status line (model, mode, context size, tokens, cost).

The view reads the runtime's bus (lossless), keeping the events stamped with
its session's id. :meth:`TerminalView.settle` waits until everything
published so far has been drawn, so the status line never comes before the
end of the answer.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Sequence
from typing import Any

import attrs
import trio
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from claw_runtime.bus import EventBus
from claw_runtime.cli.live import describe_call, notice_markup, subagent_line
from claw_runtime.cli.render import compaction_line
from claw_runtime.cli.repl.modes import MODE_LABELS, PROMPT_ARROW
from claw_runtime.cli.repl.typeahead import TypeAhead
from claw_runtime.events import (
    Compacted,
    CompactionStarted,
    Event,
    ModelRetry,
    PluginFailed,
    SessionEnded,
    TaskStateChanged,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
    TurnStarted,
)
from claw_runtime.loop import RunResult
from claw_runtime.models import (
    Message,
    TaskState,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from claw_runtime.permissions import PermissionMode
from claw_runtime.scheduler import Scheduler

__all__ = ["MarkdownBlocks", "TerminalView", "collapse"]

REFRESH_S = 0.1
"""How often the live region is redrawn when nothing new came (the spinner turns)."""

FRAME_S = 1 / 60
"""The least time between two redraws of the live region. New text is drawn at once
unless the last redraw was less than this ago; then at the end of that frame, so a
burst of small deltas costs one redraw per frame, and the first token of an answer
is on the screen as soon as it arrives (``benchmarks/bench_repl.py --streaming-only``)."""

RESULT_LINES = 4
"""How many lines of a tool's output are shown under its call."""

HISTORY_MESSAGES = 12
"""How many of a resumed conversation's last messages are shown."""

HISTORY_LINES = 3
"""How many lines of a resumed prompt are shown (twice as many of an answer)."""

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DONE_STATES = (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.TIMED_OUT)


def collapse(text: str, lines: int = RESULT_LINES, width: int = 160) -> list[str]:
    """A tool's output in at most ``lines`` lines (then a "+N lines" count), each ``width`` wide."""
    kept = [line.rstrip() for line in text.strip("\n").splitlines()]
    while kept and not kept[-1].strip():
        kept.pop()
    if not kept:
        return ["(no output)"]
    shown = [line if len(line) <= width else line[: width - 1] + "…" for line in kept[:lines]]
    if len(kept) > lines:
        shown.append(f"… +{len(kept) - lines} lines")
    return shown


class _Trimmed:
    """A renderable without the blank lines rich puts around some elements.

    rich renders a list, a table or a quote after an empty line (it expects
    them inside a document); blocks printed one at a time would pile those up.
    Lines with a background colour (a code block's padding) are kept.
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = console.render_lines(self.renderable, options, pad=False)
        while lines and _blank(lines[0]):
            lines.pop(0)
        while lines and _blank(lines[-1]):
            lines.pop()
        for line in lines:
            yield from line
            yield Segment.line()


def _blank(line: list[Segment]) -> bool:
    return all(
        not segment.text.strip() and (segment.style is None or segment.style.bgcolor is None)
        for segment in line
    )


def _first_lines(text: str, count: int) -> str:
    """``text`` cut to ``count`` lines, with ``…`` when something was left out."""
    lines = text.strip("\n").splitlines()
    if len(lines) <= count:
        return "\n".join(lines)
    return "\n".join([*lines[:count], "…"])


def _markdown(text: str) -> RenderableType:
    return _Trimmed(Markdown(text))


@attrs.define(eq=False)
class MarkdownBlocks:
    """Streamed Markdown cut into finished blocks and the block still growing.

    A block ends at a blank line outside a fenced code block, or with the line
    that closes a fence. ``feed`` returns the blocks finished by the new text;
    ``tail`` is what comes after them.
    """

    tail: str = ""

    def feed(self, text: str) -> list[str]:
        self.tail += text
        cuts = [0]
        fence: str | None = None
        position = 0
        for line in self.tail.splitlines(keepends=True):
            position += len(line)
            if not line.endswith("\n"):
                break  # the line is still growing
            marker = _FENCE.match(line)
            if fence is None:
                if marker:
                    fence = marker.group(1)[0] * 3
                elif not line.strip():
                    cuts.append(position)
            elif marker and marker.group(1).startswith(fence) and not line.strip().strip("`~"):
                fence = None
                cuts.append(position)
        blocks = [self.tail[a:b] for a, b in itertools.pairwise(cuts)]
        self.tail = self.tail[cuts[-1] :]
        return [block for block in blocks if block.strip()]

    def flush(self) -> str:
        """The growing block, now finished (the answer ended)."""
        rest, self.tail = self.tail, ""
        return rest


@attrs.define(eq=False)
class TerminalView:
    """Draws one session's events on ``console``; one instance per interactive session."""

    console: Console
    scheduler: Scheduler
    session_ids: set[str] = attrs.field(factory=set)
    """The ids of the session whose events are drawn (``/clear`` gives it a new one)."""
    _live: Live | None = None
    _spinner: Spinner | None = None
    _markdown: MarkdownBlocks = attrs.field(factory=MarkdownBlocks)
    _blocks_printed: int = 0
    _thinking: str = ""
    _streamed: bool = False
    _held: bool = False
    _deferred: list[Event] = attrs.field(factory=list)
    _notices: list[str] = attrs.field(factory=list)
    _quiet: bool = True
    """No run in progress: notices wait for :meth:`show_notices` (a prompt owns the screen)."""
    _context: int | None = None
    """The tokens the conversation fills: the last request's, or a compaction's estimate."""
    _settling: dict[int, trio.Event] = attrs.field(factory=dict)
    _session_cost: float = 0.0
    _refreshed: float = 0.0
    typed: TypeAhead | None = None
    """Keys typed during the run, drawn under the growing answer."""
    _wake: trio.Event = attrs.field(factory=trio.Event)
    """Set when something new waits to be drawn in the live region."""
    _consuming: bool = False

    def attach(self, session_id: str) -> None:
        """Draw the events of the session with this id too (it started, or was cleared)."""
        if session_id not in self.session_ids:
            self._context = None  # a new conversation: nothing measured yet
        self.session_ids.add(session_id)

    # ------------------------------------------------------------ the events

    async def consume(self, bus: EventBus, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Draw this session's events until it ends (``nursery.start`` it).

        Everything is drawn from this task, the live region included (rich's
        own refresh thread would race with the lines printed above it).
        """
        self._consuming = True
        try:
            async with trio.open_nursery() as nursery:
                with bus.subscribe("repl", policy="block", buffer=1024) as events:
                    task_status.started()
                    nursery.start_soon(self._animate)
                    async for event in events:
                        if (
                            event.session_id is not None
                            and event.session_id not in self.session_ids
                        ):
                            continue
                        if isinstance(event, TaskStateChanged):
                            self._task_changed(event)
                            continue
                        if self._held:
                            self._deferred.append(event)
                        else:
                            self._draw(event)
                            self._redraw_soon()
                        if isinstance(event, SessionEnded):
                            break
                nursery.cancel_scope.cancel()
        finally:
            self._consuming = False
            for waiting in self._settling.values():
                waiting.set()  # nothing more will be drawn: nobody waits for it

    def redraw_now(self) -> None:
        """A key was typed ahead: draw it at once, frame or not (people type a few keys a
        second, and a paste arrives as one read)."""
        self._refresh()

    def _redraw_soon(self) -> None:
        """Redraw the live region now, or at the end of the current frame (see FRAME_S)."""
        if time.monotonic() - self._refreshed >= FRAME_S:
            self._refresh()
        else:
            self._wake.set()

    async def _animate(self) -> None:
        """Redraw the live region at the end of a frame with news, else every REFRESH_S."""
        while True:
            with trio.move_on_after(REFRESH_S):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = trio.Event()
                await trio.sleep(max(0.0, self._refreshed + FRAME_S - time.monotonic()))
            self._refresh()

    def _refresh(self) -> None:
        if self._live is None or self._held:
            return
        self._refreshed = time.monotonic()
        self._live.refresh()

    def _task_changed(self, event: TaskStateChanged) -> None:
        waiting = self._settling.get(event.task_id or -1)
        if waiting is not None and event.new in _DONE_STATES:
            waiting.set()

    async def settle(self, session_id: str) -> None:
        """Wait until every event published before this call has been drawn.

        A task that does nothing is started in the session; the bus delivers
        its end after everything published before it, so once the view has
        seen that end it has drawn all the rest.
        """
        if not self._consuming:
            return
        seen = trio.Event()
        marker = self.scheduler.spawn(
            trio.lowlevel.checkpoint, name="repl:settle", session_id=session_id
        )
        self._settling[marker.id] = seen
        try:
            await seen.wait()
        finally:
            del self._settling[marker.id]

    def _draw(self, event: Event) -> None:
        if event.agent_id is not None:  # a sub-agent's: a dim line per step, never its text
            line = subagent_line(event)
            if line is not None:
                self._end_stream()
                self.console.print(Text(line, style="dim"))
            return
        if isinstance(event, TextDelta):
            self._text(event.text)
        elif isinstance(event, ThinkingDelta):
            self._think(event.text)
        elif isinstance(event, TurnStarted):
            self._spin("Waiting for the model · Ctrl-C to interrupt")
        elif isinstance(event, TurnFinished):
            self._end_stream()
            usage = event.usage
            self._context = (
                usage.input_tokens
                + usage.cache_read_input_tokens
                + usage.cache_creation_input_tokens
                + usage.output_tokens
            )
            self._session_cost += event.cost_usd
        elif isinstance(event, CompactionStarted):
            self._end_stream()
            self._spin("Compacting the conversation · Ctrl-C to interrupt")
        elif isinstance(event, Compacted):
            self._end_stream()
            self._context = event.tokens_after
            line = compaction_line(event)
            if line is not None:
                self.console.print(Text(line, style="dim"))
        elif isinstance(event, ToolCallStarted):
            self._end_stream()
            summary = describe_call(event.name, event.input)
            self.console.print(Text.assemble(("● ", "bold cyan"), (summary, "bold")))
            self._spin(f"Running {event.name} · Ctrl-C to interrupt")
        elif isinstance(event, ToolCallFinished):
            self._tool_result(event)
        elif isinstance(event, ModelRetry | PluginFailed):
            if isinstance(event, ModelRetry):
                self._end_stream()
            self.console.print(notice_markup(event))

    # ------------------------------------------------------------- streaming

    def _text(self, text: str) -> None:
        if self._thinking:
            self._end_thinking()
        self._stop_spinner()
        self._streamed = True
        for block in self._markdown.feed(text):
            self._print_block(block)

    def _print_block(self, block: str) -> None:
        if self._blocks_printed:
            self.console.print()
        self.console.print(_markdown(block))
        self._blocks_printed += 1

    def _think(self, text: str) -> None:
        self._stop_spinner()
        self._thinking += text
        *done, self._thinking = self._thinking.split("\n")
        for line in done:
            self.console.print(Text(line, style="dim italic"))

    def _end_thinking(self) -> None:
        if self._thinking:
            self.console.print(Text(self._thinking, style="dim italic"))
        self._thinking = ""

    def _end_stream(self) -> None:
        """The model stopped streaming (a turn ended, a tool starts): print what was growing."""
        self._end_thinking()
        rest = self._markdown.flush()
        if rest.strip():
            self._print_block(rest)
        self._blocks_printed = 0
        self._stop_spinner()

    def _tool_result(self, event: ToolCallFinished) -> None:
        self._end_stream()
        result = event.result
        text = "".join(getattr(part, "text", "") for part in result.content)
        style = "red" if result.is_error else "dim"
        if event.name == "TodoWrite" and not result.is_error:
            for item in text.splitlines()[1:]:  # the whole list, every time
                self.console.print(Text("  " + item, style="dim" if item.startswith("[x]") else ""))
            return
        width = max(20, self.console.width - 6)
        for index, line in enumerate(collapse(text, width=width)):
            self.console.print(Text(("  ⎿  " if index == 0 else "     ") + line, style=style))

    # ------------------------------------------------------ the live region

    def _renderable(self) -> RenderableType:
        shown = self._growing()
        typed = self.typed
        if typed is None or not (typed.text or typed.queued):
            return shown
        lines = [Text.assemble((PROMPT_ARROW, "cyan"), line, style="dim") for line in typed.queued]
        if typed.text:
            lines.append(Text.assemble((PROMPT_ARROW, "cyan"), typed.text))
        return Group(shown, *lines)

    def _growing(self) -> RenderableType:
        if self._markdown.tail.strip():
            return _markdown(self._markdown.tail)
        if self._thinking:
            return Text(self._thinking, style="dim italic")
        if self._spinner is not None:
            return self._spinner
        return Text("")

    def _spin(self, label: str) -> None:
        self._spinner = Spinner("dots", text=Text(label, style="dim"), style="cyan")

    def _stop_spinner(self) -> None:
        self._spinner = None

    def _start_live(self) -> None:
        if self._live is None and self.console.is_terminal:
            self._live = Live(
                get_renderable=self._renderable,
                console=self.console,
                transient=True,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start(refresh=True)

    def _stop_live(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()

    # ------------------------------------------------------------- the run

    def begin_run(self, prompt: str | None = None) -> None:
        """A run starts: show ``prompt`` if it was not typed (``claw "..."``), then the spinner."""
        self._quiet = False
        self.show_notices()
        if prompt is not None:
            self.console.print(Text.assemble((PROMPT_ARROW, "bold cyan"), prompt))
        self._streamed = False
        self._spin("Waiting for the model · Ctrl-C to interrupt")
        self._start_live()

    def hold(self, holding: bool) -> None:
        """Stop drawing (a question is on the screen) or go on, drawing what came meanwhile."""
        if holding:
            self._held = True
            self._stop_live()
            return
        self._held = False
        deferred, self._deferred = self._deferred, []
        for event in deferred:
            self._draw(event)
        if not self._quiet:
            self._start_live()

    def end_run(
        self, result: RunResult, *, model: str, mode: PermissionMode, quiet: bool = False
    ) -> None:
        """The run is over and :meth:`settle` has drawn its events: its outcome, the status line.

        ``quiet``: the run was a command the terminal acts on (``/exit``,
        ``/resume ID``); its output, meant for a headless run, is not shown.
        """
        self._end_stream()
        self._stop_live()
        if quiet:
            self._quiet = True
            return
        if result.stop_reason == "cancelled":
            self.console.print(Text("  ⎿  Interrupted: what should claw do instead?", style="red"))
        elif result.stop_reason == "command":  # a slash command's own output, as it wrote it
            self.console.print(Text(result.result, style="red" if result.is_error else ""))
        elif result.is_error:
            self.console.print(Text(f"claw: {result.result}", style="red"))
        elif not self._streamed and result.result.strip():
            self.console.print(_markdown(result.result))
        self.console.print(self.status_line(result, model=model, mode=mode))
        self._quiet = True

    def status_line(self, result: RunResult, *, model: str, mode: PermissionMode) -> Text:
        """``model · mode · context N tokens · this turn N tokens · $cost (session $cost)``."""
        parts = [model]
        if mode != "default":
            parts.append(f"{MODE_LABELS.get(mode, mode)} mode")
        if self._context is not None:  # as the last request or compaction left it
            parts.append(f"context {self._context:,} tokens")
        if result.usage.total_tokens:
            parts.append(f"this turn {result.usage.total_tokens:,} tokens")
        parts.append(f"${result.total_cost_usd:.4f} (session ${self._session_cost:.4f})")
        return Text(" · ".join(parts), style="dim")

    # ------------------------------------------------------------- history

    def show_history(self, messages: Sequence[Message]) -> None:
        """A resumed conversation, briefly: its last messages, each cut to a few lines.

        Prompts as typed (after the prompt arrow), the model's text as Markdown, tool calls as
        one line with the first line of their result, as during the run.
        """
        shown = list(messages[-HISTORY_MESSAGES:])
        skipped = len(messages) - len(shown)
        if skipped:
            self.console.print(Text(f"… {skipped} earlier messages", style="dim"))
        width = max(20, self.console.width - 6)
        for message in shown:
            for block in message.content:
                if isinstance(block, TextBlock) and block.text.strip():
                    if message.role == "user":
                        lines = collapse(block.text, lines=HISTORY_LINES, width=width)
                        self.console.print(
                            Text.assemble((PROMPT_ARROW, "bold cyan"), "\n  ".join(lines))
                        )
                    else:
                        self.console.print(_markdown(_first_lines(block.text, HISTORY_LINES * 2)))
                elif isinstance(block, ToolUseBlock):
                    summary = describe_call(block.name, block.input)
                    self.console.print(Text.assemble(("● ", "bold cyan"), (summary, "bold")))
                elif isinstance(block, ToolResultBlock):
                    text = "".join(getattr(part, "text", "") for part in block.content)
                    [first, *more] = collapse(text, lines=1, width=width)
                    style = "red" if block.is_error else "dim"
                    self.console.print(Text(f"  ⎿  {first}{'  ' + more[0] if more else ''}", style))
        self.console.rule(style="dim")

    # ------------------------------------------------------------- notices

    def notice(self, message: str) -> None:
        """A one-line notice for the person; held back while a prompt owns the screen."""
        self._notices.append(message)
        if not self._quiet and not self._held:
            self.show_notices()

    def take_notices(self) -> str:
        """The notices held back so far, as lines to show above the prompt."""
        notices, self._notices = self._notices, []
        return "".join(f"claw: warning: {message}\n" for message in notices)

    def show_notices(self) -> None:
        notices, self._notices = self._notices, []
        for message in notices:
            self.console.print(Text(f"claw: warning: {message}", style="yellow"))

    def close(self) -> None:
        self._stop_live()
