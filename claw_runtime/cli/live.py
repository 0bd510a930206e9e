"""The human renderer: the model's text as it streams, tool calls as they run.

In a terminal it uses rich (colour, a dimmed line per tool result); piped, it
prints the same information as plain lines, so logs and CI output stay
readable. It is a lossless bus subscriber like the JSON renderers.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from claw_runtime.cli.render import Renderer, compaction_line
from claw_runtime.events import (
    Compacted,
    Event,
    ModelRetry,
    PluginFailed,
    SubagentFinished,
    SubagentStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from claw_runtime.loop import RunResult

__all__ = ["LiveRenderer", "describe_call", "subagent_line"]

_ARG_KEYS = ("command", "file_path", "notebook_path", "pattern", "path", "url")


def describe_call(name: str, tool_input: dict[str, Any]) -> str:
    """``Bash(python -m unittest)``: the tool and its most telling argument."""
    for key in _ARG_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            short = value if len(value) <= 60 else value[:57] + "..."
            return f"{name}({short})"
    return name


def _first_line(text: str, limit: int = 100) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "(no output)"
    first = lines[0] if len(lines[0]) <= limit else lines[0][: limit - 3] + "..."
    more = len(lines) - 1
    return f"{first}  (+{more} lines)" if more else first


class LiveRenderer(Renderer):
    """Streams text and tool activity for a person to read."""

    def __init__(self, stream: TextIO | None = None, *, plain: bool | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        rich_wanted = not plain if plain is not None else self.stream.isatty()
        self.console = Console(
            file=self.stream,
            force_terminal=rich_wanted,
            no_color=not rich_wanted,
            highlight=False,
            soft_wrap=True,
        )
        self.rich = rich_wanted
        self._mid_line = False

    def _end_text(self) -> None:
        if self._mid_line:
            self.stream.write("\n")
            self._mid_line = False

    def handle(self, event: Event) -> None:
        if event.agent_id is not None:  # a sub-agent's: a dim line per step, never its text
            line = subagent_line(event)
            if line is not None:
                self._end_text()
                self.console.print(f"[dim]{escape(line)}[/]")
            return
        if isinstance(event, TextDelta):
            self.stream.write(event.text)
            self.stream.flush()
            self._mid_line = not event.text.endswith("\n")
        elif isinstance(event, TurnFinished):
            self._end_text()
        elif isinstance(event, ToolCallStarted):
            self._end_text()
            self.console.print(f"[bold cyan]●[/] {escape(describe_call(event.name, event.input))}")
        elif isinstance(event, ToolCallFinished):
            style = "red" if event.result.is_error else "dim"
            if event.name == "TodoWrite" and not event.result.is_error:
                for item in event.result.text.splitlines()[1:]:  # the whole list, every time
                    done = item.startswith("[x]")
                    self.console.print(
                        f"  {'[dim]' if done else ''}{escape(item)}{'[/]' if done else ''}"
                    )
                return
            line = escape(_first_line(event.result.text))
            self.console.print(f"  [{style}]⎿ {line}[/]")
        elif isinstance(event, ModelRetry | PluginFailed):
            if isinstance(event, ModelRetry):
                self._end_text()
            self.console.print(notice_markup(event))
        elif isinstance(event, Compacted):
            line = compaction_line(event)
            if line is not None:
                self._end_text()
                self.console.print(f"[dim]{escape(line)}[/]")

    def finish(self, result: RunResult) -> None:
        self._end_text()
        if result.is_error:
            self.console.print(f"[red]claw: {escape(result.result)}[/]")


def subagent_line(event: Event) -> str | None:
    """One line for a sub-agent's step (it started, calls a tool, ended), or None.

    A sub-agent's text and turns are not shown: its answer reaches the person
    through its parent. Lines carry the first characters of its id, so the
    steps of sub-agents running at once can be told apart.
    """
    tag = f"[{(event.agent_id or '')[:6]}]"
    if isinstance(event, SubagentStarted):
        where = " in the background" if event.background else ""
        return f"  ↳ {tag} {event.agent_type}: {event.description} (started{where})"
    if isinstance(event, ToolCallStarted):
        return f"  ↳ {tag} {describe_call(event.name, event.input)}"
    if isinstance(event, SubagentFinished):
        turns = f"{event.num_turns} turn{'s' if event.num_turns != 1 else ''}"
        branch = f", branch {event.branch}" if event.branch else ""
        return f"  ↳ {tag} {event.agent_type} {event.status.replace('_', ' ')} ({turns}{branch})"
    return None


def notice_markup(event: ModelRetry | PluginFailed) -> str:
    """The one yellow line a terminal view shows for a retried attempt or a disabled plugin."""
    if isinstance(event, ModelRetry):
        return (
            f"[yellow]model attempt {event.attempt} failed ({escape(event.reason)}); "
            f"retrying in {event.delay_s:.1f}s[/]"
        )
    return f"[yellow]plugin {escape(event.plugin)} disabled: {escape(event.reason)}[/]"
