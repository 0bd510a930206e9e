"""Claude Code command hooks: real scripts, every decision path, timeouts and crashes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import trio

from claw_runtime.config.settings import CommandHook, HookMatcher, Settings
from claw_runtime.loop import Agent, AgentOptions, RunResult
from claw_runtime.models import ToolResultBlock
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import FakeModelServer, Script, ToolCallSpec, Turn, open_fake_model_server


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def hooks(
    event: str, *commands: str, matcher: str = "", timeout: float | None = None
) -> dict[str, list[HookMatcher]]:
    return {
        event: [
            HookMatcher(
                matcher=matcher, hooks=[CommandHook(command=c, timeout=timeout) for c in commands]
            )
        ]
    }


async def run(
    tmp_path: Path,
    settings: Settings,
    turns: Sequence[Turn],
    mode: str = "default",
    prompt: str = "go",
    allow: Sequence[str] = ("Bash", "Write", "Edit"),
) -> tuple[RunResult, Agent, FakeModelServer]:
    async with open_fake_model_server(Script(list(turns))) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        async with open_runtime(settings, environ=env, no_plugins=True) as runtime:
            name, provider_settings = runtime.provider_settings()
            session = runtime.new_session(tmp_path)
            session.extras["transcript_path"] = str(tmp_path / "t.jsonl")
            agent = Agent(
                provider=runtime.make_provider(name, provider_settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=session,
                options=AgentOptions(
                    model=provider_settings.model,
                    permissions=PermissionPolicy.from_rules(mode, allow=allow, project=tmp_path),  # type: ignore[arg-type]
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
            )
            with trio.fail_after(60):
                result = await agent.run(prompt)
    return result, agent, server


def tool_result(agent: Agent, index: int = 0) -> ToolResultBlock:
    block = agent.messages[2].content[index]
    assert isinstance(block, ToolResultBlock)
    return block


def bash_turns(command: str) -> list[Turn]:
    return [Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("done")]


async def test_exit_2_blocks_the_call_and_stderr_reaches_the_model(tmp_path: Path) -> None:
    hook = script(tmp_path, "deny.sh", "echo 'no shell today' >&2\nexit 2\n")
    marker = tmp_path / "ran"
    result, agent, _ = await run(
        tmp_path,
        Settings(hooks=hooks("PreToolUse", hook, matcher="Bash")),
        bash_turns(f"touch {marker}"),
    )
    assert not marker.exists()
    block = tool_result(agent)
    assert block.is_error and block.text == "no shell today"
    assert result.permission_denials[0].reason == "no shell today"


async def test_json_permission_decisions_deny_allow_and_rewrite(tmp_path: Path) -> None:
    deny = script(
        tmp_path,
        "deny.sh",
        """
        echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "policy says no"}}'
    """,
    )
    _, agent, _ = await run(
        tmp_path, Settings(hooks=hooks("PreToolUse", deny)), bash_turns("echo hi")
    )
    assert tool_result(agent).text == "policy says no"

    allow = script(
        tmp_path,
        "allow.sh",
        """
        echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow"}}'
    """,
    )
    # default mode would deny Bash headless; the hook's allow lets it run
    _, agent, _ = await run(
        tmp_path,
        Settings(hooks=hooks("PreToolUse", allow)),
        bash_turns("echo allowed"),
        mode="default",
    )
    assert tool_result(agent).text == "allowed"

    rewrite = script(
        tmp_path,
        "rewrite.sh",
        """
        echo '{"hookSpecificOutput": {"hookEventName": "PreToolUse", "updatedInput": {"command": "echo rewritten"}}}'
    """,
    )
    _, agent, _ = await run(
        tmp_path, Settings(hooks=hooks("PreToolUse", rewrite)), bash_turns("echo original")
    )
    assert tool_result(agent).text == "rewritten"


async def test_hooks_get_claude_code_json_on_stdin_and_matchers_select_tools(
    tmp_path: Path,
) -> None:
    log = tmp_path / "stdin.jsonl"
    record = script(tmp_path, "record.sh", f"cat >> {log}\necho >> {log}\n")
    (tmp_path / "a.txt").write_text("x")
    turns = [
        Turn.call(
            ToolCallSpec("Read", {"file_path": "a.txt"}), ToolCallSpec("Bash", {"command": "true"})
        ),
        Turn.say("done"),
    ]
    await run(tmp_path, Settings(hooks=hooks("PreToolUse", record, matcher="Bash|Write")), turns)
    [payload] = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert payload["hook_event_name"] == "PreToolUse"
    assert payload["tool_name"] == "Bash" and payload["tool_input"] == {"command": "true"}
    assert payload["cwd"] == str(tmp_path)
    assert payload["transcript_path"] == str(tmp_path / "t.jsonl")
    assert len(payload["session_id"]) == 36


async def test_post_tool_use_adds_context(tmp_path: Path) -> None:
    context = script(
        tmp_path,
        "ctx.sh",
        """
        echo '{"hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": "lint: 2 warnings"}}'
    """,
    )
    complain = script(tmp_path, "complain.sh", "echo 'formatting is off' >&2\nexit 2\n")
    _, agent, _ = await run(
        tmp_path, Settings(hooks=hooks("PostToolUse", context, complain)), bash_turns("echo out")
    )
    text = tool_result(agent).text
    assert text.startswith("out")
    assert "lint: 2 warnings" in text and "formatting is off" in text


async def test_user_prompt_submit_context_and_blocking(tmp_path: Path) -> None:
    add = script(tmp_path, "add.sh", "echo 'Current sprint: parser rewrite'\n")
    _, _, server = await run(
        tmp_path, Settings(hooks=hooks("UserPromptSubmit", add)), [Turn.say("ok")], prompt="hello"
    )
    assert (
        "Current sprint: parser rewrite"
        in server.requests[0].body["messages"][0]["content"][0]["text"]
    )

    block = script(tmp_path, "block.sh", "echo 'prompt contains a secret' >&2\nexit 2\n")
    result, _, server = await run(
        tmp_path, Settings(hooks=hooks("UserPromptSubmit", block)), [Turn.say("never")]
    )
    assert (result.stop_reason, result.result) == ("blocked", "prompt contains a secret")
    assert server.requests == []


async def test_stop_hook_sends_the_model_back_once(tmp_path: Path) -> None:
    flag = tmp_path / "asked"
    insist = script(
        tmp_path,
        "insist.sh",
        f"""
        if [ ! -e {flag} ]; then touch {flag}; echo 'run the tests first' >&2; exit 2; fi
    """,
    )
    result, _, server = await run(
        tmp_path, Settings(hooks=hooks("Stop", insist)), [Turn.say("done?"), Turn.say("tests pass")]
    )
    assert result.result == "tests pass" and len(server.requests) == 2
    assert server.requests[1].body["messages"][-1]["content"][0]["text"] == "run the tests first"


async def test_a_crashing_or_hanging_hook_is_reported_and_fails_open_by_default(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "hook.pid"
    hang = script(tmp_path, "hang.sh", f"echo $$ > {pidfile}\nsleep 300\n")
    crash = script(tmp_path, "crash.sh", "echo boom >&2\nexit 1\n")
    settings = Settings(hooks=hooks("PreToolUse", hang, crash, timeout=0.5))
    _, agent, _ = await run(tmp_path, settings, bash_turns("echo still ran"))
    assert tool_result(agent).text == "still ran"
    pid = int(pidfile.read_text())
    with trio.fail_after(5):
        while (
            Path(f"/proc/{pid}").exists()
            and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        ):
            await trio.sleep(0.05)


async def test_fail_closed_setting_denies_when_a_pre_tool_hook_fails(tmp_path: Path) -> None:
    crash = script(tmp_path, "crash.sh", "exit 1\n")
    marker = tmp_path / "ran"
    settings = Settings(hooks=hooks("PreToolUse", crash), hook_failure="closed")
    _, agent, _ = await run(tmp_path, settings, bash_turns(f"touch {marker}"))
    assert not marker.exists()
    assert "hooks fail closed" in tool_result(agent).text


async def test_hooks_for_one_event_run_in_parallel(tmp_path: Path) -> None:
    # Each waits for the other's file: only parallel hooks can both finish.
    a, b = tmp_path / "a.flag", tmp_path / "b.flag"
    first = script(
        tmp_path,
        "first.sh",
        f"touch {a}\nfor i in $(seq 100); do [ -e {b} ] && exit 0; sleep 0.05; done\nexit 1\n",
    )
    second = script(
        tmp_path,
        "second.sh",
        f"touch {b}\nfor i in $(seq 100); do [ -e {a} ] && exit 0; sleep 0.05; done\nexit 1\n",
    )
    settings = Settings(hooks=hooks("PreToolUse", first, second), hook_failure="closed")
    _, agent, _ = await run(tmp_path, settings, bash_turns("echo both passed"))
    assert tool_result(agent).text == "both passed"


async def test_session_hooks_run_through_the_cli(tmp_path: Path) -> None:
    log = tmp_path / "events.log"
    record = script(
        tmp_path,
        "record.sh",
        f"python3 -c 'import json,sys; print(json.load(sys.stdin)[\"hook_event_name\"])' >> {log}\n",
    )
    settings_dir = tmp_path / ".claw"
    settings_dir.mkdir()
    (settings_dir / "settings.json").write_text(
        json.dumps(
            {
                "hooks": {
                    event: [{"hooks": [{"type": "command", "command": record}]}]
                    for event in ("SessionStart", "SessionEnd", "UserPromptSubmit", "Stop")
                }
            }
        )
    )
    async with open_fake_model_server(Script([Turn.say("hi")])) as server:
        env = {
            **os.environ,
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "k",
            "CLAW_CONFIG_DIR": str(tmp_path / "home"),
            "HOME": str(tmp_path),
        }
        untrusted = await trio.run_process(
            [sys.executable, "-m", "claw_runtime", "-p", "x"],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
        )
        assert not log.exists()
        assert b"ignored until you trust this project: hooks" in untrusted.stderr
    async with open_fake_model_server(Script([Turn.say("hi")])) as server:
        env["ANTHROPIC_BASE_URL"] = server.base_url
        await trio.run_process(
            [sys.executable, "-m", "claw_runtime", "-p", "x", "--trust"],
            cwd=tmp_path,
            env=env,
            capture_stdout=True,
        )
    assert log.read_text().split() == ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"]
