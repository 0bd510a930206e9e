"""The permission prompt: yes / yes, always / no (with a reason for the model).

Used when a person is at the terminal (stdin is a TTY); headless runs have no
prompt and treat "ask" as denied. "Always" adds an allow rule for the rest of
the session: ``Bash(<command>:*)`` for a shell command, the bare tool name for
anything else.

Ctrl-C while the question waits cancels the run (the CLI maps SIGINT to
``session.cancel()``): the call is not made, it gets an "aborted" result, and
the answer is never read. So the terminal is read without a blocked thread:
claw waits for standard input to become readable in trio and then reads what
is there (at a terminal in its usual line mode, one typed line), which a
cancellation interrupts at once and which leaves nothing behind to steal the
next line typed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

import trio

from claw_runtime.cli.live import describe_call
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.loop import Approval

__all__ = ["TerminalApprover", "read_terminal_line", "suggested_rule"]


def suggested_rule(call: ToolCall) -> str:
    """The rule "yes, always" adds for this call."""
    if call.name == "Bash":
        words = str(call.input.get("command", "")).split()
        if words:
            return f"Bash({words[0]}:*)"
    return call.name


async def read_terminal_line(fd: int, pending: bytearray) -> str:
    """One line from ``fd`` (without its newline; "" at end of input), cancellable.

    Waits for ``fd`` to be readable in trio instead of blocking a thread, so a
    cancelled wait reads nothing. ``pending`` keeps bytes read past the first
    newline (piped input can deliver several lines at once) for the next call.
    """
    while b"\n" not in pending:
        await trio.lowlevel.wait_readable(fd)
        try:
            chunk = os.read(fd, 4096)
        except BlockingIOError:
            continue  # another reader was faster: wait again
        if not chunk:
            break  # end of input: whatever came before it is the answer
        pending.extend(chunk)
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line.decode("utf-8", "replace")


class TerminalApprover:
    """Asks on ``output`` and reads the answer from the terminal.

    Args:
        read_line: a blocking function returning one line, run in a worker
            thread (for tests); by default standard input is read as
            :func:`read_terminal_line` does, so Ctrl-C can cancel the wait.
        output: where the question goes (default: standard error).
        before_asking: called (with True) just before the question is shown
            and (with False) once it is answered, so a renderer can stop
            drawing over it and the terminal can echo what is typed.
    """

    def __init__(
        self,
        read_line: Callable[[], str] | None = None,
        output: TextIO | None = None,
        *,
        before_asking: Callable[[bool], None] | None = None,
    ) -> None:
        self.read_line = read_line
        self.output = output or sys.stderr
        self.before_asking = before_asking
        self._lock = trio.Lock()  # one question at a time, even for concurrent tools
        self._pending = bytearray()

    async def _read_answer(self) -> str:
        if self.read_line is not None:
            return await trio.to_thread.run_sync(self.read_line)
        return await read_terminal_line(sys.stdin.fileno(), self._pending)

    async def __call__(self, call: ToolCall, reason: str) -> Approval:
        async with self._lock:
            rule = suggested_rule(call)
            if self.before_asking is not None:
                self.before_asking(True)
            try:
                self.output.write(
                    f"\nclaw wants to run {describe_call(call.name, call.input)}\n"
                    f"  {reason}\n"
                    f"Allow? [y]es / [a]lways allow {rule} / [n]o (n: reason for the model) > "
                )
                self.output.flush()
                answer = (await self._read_answer()).strip()
            finally:
                if self.before_asking is not None:
                    self.before_asking(False)
        lowered = answer.lower()
        if lowered in ("y", "yes"):
            return Approval(allowed=True)
        if lowered in ("a", "always"):
            return Approval(allowed=True, remember_rule=rule)
        reason_text = answer.split(":", 1)[1].strip() if ":" in answer else ""
        return Approval(allowed=False, reason=reason_text)
