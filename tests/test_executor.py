"""ToolExecutor: one pipeline for every tool call, in the loop and in ``claw tools call``.

The in-process tests build a real plugin host (built-ins plus the plugins
below) and a real permission policy, and send ``tool_use`` blocks through
:meth:`ToolExecutor.execute`; the CLI tests run ``claw tools call`` in a
subprocess with hooks and rules in the user's settings.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from claw_runtime.config.settings import Settings
from claw_runtime.events import Event, ToolCallFinished, ToolCallStarted
from claw_runtime.executor import Approval, PermissionDenial, ToolExecution, ToolExecutor
from claw_runtime.hooks.decisions import PostToolUseOutcome, PreToolUseDecision, ToolCall
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.models import TextBlock, ToolResultBlock, ToolUseBlock
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import load_plugins, open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.tooling import SessionState, tool

from _harness import claw_env, run_claw


def tools_plugin(ran: list[str]) -> object:
    """Peek (read-only) and Poke (changes things), each recording the key it ran with."""

    @tool(name="Peek", read_only=True)
    async def peek(key: str) -> str:
        """Look at something."""
        ran.append(f"peek:{key}")
        return f"value of {key}"

    @tool(name="Poke")
    async def poke(key: str) -> str:
        """Change something."""
        ran.append(f"poke:{key}")
        return f"poked {key}"

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(peek)
            register(poke)

    return Plugin()


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def executor(
    tmp_path: Path,
    plugins: Sequence[tuple[str, object]],
    *,
    mode: str = "bypassPermissions",
    recorder: Recorder | None = None,
    approver: Any = None,
) -> ToolExecutor:
    host, registry = load_plugins(Settings(), no_plugins=True, extra_plugins=plugins)
    return ToolExecutor(
        tools=registry.tools,
        host=host,
        session=SessionState(session_id="s", cwd=tmp_path),
        permissions=PermissionPolicy.from_rules(mode, project=tmp_path),  # type: ignore[arg-type]
        approver=approver,
        publish=recorder.publish if recorder is not None else None,
    )


async def execute(ex: ToolExecutor, name: str, tool_input: dict[str, Any]) -> ToolExecution:
    with trio.fail_after(30):
        return await ex.execute(ToolUseBlock(id="tu_1", name=name, input=tool_input))


async def test_pre_tool_use_rewrites_chain_through_plugins_in_call_order(tmp_path: Path) -> None:
    ran: list[str] = []
    seen: list[tuple[str, str]] = []

    class Rewrite:
        def __init__(self, name: str, old: str, new: str) -> None:
            self.name, self.old, self.new = name, old, new

        @hookimpl
        def pre_tool_use(self, call: ToolCall) -> PreToolUseDecision | None:
            seen.append((self.name, call.input["key"]))
            if call.input["key"] == self.old:
                return PreToolUseDecision(updated_input={"key": self.new})
            return None

    recorder = Recorder()
    # pluggy calls the last registered first: "second" sees what "first" left.
    plugins = [
        ("tools", tools_plugin(ran)),
        ("second", Rewrite("second", "b", "c")),
        ("first", Rewrite("first", "a", "b")),
    ]
    execution = await execute(executor(tmp_path, plugins, recorder=recorder), "Peek", {"key": "a"})
    assert seen == [("first", "a"), ("second", "b")]
    assert ran == ["peek:c"]
    assert execution.result.text == "value of c" and not execution.result.is_error
    assert execution.denial is None and execution.end_run is None
    [started] = recorder.of(ToolCallStarted)
    assert started.input == {"key": "c"}  # what ran, not what was asked


async def test_a_deny_hook_gives_one_error_result_and_a_denial(tmp_path: Path) -> None:
    ran: list[str] = []

    class Guard:
        @hookimpl
        def pre_tool_use(self, call: ToolCall) -> PreToolUseDecision:
            return PreToolUseDecision(decision="deny", reason="not on Fridays")

    recorder = Recorder()
    plugins = [("tools", tools_plugin(ran)), ("guard", Guard())]
    # bypassPermissions would let anything run: the hook's deny still wins.
    ex = executor(tmp_path, plugins, recorder=recorder)
    execution = await execute(ex, "Poke", {"key": "x"})
    assert ran == []
    assert execution.result == ToolResultBlock(
        tool_use_id="tu_1", content=(TextBlock(text="not on Fridays"),), is_error=True
    )
    assert execution.denial == PermissionDenial(
        tool_name="Poke", tool_use_id="tu_1", tool_input={"key": "x"}, reason="not on Fridays"
    )
    assert not execution.needed_approval
    assert recorder.events == []  # nothing started, nothing finished


async def test_an_unknown_tool_is_an_error_result_naming_the_known_ones(tmp_path: Path) -> None:
    ran: list[str] = []
    recorder = Recorder()
    ex = executor(tmp_path, [("tools", tools_plugin(ran))], recorder=recorder)
    execution = await execute(ex, "Nope", {"key": "x"})
    assert execution.result.is_error and execution.result.tool_use_id == "tu_1"
    assert execution.result.text.startswith("No such tool: Nope. Available tools: ")
    assert "Peek, Poke" in execution.result.text
    assert execution.denial is None and recorder.events == [] and ran == []


async def test_a_disabled_plugins_tool_is_unavailable(tmp_path: Path) -> None:
    ran: list[str] = []

    @tool(name="Flaky", read_only=True)
    async def flaky() -> str:
        """Never gets to run once its plugin is disabled."""
        ran.append("flaky")
        return "ran"

    class Flaky:
        """Registers a tool, then breaks in a hook: claw disables the whole plugin."""

        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(flaky)

        @hookimpl
        def pre_tool_use(self, call: ToolCall) -> None:
            raise RuntimeError("hook bug")

    ex = executor(tmp_path, [("tools", tools_plugin(ran)), ("flaky", Flaky())])
    first = await execute(ex, "Peek", {"key": "a"})
    assert first.result.text == "value of a"  # the broken hook did not stop Peek
    assert not ex.host.is_active("flaky")
    execution = await execute(ex, "Flaky", {})
    assert execution.result.is_error
    assert execution.result.text == (
        "Tool Flaky is unavailable: its plugin 'flaky' failed and was disabled for this run."
    )
    assert ran == ["peek:a"]


async def test_a_post_hook_replaces_the_result(tmp_path: Path) -> None:
    ran: list[str] = []
    given: list[str] = []

    class Redact:
        @hookimpl
        def post_tool_use(self, call: ToolCall, result: ToolResultBlock) -> PostToolUseOutcome:
            given.append(result.text)
            replacement = ToolResultBlock(
                tool_use_id="whatever", content=(TextBlock(text="[redacted]"),)
            )
            return PostToolUseOutcome(replace_result=replacement, end_run="seen enough")

    recorder = Recorder()
    plugins = [("tools", tools_plugin(ran)), ("redact", Redact())]
    ex = executor(tmp_path, plugins, recorder=recorder)
    execution = await execute(ex, "Peek", {"key": "secret"})
    assert given == ["value of secret"]
    assert execution.result == ToolResultBlock(
        tool_use_id="tu_1", content=(TextBlock(text="[redacted]"),)
    )
    assert execution.end_run == "seen enough"
    [finished] = recorder.of(ToolCallFinished)
    assert finished.result == execution.result


async def test_without_an_approver_a_call_that_asks_is_denied(tmp_path: Path) -> None:
    ran: list[str] = []
    ex = executor(tmp_path, [("tools", tools_plugin(ran))], mode="default")
    execution = await execute(ex, "Poke", {"key": "x"})
    assert ran == [] and execution.needed_approval
    assert execution.denial is not None
    assert execution.denial.reason.startswith("Permission to use Poke was not granted.")
    assert execution.result.text == execution.denial.reason


async def test_yes_always_is_remembered_for_the_session(tmp_path: Path) -> None:
    ran: list[str] = []
    asked: list[str] = []

    async def approver(call: ToolCall, reason: str) -> Approval:
        asked.append(call.input["key"])
        return Approval(allowed=True, remember_rule="Poke")

    ex = executor(tmp_path, [("tools", tools_plugin(ran))], mode="default", approver=approver)
    for key in ("one", "two"):
        execution = await execute(ex, "Poke", {"key": key})
        assert execution.denial is None
    assert asked == ["one"]
    assert ran == ["poke:one", "poke:two"]
    assert [rule.text for rule in ex.permissions.allow] == ["Poke"]


async def test_the_agent_keeps_an_always_rule_across_calls_and_runs(tmp_path: Path) -> None:
    ran: list[str] = []
    asked: list[str] = []

    async def approver(call: ToolCall, reason: str) -> Approval:
        asked.append(call.input["key"])
        return Approval(allowed=True, remember_rule="Poke")

    turns = [
        Turn.call(ToolCallSpec("Poke", {"key": "one"})),
        Turn.call(ToolCallSpec("Poke", {"key": "two"})),
        Turn.say("done"),
        Turn.call(ToolCallSpec("Poke", {"key": "three"})),
        Turn.say("done again"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        environ = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        async with open_runtime(
            Settings(), environ=environ, no_plugins=True, extra_plugins=[("t", tools_plugin(ran))]
        ) as runtime:
            name, settings = runtime.provider_settings("anthropic")
            agent = Agent(
                provider=runtime.make_provider(name, settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=runtime.new_session(tmp_path),
                options=AgentOptions(
                    model=settings.model,
                    permissions=PermissionPolicy.from_rules("default", project=tmp_path),
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
            )
            agent.approver = approver  # attached after construction, as sessions do
            with trio.fail_after(30):
                first = await agent.run("go")
                second = await agent.run("again")
    assert (first.result, second.result) == ("done", "done again")
    assert asked == ["one"]
    assert ran == ["poke:one", "poke:two", "poke:three"]
    assert first.permission_denials == () and second.permission_denials == ()
    assert [rule.text for rule in agent.executor.permissions.allow] == ["Poke"]


# ------------------------------------------------------------ claw tools call


def user_settings(tmp_path: Path, settings: dict[str, Any]) -> None:
    path = tmp_path / "claw-home" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))


def hook_script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def hooks(event: str, command: str, matcher: str = "") -> dict[str, Any]:
    return {event: [{"matcher": matcher, "hooks": [{"type": "command", "command": command}]}]}


RECORD = """
import json, os, sys
with open(os.environ["HOOK_LOG"], "a") as log:
    log.write(json.dumps(json.load(sys.stdin)) + "\\n")
"""


def project_dir(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


async def test_tools_call_runs_the_command_hooks_from_settings(tmp_path: Path) -> None:
    project = project_dir(tmp_path)
    log = tmp_path / "hooks.jsonl"
    recorder = hook_script(tmp_path, "record.py", RECORD)
    user_settings(
        tmp_path, {"hooks": {**hooks("PreToolUse", recorder), **hooks("PostToolUse", recorder)}}
    )
    target = project / "a.txt"
    tool_input = {"file_path": str(target), "content": "x\n"}
    result = await run_claw(
        ["tools", "call", "Write", "--input", json.dumps(tool_input)],
        project,
        claw_env(tmp_path, HOOK_LOG=str(log)),
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "x\n"
    pre, post = (json.loads(line) for line in log.read_text().splitlines())
    assert (pre["hook_event_name"], pre["tool_name"]) == ("PreToolUse", "Write")
    assert pre["tool_input"] == tool_input
    assert pre["permission_mode"] == "default" and pre["cwd"] == str(project)
    assert post["hook_event_name"] == "PostToolUse"
    assert post["tool_response"]["filePath"] == str(target)


async def test_tools_call_is_stopped_by_a_pre_tool_use_hook(tmp_path: Path) -> None:
    project = project_dir(tmp_path)
    block = hook_script(
        tmp_path,
        "block.py",
        """
        import sys
        print("no shell from scripts,\\nplease", file=sys.stderr)
        sys.exit(2)
        """,
    )
    user_settings(tmp_path, {"hooks": hooks("PreToolUse", block, matcher="Bash")})
    marker = project / "ran"
    result = await run_claw(
        ["tools", "call", "Bash", "--input", json.dumps({"command": f"touch {marker}"})],
        project,
        claw_env(tmp_path),
    )
    assert result.returncode == 1 and not marker.exists()
    assert result.stdout == b""
    assert result.stderr.decode() == "claw: Bash was not run: no shell from scripts, please\n"


async def test_tools_call_is_refused_by_a_deny_rule_in_settings(tmp_path: Path) -> None:
    project = project_dir(tmp_path)
    user_settings(tmp_path, {"permissions": {"deny": ["Bash(touch:*)"]}})
    marker = project / "ran"
    result = await run_claw(
        ["tools", "call", "Bash", "--input", json.dumps({"command": f"touch {marker}"})],
        project,
        claw_env(tmp_path),
    )
    assert result.returncode == 1 and not marker.exists()
    assert result.stdout == b""
    assert result.stderr.decode() == (
        "claw: Bash was not run: Bash is denied by the rule Bash(touch:*).\n"
    )


async def test_tools_call_refuses_what_needs_approval_and_says_how(tmp_path: Path) -> None:
    project = project_dir(tmp_path)
    user_settings(tmp_path, {"permissions": {"ask": ["Write"]}})
    target = project / "a.txt"
    args = ["tools", "call", "Write", "--input", json.dumps({"file_path": "a.txt", "content": "x"})]
    refused = await run_claw(args, project, claw_env(tmp_path))
    assert refused.returncode == 1 and not target.exists()
    [line] = refused.stderr.decode().splitlines()
    assert line.startswith("claw: Write was not run: The rule Write asks before Write runs.")
    assert "no one to ask" in line and "--permission-mode" in line
    # bypassPermissions skips ask rules: the same call runs.
    allowed = await run_claw(
        [*args, "--permission-mode", "bypassPermissions"], project, claw_env(tmp_path)
    )
    assert allowed.returncode == 0, allowed.stderr
    assert target.read_text() == "x"
