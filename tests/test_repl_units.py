"""The interactive terminal's pieces on their own: blocks, completion, modes, the view.

What a person sees end to end is in tests/test_repl.py (a real pseudo-terminal);
these pin the rules those pieces follow, where a pty test would be slow or vague.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import attrs
import trio
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from claw_runtime.cli.approval import read_terminal_line
from claw_runtime.cli.repl.input import ReplCompleter, history_path
from claw_runtime.cli.repl.modes import next_mode
from claw_runtime.cli.repl.terminal import hold_stderr
from claw_runtime.cli.repl.view import MarkdownBlocks, TerminalView, collapse
from claw_runtime.config.settings import Settings
from claw_runtime.events import (
    Compacted,
    CompactionStarted,
    SessionEnded,
    SubagentFinished,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from claw_runtime.loop import RunResult
from claw_runtime.models import Message, TextBlock, ToolResultBlock, Usage
from claw_runtime.runtime import open_runtime
from claw_runtime.scheduler import Scheduler


def test_markdown_is_cut_at_blank_lines_outside_code_fences() -> None:
    text = "Para one\nstill one\n\n```py\na\n\nb\n```\nafter code\n\n- x\n- y"
    blocks = MarkdownBlocks()
    finished: list[str] = []
    for char in text:  # the worst case: one character per delta
        finished += blocks.feed(char)
    assert finished == ["Para one\nstill one\n\n", "```py\na\n\nb\n```\n", "after code\n\n"]
    assert blocks.tail == "- x\n- y"
    assert blocks.flush() == "- x\n- y" and blocks.tail == ""


def test_an_unclosed_fence_keeps_growing_and_tilde_fences_close_only_with_tildes() -> None:
    blocks = MarkdownBlocks()
    assert blocks.feed("~~~\ncode\n```\n\nstill code\n") == []
    assert blocks.feed("~~~\n") == ["~~~\ncode\n```\n\nstill code\n~~~\n"]


def test_long_tool_output_is_collapsed_to_a_few_lines() -> None:
    assert collapse("\n".join(str(n) for n in range(1, 21))) == ["1", "2", "3", "4", "… +16 lines"]
    assert collapse("") == ["(no output)"]
    assert collapse("x" * 50, width=10) == ["x" * 9 + "…"]


def test_shift_tab_cycles_and_offers_bypass_only_when_started_in_it() -> None:
    cycle = ["default"]
    for _ in range(3):
        cycle.append(next_mode(cycle[-1], with_bypass=False))  # type: ignore[arg-type]
    assert cycle == ["default", "acceptEdits", "plan", "default"]
    assert next_mode("plan", with_bypass=True) == "bypassPermissions"
    assert next_mode("bypassPermissions", with_bypass=True) == "default"
    assert next_mode("bypassPermissions", with_bypass=False) == "default"


def _completions(completer: ReplCompleter, text: str) -> list[str]:
    document = Document(text, len(text))
    return [c.text for c in completer.get_completions(document, CompleteEvent())]


def test_completion_of_slash_commands_and_of_paths_after_at(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("")
    (tmp_path / "setup.cfg").write_text("")
    (tmp_path / ".hidden").write_text("")
    commands = {"help": "List the commands", "hooks": "List hooks", "exit": "Leave"}
    completer = ReplCompleter(lambda: commands, lambda: tmp_path)
    assert _completions(completer, "/h") == ["help", "hooks"]
    assert _completions(completer, "/help me") == []  # arguments are not completed
    assert _completions(completer, "say /h") == []  # only at the start of the line
    assert _completions(completer, "look at @s") == ["setup.cfg", "src/"]
    assert _completions(completer, "look at @src/m") == ["main.py"]
    assert _completions(completer, "@.h") == [".hidden"]  # hidden files when asked for
    assert _completions(completer, "@nothing/here") == []
    assert _completions(completer, "plain words") == []


def test_the_history_file_follows_claw_config_dir() -> None:
    assert history_path({"CLAW_CONFIG_DIR": "/x/conf", "HOME": "/h"}) == Path("/x/conf/history")
    assert history_path({"HOME": "/h"}) == Path("/h/.claw/history")


def test_held_stderr_comes_back_as_text() -> None:
    with hold_stderr() as held:
        os.write(2, b"from C code\n")
        print("from Python", file=sys.__stderr__)  # pytest swaps sys.stderr itself
    assert held.text == "from C code\nfrom Python\n"


async def test_a_terminal_read_is_cancelled_without_reading_and_keeps_extra_lines() -> None:
    read_end, write_end = os.pipe()
    try:
        pending = bytearray()
        with trio.move_on_after(0.2) as waiting:  # nothing typed: the wait is cancelled
            await read_terminal_line(read_end, pending)
        assert waiting.cancelled_caught
        os.write(write_end, b"y\nn: no\n")
        assert await read_terminal_line(read_end, pending) == "y"
        assert await read_terminal_line(read_end, pending) == "n: no"
        os.close(write_end)
        write_end = -1
        assert await read_terminal_line(read_end, pending) == ""  # end of input: "no"
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


def _result(**changes: object) -> RunResult:
    values: dict[str, object] = {
        "result": "done",
        "is_error": False,
        "num_turns": 1,
        "duration_ms": 1.0,
        "usage": Usage(input_tokens=1200, output_tokens=34),
        "total_cost_usd": 0.0123,
        "session_id": "s",
        "stop_reason": "end_turn",
    }
    values.update(changes)
    return RunResult(**values)  # type: ignore[arg-type]


def _view(scheduler: Scheduler | None = None) -> tuple[TerminalView, io.StringIO]:
    output = io.StringIO()
    console = Console(file=output, width=80, force_terminal=False, color_system=None)
    return TerminalView(console, scheduler), output  # type: ignore[arg-type]


def test_the_view_streams_markdown_thinking_and_collapsed_results() -> None:
    shown, output = _view()
    shown._draw(ThinkingDelta(turn=1, text="weighing\nthe options"))
    for piece in ("Some **bold** text.\n", "\n- one\n", "- two"):
        shown._draw(TextDelta(turn=1, text=piece))
    result = ToolResultBlock(
        tool_use_id="t", content=(TextBlock(text="\n".join("abcdefg")),), is_error=False
    )
    shown._draw(ToolCallFinished(tool_use_id="t", name="Bash", result=result, duration_ms=1))
    shown.end_run(_result(), model="claude-x", mode="plan")
    lines = [line.rstrip() for line in output.getvalue().splitlines()]
    assert lines[:3] == ["weighing", "the options", "Some bold text."]
    assert lines[3] == "" and "• one" in lines[4] and "• two" in lines[5]
    assert lines[6:11] == ["  ⎿  a", "     b", "     c", "     d", "     … +3 lines"]
    assert lines[-1] == "claude-x · plan mode · this turn 1,234 tokens · $0.0123 (session $0.0000)"


def test_running_sub_agents_show_one_dim_line_per_step_and_never_their_text() -> None:
    shown, output = _view()
    child = {"agent_id": "a1b2c3d4e5", "parent_agent": None}
    shown._draw(SubagentStarted(agent_type="Explore", description="find the parser", **child))
    shown._draw(TextDelta(turn=1, text="the sub-agent thinking aloud", **child))
    call = ToolCallStarted(tool_use_id="t", name="Grep", input={"pattern": "parse"}, **child)
    shown._draw(call)
    finished = SubagentFinished(
        agent_type="Explore", status="completed", result="found it", num_turns=2, **child
    )
    shown._draw(finished)
    shown._draw(TextDelta(turn=1, text="The parent's answer."))
    shown.end_run(_result(), model="m", mode="default")
    text = output.getvalue()
    assert "[a1b2c3] Explore: find the parser (started)" in text
    assert "[a1b2c3] Grep" in text
    assert "[a1b2c3] Explore completed (2 turns)" in text
    assert "thinking aloud" not in text  # its answer reaches the person through its parent
    assert "The parent's answer." in text


def test_a_command_result_is_shown_as_written() -> None:
    shown, output = _view()
    table = "/help    List the commands\n/exit    Leave"
    result = _result(result=table, stop_reason="command", num_turns=0)
    shown.end_run(result, model="m", mode="default")
    assert output.getvalue().startswith(table + "\n")


def test_an_automatic_compaction_is_one_dim_line_and_the_status_line_shows_its_context() -> None:
    shown, output = _view()
    shown.attach("s1")
    usage = Usage(input_tokens=180_000, cache_read_input_tokens=3_000, output_tokens=500)
    answer = Message(role="assistant", content=(TextBlock(text="..."),))
    finished = TurnFinished(
        turn=1, message=answer, stop_reason="end_turn", usage=usage, cost_usd=0.5
    )
    shown._draw(finished)
    shown.end_run(_result(), model="m", mode="default")
    assert "context 183,500 tokens" in output.getvalue().splitlines()[-1]
    shown._draw(CompactionStarted(trigger="auto", tokens=183_500, window=200_000))
    assert shown._spinner is not None and "Compacting" in str(shown._spinner.text)
    compacted = Compacted(
        trigger="auto",
        tokens_before=183_500,
        tokens_after=21_034,
        summarised_messages=40,
        kept_messages=4,
    )
    shown._draw(compacted)
    shown.end_run(_result(), model="m", mode="default")
    lines = output.getvalue().splitlines()
    assert "Conversation compacted (184k → 21k tokens)" in lines
    assert "context 21,034 tokens" in lines[-1]
    # By hand (/compact): the command's answer says it; the status line still follows.
    shown._draw(attrs.evolve(compacted, trigger="manual", tokens_after=9_000))
    shown.end_run(_result(), model="m", mode="default")
    lines = output.getvalue().splitlines()
    assert sum("Conversation compacted" in line for line in lines) == 1
    assert "context 9,000 tokens" in lines[-1]
    shown.attach("s2")  # /clear: a new conversation, nothing measured yet
    shown.end_run(_result(), model="m", mode="default")
    assert "context" not in output.getvalue().splitlines()[-1]


async def test_settle_waits_until_earlier_events_are_drawn() -> None:
    async with open_runtime(Settings(), no_plugins=True) as runtime:
        shown, output = _view(runtime.scheduler)
        shown.attach("s1")
        async with trio.open_nursery() as nursery:
            await nursery.start(shown.consume, runtime.bus)
            shown.begin_run()
            for n in range(200):
                await runtime.publish(TextDelta(session_id="s1", turn=1, text=f"w{n} "))
            await runtime.publish(TextDelta(session_id="other", turn=1, text="not ours"))
            with trio.fail_after(30):
                await shown.settle("s1")
            shown.end_run(_result(), model="m", mode="default")
            await runtime.publish(
                SessionEnded(
                    session_id="s1",
                    stop_reason="end_turn",
                    num_turns=1,
                    usage=Usage(),
                    total_cost_usd=0.0,
                    is_error=False,
                    result="",
                )
            )
    text = output.getvalue()
    assert "w0 " in text and "w199" in text and "not ours" not in text
    assert text.index("w199") < text.index("(session $")


def test_the_prompt_needs_nothing_but_prompt_toolkit() -> None:
    """The first prompt is drawn before trio, the settings, rich or the plugins load.

    (Time to prompt is measured in benchmarks/bench_repl.py; this keeps an
    import moved to the top of a module from quietly undoing it.)
    """
    probe = (
        "import sys, claw_runtime.cli.app, claw_runtime.cli.repl, claw_runtime.cli.repl.input\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "prompt_toolkit" in loaded
    heavy = {
        "trio",
        "rich",
        "httpx",
        "structlog",
        "cattrs",
        "pluggy",
        "claw_runtime.config.settings",
    }
    assert not heavy & loaded
    assert {m for m in loaded if m.startswith("claw_runtime")} == {
        "claw_runtime",
        "claw_runtime._httpx_cli",
        "claw_runtime._version",
        "claw_runtime.cli",
        "claw_runtime.cli.app",
        "claw_runtime.cli.repl",
        "claw_runtime.cli.repl.input",
        "claw_runtime.cli.repl.modes",
    }


def test_type_ahead_edits_the_line_queues_sent_lines_and_skips_escape_sequences() -> None:
    from claw_runtime.cli.repl.typeahead import TypeAhead

    typed = TypeAhead()
    assert typed.feed(b"helo\x7flo")
    assert typed.text == "hello"
    assert not typed.feed(b"\x1b[A\x1b[1;5C")  # arrows: nothing shown changes
    assert typed.feed(b" w\xc3")  # a character cut between reads...
    assert typed.feed(b"\xa9\r")  # ...is whole once the rest arrives
    assert typed.queued == ["hello w\u00e9"] and typed.text == ""
    assert not typed.feed(b"\r")  # an empty line is not sent
    assert typed.feed(b"draft\x15again")
    assert typed.text == "again" and typed.queued == ["hello w\u00e9"]
