"""The permission prompt: yes / yes, always / no (with a reason for the model).

Used when a person is at the terminal (stdin is a TTY); headless runs have no
prompt and treat "ask" as denied. "Always" adds an allow rule for the rest of
the session: ``Bash(<command>:*)`` for a shell command, the bare tool name for
anything else.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import trio

from claw_runtime.cli.live import describe_call
from claw_runtime.decisions import ToolCall
from claw_runtime.loop import Approval

__all__ = ["TerminalApprover", "suggested_rule"]


def suggested_rule(call: ToolCall) -> str:
    """The rule "yes, always" adds for this call."""
    if call.name == "Bash":
        words = str(call.input.get("command", "")).split()
        if words:
            return f"Bash({words[0]}:*)"
    return call.name


class TerminalApprover:
    """Asks on ``output`` and reads the answer from ``read_line`` (a blocking call)."""

    def __init__(
        self, read_line: Callable[[], str] | None = None, output: TextIO | None = None
    ) -> None:
        self.read_line = read_line or sys.stdin.readline
        self.output = output or sys.stderr
        self._lock = trio.Lock()  # one question at a time, even for concurrent tools

    async def __call__(self, call: ToolCall, reason: str) -> Approval:
        async with self._lock:
            rule = suggested_rule(call)
            self.output.write(
                f"\nclaw wants to run {describe_call(call.name, call.input)}\n"
                f"  {reason}\n"
                f"Allow? [y]es / [a]lways allow {rule} / [n]o (n: reason for the model) > "
            )
            self.output.flush()
            answer = (await trio.to_thread.run_sync(self.read_line)).strip()
        lowered = answer.lower()
        if lowered in ("y", "yes"):
            return Approval(allowed=True)
        if lowered in ("a", "always"):
            return Approval(allowed=True, remember_rule=rule)
        reason_text = answer.split(":", 1)[1].strip() if ":" in answer else ""
        return Approval(allowed=False, reason=reason_text)
