"""The permission prompt, through a real pseudo-terminal, and its effect on the loop."""

from __future__ import annotations

import io
import os
import pty
import sys
from pathlib import Path

import trio

from claw_runtime.cli.approval import TerminalApprover, suggested_rule
from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

CALL = ToolCall(tool_use_id="t", name="Bash", input={"command": "npm install left-pad"})


async def ask(answer: str) -> tuple[object, str]:
    output = io.StringIO()
    approver = TerminalApprover(read_line=lambda: answer + "\n", output=output)
    return await approver(CALL, "Bash command needs approval"), output.getvalue()


async def test_yes_always_and_no_with_a_reason() -> None:
    yes, shown = await ask("y")
    assert yes.allowed and yes.remember_rule is None  # type: ignore[attr-defined]
    assert "claw wants to run Bash(npm install left-pad)" in shown
    assert "[a]lways allow Bash(npm:*)" in shown
    always, _ = await ask("always")
    assert always.allowed and always.remember_rule == "Bash(npm:*)"  # type: ignore[attr-defined]
    no, _ = await ask("n: use the vendored copy instead")
    assert not no.allowed and no.reason == "use the vendored copy instead"  # type: ignore[attr-defined]
    assert suggested_rule(ToolCall(tool_use_id="t", name="Write", input={})) == "Write"


async def test_claw_asks_at_a_terminal_and_remembers_always(tmp_path: Path) -> None:
    marker1, marker2, marker3 = (tmp_path / f"m{i}" for i in (1, 2, 3))
    turns = [
        Turn.call(ToolCallSpec("Bash", {"command": f"touch {marker1}"})),
        Turn.call(ToolCallSpec("Bash", {"command": f"touch {marker2}"})),  # covered by "always"
        Turn.call(ToolCallSpec("Bash", {"command": f"rm -f {marker3}"})),
        Turn.say("finished"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        leader, follower = pty.openpty()
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "k",
            "CLAW_CONFIG_DIR": str(tmp_path / "home"),
        }
        os.write(leader, b"a\nn: not that one\n")  # typed ahead at the terminal
        with trio.fail_after(60):
            await trio.run_process(
                [sys.executable, "-m", "claw_runtime", "-p", "go", "--no-session"],
                stdin=follower,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                cwd=tmp_path,
                env=env,
            )
        os.close(leader)
        os.close(follower)
    assert marker1.exists() and marker2.exists()
    last_request = server.requests[-1].body["messages"][-1]["content"][0]
    assert last_request["is_error"]
    assert last_request["content"][0]["text"] == "The user denied this Bash call: not that one"
