"""The interactive terminal, for real: ``claw`` in a pseudo-terminal against the fake model.

Each test drives the ``claw`` command through pexpect as a person would (keys,
Ctrl-C, Shift+Tab) and checks what the screen showed and what the model was
sent. The rules, for a loaded 2-core machine:

* Every wait is an ``expect`` with a generous timeout, on something claw
  prints (the status line after each turn, the prompt), never a sleep.
* Patterns tolerate the terminal escape codes that rich and prompt_toolkit put
  between characters (:func:`loose`).
* The fake model server runs in a thread (the test itself is synchronous, as
  pexpect is), on loopback, port 0.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from claw_runtime.testing import Script, ToolCallSpec, Turn
from claw_runtime.testing.fake_server import FakeModelServer

from _harness import claw_env, fake_server_in_thread, result_text

TIMEOUT = 60
"""Seconds any one expectation may take (start-up on a loaded machine is the slowest)."""

SHIFT_TAB = "\x1b[Z"
CTRL_C = "\x03"
CTRL_D = "\x04"
ESCAPE_ENTER = "\x1b\r"

_CODES = r"(?:\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r)*"


def loose(text: str) -> str:
    """A regex for ``text`` as a terminal shows it: escape codes may sit between characters."""
    return _CODES.join(re.escape(char) for char in text)


STATUS_LINE = r"\(session \$\d+\.\d{4}\)"
"""The end of the status line printed after each turn."""


def prompt_pattern(label: str = "") -> str:
    """The prompt, with the mode's label before it (``plan``, ``accept edits``)."""
    return loose(f"{label} \u276f " if label else "\u276f ")


class Terminal:
    """``claw ARGS`` in a pseudo-terminal (50 rows, 200 columns)."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "claw_runtime", *args],
            cwd=str(cwd),
            env=env,
            dimensions=(50, 200),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
        )

    def expect(self, text: str) -> None:
        """Wait until ``text`` has been shown (escape codes between its characters allowed)."""
        self.child.expect(loose(text))

    def prompt(self, label: str = "") -> None:
        self.child.expect(prompt_pattern(label))

    def send_line(self, text: str) -> None:
        """Type ``text`` and press Enter (a carriage return, as a terminal sends it)."""
        self.child.send(text + "\r")

    def turn(self, text: str) -> None:
        """Send ``text`` and wait for its turn to end (its status line, then the prompt)."""
        self.send_line(text)
        self.child.expect(STATUS_LINE)

    def exit_code(self) -> int:
        """Wait for claw to exit; its exit code."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        status = self.child.exitstatus
        assert status is not None, f"killed by signal {self.child.signalstatus}"
        return int(status)

    def close(self) -> None:
        if self.child.ptyproc.isalive():
            self.child.ptyproc.kill(9)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Started terminals, each killed at the end of the test if it is still running."""
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def repl_env(tmp_path: Path, server: FakeModelServer) -> dict[str, str]:
    # No cursor-position requests: a pseudo-terminal has no terminal to answer them.
    return claw_env(tmp_path, server, TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")


def start(
    terminals: list[Terminal], tmp_path: Path, server: FakeModelServer, *args: str
) -> Terminal:
    terminal = Terminal(tmp_path, repl_env(tmp_path, server), *args)
    terminals.append(terminal)
    return terminal


def user_texts(body: dict[str, Any]) -> list[str]:
    """The text of every user message in a request, in order (tool results left out)."""
    texts = []
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        texts.extend(block["text"] for block in content if block.get("type") == "text")
    return texts


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


# ------------------------------------------------------------------ the tests


def test_a_typed_prompt_streams_its_answer_and_claw_c_continues_after_ctrl_d(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    script = Script(
        [
            Turn.say("Hello from **the model**.\n\nA second paragraph.", chunk_size=4),
            Turn.say("continued headless"),
        ]
    )
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line("what is this repo?")
        claw.expect("Hello from the model.")
        claw.expect("A second paragraph.")
        claw.child.expect(r"claude-[\w.-]+ · context [\d,]+ tokens · this turn [\d,]+ tokens")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.child.send(CTRL_D)
        claw.expect("claw -c continues it")
        assert claw.exit_code() == 0

        headless = subprocess.run(
            [sys.executable, "-m", "claw_runtime", "-c", "-p", "and then?"],
            cwd=tmp_path,
            env=repl_env(tmp_path, server),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert headless.returncode == 0, headless.stderr
        assert headless.stdout.strip() == "continued headless"
        assert user_texts(server.requests[-1].body) == ["what is this repo?", "and then?"]
        assistant = server.requests[-1].body["messages"][1]
        assert "A second paragraph." in json.dumps(assistant)
    history = (tmp_path / "claw-home" / "history").read_text()
    assert "what is this repo?" in history
    assert (tmp_path / "claw-home" / "history").stat().st_mode & 0o077 == 0


def test_a_first_prompt_on_the_command_line_runs_at_once(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    with fake_server_in_thread(Script([Turn.say("explained")])) as server:
        claw = start(terminals, tmp_path, server, "explain this repo")
        claw.expect("explained")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.send_line("/exit")
        assert claw.exit_code() == 0
        assert user_texts(server.requests[0].body) == ["explain this repo"]


def test_slash_commands_run_without_the_model_and_complete_with_tab(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    with fake_server_in_thread(Script([])) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.child.send("/hel")
        claw.expect("List the slash commands")  # the menu, with each command's description
        claw.child.send("\t")  # Tab picks /help, Enter takes it, Enter sends it
        claw.child.send("\r")
        claw.child.send("\r")
        claw.expect("Custom commands are Markdown files")  # the end of /help's own output
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.send_line("/quit")
        assert claw.exit_code() == 0
        assert server.requests == []


def test_multi_line_input_and_file_completion(tmp_path: Path, terminals: list[Terminal]) -> None:
    (tmp_path / "notes_for_claw.txt").write_text("notes\n")
    script = Script([Turn.say("one"), Turn.say("two")])
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.child.send("first line\\\r")  # a trailing backslash: a new line, not sent
        claw.child.send("second line" + ESCAPE_ENTER)  # Esc-Enter: a new line too
        claw.turn("third line")
        claw.prompt()
        claw.child.send("read @notes_f")
        claw.expect("notes_for_claw.txt")  # the menu of matching files
        claw.child.send("\t")  # Tab picks the file
        claw.turn(" please")
        claw.prompt()
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0
    first, second = (user_texts(r.body)[-1] for r in server.requests)
    assert first == "first line\nsecond line\nthird line"
    assert second.startswith("read @notes_for_claw.txt please\n\n")  # the file attached
    assert '<file path="notes_for_claw.txt">' in second and "notes" in second


def pid_channel(tmp_path: Path) -> tuple[Path, int]:
    """A FIFO a tool writes a pid into (``echo $! > FIFO``), and its open read end."""
    fifo = tmp_path / "sleeper.pid"
    os.mkfifo(fifo)
    return fifo, os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)


def read_pid(reader: int) -> int:
    """The pid written into :func:`pid_channel`'s FIFO, waiting for it (no polling)."""
    assert select.select([reader], [], [], TIMEOUT)[0], "the tool never started"
    pid = int(os.read(reader, 64))
    os.close(reader)
    return pid


def wait_exited(pid: int, timeout: float, why: str) -> None:
    """Wait until ``pid`` has exited (a pidfd is readable from then on)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone
    try:
        assert select.select([pidfd], [], [], timeout)[0], why
    finally:
        os.close(pidfd)


def test_ctrl_c_cancels_the_turn_and_the_next_request_has_the_aborted_result(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    fifo, reader = pid_channel(tmp_path)
    slow = f"sleep 300 & echo $! > {fifo}; wait"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": slow})), Turn.say("back at work")])
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server, "--permission-mode", "bypassPermissions")
        claw.prompt("bypass permissions")
        claw.send_line("take your time")
        claw.expect("Bash(sleep 300")
        sleeper = read_pid(reader)
        claw.child.send(CTRL_C)
        claw.expect("Interrupted")
        claw.child.expect(STATUS_LINE)
        claw.prompt("bypass permissions")
        wait_exited(sleeper, 10, "the tool's process outlived the turn")
        claw.turn("carry on")
        claw.prompt("bypass permissions")
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0
    [aborted] = tool_results(server.requests[-1].body)
    assert aborted["is_error"] and "aborted" in result_text(aborted)
    assert user_texts(server.requests[-1].body)[-1] == "carry on"


def test_permission_prompts_yes_no_and_ctrl_c(tmp_path: Path, terminals: list[Terminal]) -> None:
    allowed, refused, interrupted = (tmp_path / name for name in ("yes", "no", "ctrl-c"))
    script = Script(
        [
            Turn.call(ToolCallSpec("Bash", {"command": f"touch {allowed}"})),
            Turn.say("made it"),
            Turn.call(ToolCallSpec("Bash", {"command": f"touch {refused}"})),
            Turn.say("did not"),
            Turn.call(ToolCallSpec("Bash", {"command": f"touch {interrupted}"})),
            Turn.say("after the interruption"),
        ]
    )
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line("make a file")
        claw.expect("Allow? [y]es")
        claw.send_line("y")
        claw.expect("made it")
        claw.child.expect(STATUS_LINE)
        claw.prompt()

        claw.send_line("make another")
        claw.expect("Allow? [y]es")
        claw.send_line("n: not that one")
        claw.expect("did not")
        claw.child.expect(STATUS_LINE)
        claw.prompt()

        claw.send_line("and a third")
        claw.expect("Allow? [y]es")
        claw.child.send(CTRL_C)  # at the question: no, and the turn is cancelled
        claw.expect("Interrupted")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.turn("go on")
        claw.prompt()
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0
    assert allowed.exists() and not refused.exists() and not interrupted.exists()
    denied = tool_results(server.requests[3].body)[-1]
    assert result_text(denied) == "The user denied this Bash call: not that one"
    aborted = tool_results(server.requests[-1].body)[-1]
    assert aborted["is_error"] and "aborted" in result_text(aborted)


def test_shift_tab_cycles_the_permission_mode(tmp_path: Path, terminals: list[Terminal]) -> None:
    target = tmp_path / "planned.txt"
    script = Script(
        [
            Turn.call(ToolCallSpec("Write", {"file_path": str(target), "content": "x"})),
            Turn.say("planned"),
        ]
    )
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.child.send(SHIFT_TAB)
        claw.prompt("accept edits")
        claw.child.send(SHIFT_TAB)
        claw.prompt("plan")
        claw.send_line("write the file")  # plan mode: nothing that changes things runs
        claw.child.expect(r"plan mode[^\n]*" + STATUS_LINE)  # the mode is in the status line
        claw.prompt("plan")
        claw.child.send(SHIFT_TAB)  # back to the default: no label
        claw.child.send("/exit\r")
        assert claw.exit_code() == 0
    assert not target.exists()
    [refusal] = tool_results(server.requests[-1].body)
    assert refusal["is_error"] and "plan mode" in result_text(refusal)


def test_bypass_is_in_the_cycle_only_when_the_session_started_in_it(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    with fake_server_in_thread(Script([])) as server:
        claw = start(terminals, tmp_path, server, "--permission-mode", "bypassPermissions")
        claw.prompt("bypass permissions")
        claw.child.send(SHIFT_TAB)  # bypassPermissions -> default (no label)
        for label in ("accept edits", "plan", "bypass permissions"):
            claw.child.send(SHIFT_TAB)
            claw.prompt(label)
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0


def test_ctrl_c_twice_at_an_empty_prompt_exits(tmp_path: Path, terminals: list[Terminal]) -> None:
    with fake_server_in_thread(Script([Turn.say("fine")])) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.turn("hello")
        claw.prompt()
        claw.child.send("some text")
        claw.child.send(CTRL_C)  # clears the line
        claw.child.send(CTRL_C)  # at the empty line: told how to leave
        claw.expect("Press Ctrl-C again to exit")
        claw.prompt()
        claw.child.send(CTRL_C)
        assert claw.exit_code() == 0
    [session] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    assert '"fine"' in session.read_text()


def test_without_a_terminal_a_prompt_runs_headless_and_no_prompt_prints_usage(
    tmp_path: Path,
) -> None:
    with fake_server_in_thread(Script([Turn.say("piped answer")])) as server:
        env = claw_env(tmp_path, server)
        run = subprocess.run(
            [sys.executable, "-m", "claw_runtime", "summarise"],
            cwd=tmp_path,
            env=env,
            input="the piped text",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "piped answer"
        assert user_texts(server.requests[0].body) == ["summarise\n\nthe piped text"]
    usage = subprocess.run(
        [sys.executable, "-m", "claw_runtime"],
        cwd=tmp_path,
        env=claw_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert usage.returncode == 0
    assert "claw [options] [PROMPT]" in usage.stdout


def test_a_session_that_cannot_start_says_why_and_exits(tmp_path: Path) -> None:
    env = {**claw_env(tmp_path), "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    env.pop("ANTHROPIC_API_KEY", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "claw_runtime", "-c"],
        cwd=str(tmp_path),
        env=env,
        encoding="utf-8",
        timeout=TIMEOUT,
    )
    try:
        child.expect(loose("no session to continue"))
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_sigterm_at_the_prompt_saves_the_session_and_exits_130(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    with fake_server_in_thread(Script([Turn.say("kept")])) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.turn("remember this")
        claw.prompt()
        claw.child.kill(signal.SIGTERM)
        claw.expect("claw -c continues it")
        assert claw.exit_code() == 130
    [session] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    assert "remember this" in session.read_text()


def test_ctrl_c_at_a_headless_permission_question_cancels_the_run(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """``claw -p`` at a terminal asks too; Ctrl-C there no longer waits for an answer."""
    marker = tmp_path / "never"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": f"touch {marker}"}))])
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server, "-p", "go")
        claw.expect("Allow? [y]es")
        claw.child.send(CTRL_C)
        assert claw.exit_code() == 130
        assert len(server.requests) == 1
    assert not marker.exists()


def test_closing_the_terminal_mid_turn_stops_the_tools_and_ends_the_session(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    """The window closed or SSH dropped (SIGHUP): nothing is left running, the file is valid."""
    fifo, reader = pid_channel(tmp_path)
    slow = f"sleep 300 & echo $! > {fifo}; wait"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": slow})), Turn.say("never")])
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server, "--permission-mode", "bypassPermissions")
        claw.prompt("bypass permissions")
        claw.send_line("take your time")
        sleeper = read_pid(reader)
        os.close(claw.child.child_fd)  # the terminal goes away: the kernel sends SIGHUP
        process = claw.child.ptyproc
        wait_exited(process.pid, TIMEOUT, "claw outlived its terminal")
        process.wait()
        assert process.exitstatus == 130
        assert len(server.requests) == 1
    wait_exited(sleeper, 10, "the tool's process outlived claw")
    [session] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    records = [json.loads(line) for line in session.read_text().splitlines()]
    assert records[-1]["type"] == "result"
    assert records[-1]["result"]["stop_reason"] == "cancelled"


def headless(tmp_path: Path, server: FakeModelServer, *args: str) -> None:
    """``claw ARGS`` without a terminal, to leave sessions behind for ``/resume``."""
    done = subprocess.run(
        [sys.executable, "-m", "claw_runtime", *args],
        cwd=tmp_path,
        env=repl_env(tmp_path, server),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_resume_switches_to_a_previous_session_and_continues_it(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    script = Script(
        [
            Turn.say("noted the banana"),
            Turn.say("noted the cherry"),
            Turn.say("it was banana"),
            Turn.say("it was cherry"),
        ]
    )
    with fake_server_in_thread(script) as server:
        headless(tmp_path, server, "-p", "first: remember banana")
        headless(tmp_path, server, "-p", "second: remember cherry")
        sessions = {
            path.read_text().count("banana") > 0: path.stem
            for path in (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
        }
        banana, cherry = sessions[True], sessions[False]
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line(f"/resume {banana[:8]}")  # by id prefix
        claw.expect("first: remember banana")  # the conversation, shown again
        claw.expect("noted the banana")
        claw.expect(f"Resumed session {banana}")
        claw.prompt()
        claw.turn("which fruit?")
        claw.prompt()
        claw.send_line("/resume")  # no id: a numbered list to pick from
        claw.child.expect(
            rf"(\d)\.\s+{cherry[:8]}\s+(?:just now|\d+m ago)\s+1 turn\s+second: remember cherry"
        )
        number = claw.child.match.group(1)
        claw.expect("Resume which session?")
        claw.prompt()
        claw.send_line(number)
        claw.expect("noted the cherry")
        claw.expect(f"Resumed session {cherry}")
        claw.prompt()
        claw.turn("and now?")
        claw.prompt()
        claw.send_line("/exit")
        claw.expect("claw -c continues it")
        assert claw.exit_code() == 0
    assert "claw -p runs one prompt" not in claw.child.before  # the headless text is not shown
    banana_request, cherry_request = server.requests[2].body, server.requests[3].body
    assert user_texts(banana_request) == ["first: remember banana", "which fruit?"]
    assert user_texts(cherry_request) == ["second: remember cherry", "and now?"]
    [banana_file] = (tmp_path / "claw-home" / "projects").glob(f"*/{banana}.jsonl")
    assert "which fruit?" in banana_file.read_text()


def test_at_mentions_attach_workspace_files_and_say_which_were_left_out(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("the secret word is mango\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not for the model\n")
    with fake_server_in_thread(Script([Turn.say("summarised")])) as server:
        claw = Terminal(project, repl_env(tmp_path, server))
        terminals.append(claw)
        claw.prompt()
        claw.send_line(f"summarise @notes.txt and @{outside}")
        claw.expect(f"@{outside} not attached: it is outside the workspace")
        claw.expect("summarised")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0
    [sent] = user_texts(server.requests[0].body)
    assert sent.startswith(f"summarise @notes.txt and @{outside}\n\n")
    assert '<file path="notes.txt">' in sent and "the secret word is mango" in sent
    assert "not for the model" not in sent


def test_init_writes_claude_md_through_the_model(tmp_path: Path, terminals: list[Terminal]) -> None:
    target = tmp_path / "CLAUDE.md"
    written = "# CLAUDE.md\n"
    script = Script(
        [
            Turn.call(ToolCallSpec("Write", {"file_path": str(target), "content": written})),
            Turn.say("CLAUDE.md written"),
        ]
    )
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line("/init")
        claw.expect("Allow? [y]es")  # the Write asks, as any other
        claw.send_line("y")
        claw.expect("CLAUDE.md written")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.send_line("/exit")
        assert claw.exit_code() == 0
    assert target.read_text() == written
    [prompt] = user_texts(server.requests[0].body)
    assert "write a CLAUDE.md file at its root" in prompt and str(tmp_path) in prompt


def test_keys_typed_while_an_answer_streams_are_shown_and_sent_after_it(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    words = " ".join(f"word{i:02d}" for i in range(60))
    script = Script(
        [Turn.say(words + " THE-END", chunk_size=7, delay_s=0.05), Turn.say("second answer")]
    )
    with fake_server_in_thread(script) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line("first question")
        claw.expect("word01")
        claw.child.send("next questioX\x7fn\r")  # typed (with a Backspace) and sent ahead
        claw.expect("next question")  # shown under the answer while it streams...
        claw.expect("THE-END")  # ...before it ended
        claw.child.expect(STATUS_LINE)
        claw.expect("next question")  # then sent as if typed at the prompt
        claw.expect("second answer")
        claw.child.expect(STATUS_LINE)
        claw.prompt()
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0
    assert user_texts(server.requests[-1].body) == ["first question", "next question"]


def test_claw_c_and_claw_r_open_with_the_last_messages_of_the_conversation(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    script = Script(
        [
            Turn.say("noted the papaya"),
            Turn.call(ToolCallSpec("Bash", {"command": "echo ripe"})),
            Turn.say("it is ripe"),
            Turn.say("still papaya"),
        ]
    )
    with fake_server_in_thread(script) as server:
        headless(tmp_path, server, "-p", "remember papaya")
        headless(tmp_path, server, "-c", "-p", "is it ripe?", "--allowed-tools", "Bash")
        [session_file] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
        session_id = session_file.stem

        claw = start(terminals, tmp_path, server, "-c")
        claw.expect("remember papaya")  # the conversation, shown again
        claw.expect("noted the papaya")
        claw.expect("● Bash(echo ripe)")
        claw.expect("it is ripe")
        claw.expect(f"Resumed session {session_id}")
        claw.prompt()
        claw.turn("which fruit?")
        claw.prompt()
        claw.child.send(CTRL_D)
        assert claw.exit_code() == 0

        again = start(terminals, tmp_path, server, "-r", session_id[:8])
        again.expect("which fruit?")
        again.expect("still papaya")
        again.expect(f"Resumed session {session_id}")
        again.prompt()
        again.send_line("/exit")
        assert again.exit_code() == 0
    assert user_texts(server.requests[-1].body)[-1] == "which fruit?"
    assert len(server.requests) == 4  # opening a session asks the model nothing


def test_a_new_session_opens_without_history(tmp_path: Path, terminals: list[Terminal]) -> None:
    with fake_server_in_thread(Script([])) as server:
        claw = start(terminals, tmp_path, server)
        claw.prompt()
        claw.send_line("/exit")
        assert claw.exit_code() == 0
    assert "Resumed session" not in (claw.child.before or "")


def test_without_credentials_the_terminal_opens_and_a_prompt_says_what_to_set(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    env = claw_env(tmp_path, TERM="xterm-256color", PROMPT_TOOLKIT_NO_CPR="1")
    assert "ANTHROPIC_API_KEY" not in env
    claw = Terminal(tmp_path, env)
    terminals.append(claw)
    claw.prompt()
    claw.send_line("/cost")
    claw.expect("No model calls in this session yet")
    claw.child.expect(STATUS_LINE)
    claw.prompt()
    claw.send_line("hello?")
    claw.expect("claw: no Anthropic credentials: set ANTHROPIC_API_KEY")
    claw.child.expect(STATUS_LINE)
    claw.prompt()
    claw.send_line("/exit")
    assert claw.exit_code() == 0
