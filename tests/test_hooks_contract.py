"""Claude Code's hooks contract, field by field, with hook scripts that behave like real ones.

Each script is the kind people commit: a bash validator that exits 2, a
formatter that rewrites the file it was given, a "block once" Stop hook, a
SessionStart context loader that also exports variables, a UserPromptSubmit
context injector, a logger reading ``tool_response.filePath``. They run from
the user's own settings through ``claw -p`` against the fake model.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

from _harness import claw_env, run_claw


def hook(command: str, matcher: str = "") -> list[dict[str, Any]]:
    return [{"matcher": matcher, "hooks": [{"type": "command", "command": command}]}]


def script(directory: Path, name: str, body: str) -> str:
    path = directory / name
    path.write_text("#!/usr/bin/env python3\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


def user_settings(tmp_path: Path, settings: dict[str, Any]) -> None:
    path = tmp_path / "claw-home" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


RECORD = """
import json, os, sys
payload = json.load(sys.stdin)
with open(os.environ["HOOK_LOG"], "a") as log:
    log.write(json.dumps(payload) + "\\n")
"""


def records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def test_stdin_fields_for_tool_events(tmp_path: Path, project: Path) -> None:
    log = tmp_path / "hooks.jsonl"
    recorder = script(tmp_path, "record.py", RECORD)
    user_settings(
        tmp_path,
        {"hooks": {e: hook(recorder) for e in ("PreToolUse", "PostToolUse", "Stop")}},
    )
    turns = [
        Turn.call(ToolCallSpec("Write", {"file_path": str(project / "a.txt"), "content": "x\n"})),
        Turn.call(ToolCallSpec("Bash", {"command": "echo hello"})),
        Turn.say("all done"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "go", "--permission-mode", "acceptEdits", "--allowed-tools", "Bash(echo:*)"],
            project,
            claw_env(tmp_path, server, HOOK_LOG=str(log)),
        )
    assert result.returncode == 0, result.stderr
    pre_write, post_write, pre_bash, post_bash, stop = records(log)
    for payload in (pre_write, post_write, pre_bash, post_bash, stop):
        assert len(payload["session_id"]) == 36
        assert payload["cwd"] == str(project)
        assert payload["permission_mode"] == "acceptEdits"
        assert payload["transcript_path"].endswith(".jsonl")
    assert pre_write["hook_event_name"] == "PreToolUse" and pre_write["tool_name"] == "Write"
    assert pre_write["tool_input"]["file_path"] == str(project / "a.txt")
    assert pre_write["tool_use_id"] == post_write["tool_use_id"] != ""
    assert post_write["tool_response"]["filePath"] == str(project / "a.txt")
    assert post_write["tool_response"]["type"] == "create"
    assert post_write["tool_response"]["content"] == "x\n"
    assert post_bash["tool_response"]["stdout"].strip() == "hello"
    assert post_bash["tool_response"]["interrupted"] is False
    assert stop["stop_hook_active"] is False
    assert stop["last_assistant_message"] == "all done"


async def test_a_bash_validator_that_exits_2_blocks_and_tells_the_model(
    tmp_path: Path, project: Path
) -> None:
    validator = script(
        tmp_path,
        "bash_validator.py",
        """
        import json, re, sys
        command = json.load(sys.stdin)["tool_input"].get("command", "")
        if re.search(r"\\bgrep\\b", command):
            print("Use 'rg' (ripgrep) instead of 'grep' for better performance", file=sys.stderr)
            sys.exit(2)
        """,
    )
    user_settings(tmp_path, {"hooks": {"PreToolUse": hook(validator, "Bash")}})
    marker = project / "ran"
    turns = [
        Turn.call(ToolCallSpec("Bash", {"command": f"grep x y; touch {marker}"})),
        Turn.say("ok"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "go", "--permission-mode", "bypassPermissions"],
            project,
            claw_env(tmp_path, server),
        )
        told = json.dumps(server.requests[1].body["messages"][-1])
    assert result.returncode == 0 and not marker.exists()
    assert "Use 'rg' (ripgrep) instead of 'grep'" in told


async def test_a_formatter_hook_does_not_break_the_next_edit(tmp_path: Path, project: Path) -> None:
    formatter = script(
        tmp_path,
        "format.py",
        """
        import json, re, sys
        path = json.load(sys.stdin)["tool_input"]["file_path"]
        text = open(path).read()
        text = re.sub(r"^  (?=\\S)", "    ", text, flags=re.M)
        open(path, "w").write(text.rstrip() + "\\n")
        """,
    )
    user_settings(tmp_path, {"hooks": {"PostToolUse": hook(formatter, "Write|Edit|MultiEdit")}})
    target = project / "app.py"
    turns = [
        Turn.call(
            ToolCallSpec("Write", {"file_path": str(target), "content": "def f():\n  return 1"})
        ),
        Turn.call(
            ToolCallSpec(
                "Edit",
                {"file_path": str(target), "old_string": "return 1", "new_string": "return 2"},
            )
        ),
        Turn.say("done"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "go", "--permission-mode", "acceptEdits"], project, claw_env(tmp_path, server)
        )
        after_write = json.dumps(server.requests[1].body["messages"][-1])
        after_edit = server.requests[2].body["messages"][-1]["content"][0]
    assert result.returncode == 0, result.stderr
    assert "changed by a PostToolUse hook" in after_write
    assert after_edit.get("is_error") is not True, after_edit
    assert target.read_text() == "def f():\n    return 2\n"


async def test_a_block_once_stop_hook_sees_stop_hook_active(tmp_path: Path, project: Path) -> None:
    log = tmp_path / "hooks.jsonl"
    block_once = script(
        tmp_path,
        "block_once.py",
        RECORD
        + """
if not payload["stop_hook_active"]:
    print(json.dumps({"decision": "block", "reason": "Run the tests before you stop."}))
""",
    )
    user_settings(tmp_path, {"hooks": {"Stop": hook(block_once)}})
    async with open_fake_model_server(Script([Turn.say("first"), Turn.say("tested")])) as server:
        result = await run_claw(
            ["-p", "go"], project, claw_env(tmp_path, server, HOOK_LOG=str(log))
        )
        sent_back = json.dumps(server.requests[1].body["messages"][-1])
        served = len(server.requests)
    assert result.returncode == 0, result.stderr
    assert served == 2 and "Run the tests before you stop." in sent_back
    assert [r["stop_hook_active"] for r in records(log)] == [False, True]


async def test_a_stop_block_with_an_empty_reason_still_blocks_once(
    tmp_path: Path, project: Path
) -> None:
    flag = tmp_path / "blocked-once"
    blocker = f'[ -e {flag} ] || {{ touch {flag}; echo \'{{"decision": "block"}}\'; }}'
    user_settings(tmp_path, {"hooks": {"Stop": hook(blocker)}})
    async with open_fake_model_server(Script([Turn.say("one"), Turn.say("two")])) as server:
        result = await run_claw(["-p", "go"], project, claw_env(tmp_path, server))
        served = len(server.requests)
    assert result.returncode == 0 and served == 2
    assert result.stdout.decode().strip() == "two"


async def test_session_start_context_matcher_and_env_file(tmp_path: Path, project: Path) -> None:
    (project / "context.md").write_text("The deploy branch is called trunk.\n")
    loader = (
        'cat "$CLAUDE_PROJECT_DIR/context.md"; '
        'echo "export GREETING=hello-from-hook" >> "$CLAUDE_ENV_FILE"'
    )
    user_settings(
        tmp_path,
        {
            "hooks": {
                "SessionStart": [
                    *hook(loader, "startup"),
                    *hook("echo 'this is a resumed session'", "resume"),
                ]
            }
        },
    )
    turns = [Turn.call(ToolCallSpec("Bash", {"command": "echo $GREETING"})), Turn.say("ok")]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "go", "--permission-mode", "bypassPermissions"],
            project,
            claw_env(tmp_path, server),
        )
        system = json.dumps(server.requests[0].body["system"])
        bash_result = json.dumps(server.requests[1].body["messages"][-1])
    assert result.returncode == 0, result.stderr
    assert "The deploy branch is called trunk." in system
    assert "resumed session" not in system
    assert "hello-from-hook" in bash_result


async def test_a_user_prompt_submit_injector_adds_context(tmp_path: Path, project: Path) -> None:
    injector = (
        """echo '{"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", """
        """"additionalContext": "Current sprint: payments."}}'"""
    )
    user_settings(tmp_path, {"hooks": {"UserPromptSubmit": hook(injector)}})
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        await run_claw(["-p", "what now?"], project, claw_env(tmp_path, server))
        first = json.dumps(server.requests[0].body["messages"][0])
    assert "what now?" in first and "Current sprint: payments." in first


async def test_a_blocked_prompt_is_a_clean_explained_end(tmp_path: Path, project: Path) -> None:
    blocker = "echo 'Prompts mentioning prod are not allowed here.' >&2; exit 2"
    user_settings(tmp_path, {"hooks": {"UserPromptSubmit": hook(blocker)}})
    async with open_fake_model_server(Script([Turn.say("never")])) as server:
        result = await run_claw(["-p", "deploy to prod"], project, claw_env(tmp_path, server))
        served = len(server.requests)
    assert served == 0
    assert result.returncode == 0
    assert "Prompts mentioning prod are not allowed here." in result.stdout.decode()


@pytest.mark.parametrize("event", ["PreToolUse", "PostToolUse", "Stop", "SessionStart"])
async def test_continue_false_stops_the_whole_run_from_any_event(
    tmp_path: Path, project: Path, event: str
) -> None:
    stopper = """echo '{"continue": false, "stopReason": "Build is red: fix CI first."}'"""
    user_settings(tmp_path, {"hooks": {event: hook(stopper)}})
    turns = [
        Turn.call(ToolCallSpec("Bash", {"command": "echo one"})),
        Turn.call(ToolCallSpec("Bash", {"command": "echo two"})),
        Turn.say("finished"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "go", "--output-format", "json", "--allowed-tools", "Bash(echo:*)"],
            project,
            claw_env(tmp_path, server),
        )
        served = len(server.requests)
    last = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert last["stop_reason"] == "hook_stopped", last
    assert last["result"] == "Build is red: fix CI first."
    assert served == {"SessionStart": 0, "PreToolUse": 1, "PostToolUse": 1, "Stop": 3}[event]
