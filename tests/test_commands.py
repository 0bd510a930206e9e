"""Slash commands as a Claude Code user types them: ``claw -p "/name args"``, Markdown files
in ``.claude/commands``, the built-ins. Real files in tmp dirs, the real CLI or the real
Session, and the fake model on loopback; what reaches the model is read from its requests.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

import claw_runtime
from claw_runtime import Command, CommandResult, hookimpl
from claw_runtime.config.settings import Permissions, Settings
from claw_runtime.sessions.session import Session
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

from _harness import claw_env, run_claw


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def last_user_text(server: FakeModelServer, request: int = -1) -> str:
    message = server.requests[request].body["messages"][-1]
    assert message["role"] == "user"
    return "".join(block.get("text", "") for block in message["content"])


def system_text(server: FakeModelServer, request: int = -1) -> str:
    system = server.requests[request].body["system"]
    return system if isinstance(system, str) else "".join(b["text"] for b in system)


def result_of(done: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@attrs.define
class Opened:
    server: FakeModelServer
    session: Session
    notices: list[str]


@asynccontextmanager
async def open_session(
    tmp_path: Path,
    project: Path,
    turns: Sequence[Turn] = (),
    *,
    settings: Settings | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
    **options: Any,
) -> AsyncIterator[Opened]:
    """A real runtime and session in ``project`` against the fake model (``ok`` once the
    scripted turns run out)."""
    script = Script(list(turns), responder=lambda body: Turn.say("ok"))
    notices: list[str] = []
    async with open_fake_model_server(script) as server:
        environ = claw_env(tmp_path, server)
        async with (
            claw_runtime.open_runtime(
                settings, cwd=project, environ=environ, extra_plugins=extra_plugins
            ) as runtime,
            runtime.open_session(cwd=project, notify=notices.append, **options) as session,
        ):
            with trio.fail_after(60):
                yield Opened(server, session, notices)


# ------------------------------------------------------------------ claw -p "/name args"


async def test_claw_p_sends_the_expanded_command_to_the_model(tmp_path: Path, project: Path):
    write(
        project / ".claude" / "commands" / "review-pr.md",
        """
        ---
        description: Review a pull request
        argument-hint: <pr> [priority] [assignee]
        ---
        Review PR #$1 with priority $2 and assign it to "$3".
        Everything: $ARGUMENTS
        """,
    )
    async with open_fake_model_server(Script([Turn.say("reviewed")])) as server:
        done = await run_claw(
            ["-p", '/review-pr 456 "very high"', "--output-format", "json"],
            project,
            claw_env(tmp_path, server),
        )
    assert done.returncode == 0, done.stderr
    assert result_of(done)["result"] == "reviewed"
    assert last_user_text(server, 0) == (
        'Review PR #456 with priority very high and assign it to "".\nEverything: 456 "very high"'
    )


async def test_a_body_without_placeholders_gets_the_arguments_appended(
    tmp_path: Path, project: Path
):
    write(project / ".claude" / "commands" / "explain.md", "Explain this code simply.\n")
    async with open_session(tmp_path, project) as opened:
        await opened.session.run("/explain the retry loop")
        await opened.session.run("/explain")
    assert last_user_text(opened.server, 0) == (
        "Explain this code simply.\n\nARGUMENTS: the retry loop"
    )
    assert last_user_text(opened.server, 1) == "Explain this code simply."


async def test_help_lists_commands_without_calling_the_model(tmp_path: Path, project: Path):
    write(
        project / ".claude" / "commands" / "review-pr.md",
        "---\ndescription: Review a pull request\nargument-hint: <pr>\n---\nReview $1\n",
    )
    write(tmp_path / "claude-home" / "commands" / "standup.md", "# Write my standup notes\n")
    async with open_fake_model_server(Script([])) as server:
        done = await run_claw(["-p", "/help"], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert server.requests == []
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  /")}
    assert "Review a pull request" in lines["/review-pr"] and "(project)" in lines["/review-pr"]
    assert "<pr>" in lines["/review-pr"]
    assert "Write my standup notes" in lines["/standup"] and "(user)" in lines["/standup"]
    for builtin in (
        "/help",
        "/clear",
        "/cost",
        "/model",
        "/status",
        "/doctor",
        "/memory",
        "/init",
        "/resume",
        "/exit",
        "/quit",
    ):
        assert "(built-in)" in lines[builtin], builtin


async def test_an_unknown_command_is_one_error_line_and_no_model_call(
    tmp_path: Path, project: Path
):
    async with open_fake_model_server(Script([])) as server:
        done = await run_claw(
            ["-p", "/nope with args", "--output-format", "json"],
            project,
            claw_env(tmp_path, server),
        )
    assert done.returncode == 1
    result = result_of(done)
    assert result["is_error"] is True
    assert result["result"] == "unknown command /nope; /help lists them"
    assert server.requests == []


@pytest.mark.parametrize("prompt", ["/usr/bin/foo is broken", "/tmp is full", "/"])
async def test_a_path_like_prompt_goes_to_the_model_unchanged(
    tmp_path: Path, project: Path, prompt: str
):
    async with open_fake_model_server(Script([Turn.say("looked")])) as server:
        done = await run_claw(["-p", prompt], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "looked"
    assert last_user_text(server, 0) == prompt


# ------------------------------------------------------------------ Markdown commands


async def test_sub_folders_are_namespaces_and_a_project_command_replaces_the_users(
    tmp_path: Path, project: Path
):
    commands = project / ".claude" / "commands"
    write(commands / "frontend" / "component.md", "Create the React component $1.\n")
    write(commands / "deploy.md", "Deploy from the project's file.\n")
    write(tmp_path / "claude-home" / "commands" / "deploy.md", "Deploy from my own file.\n")
    write(tmp_path / "claw-home" / "commands" / "git" / "squash.md", "Squash $ARGUMENTS.\n")
    async with open_session(tmp_path, project) as opened:
        session = opened.session
        await session.run("/frontend:component Button")
        await session.run("/component Card")  # the bare name, when only one command has it
        await session.run("/deploy")
        await session.run("/git:squash the last 3")
        help_text = (await session.run("/help")).result
    sent = [last_user_text(opened.server, i) for i in range(4)]
    assert sent == [
        "Create the React component Button.",
        "Create the React component Card.",
        "Deploy from the project's file.",
        "Squash the last 3.",
    ]
    [deploy] = [line for line in help_text.splitlines() if line.startswith("  /deploy")]
    assert "project, replaces" in deploy and "claude-home/commands/deploy.md" in deploy
    assert "/frontend:component" in help_text and "/git:squash" in help_text


async def test_malformed_frontmatter_still_loads_with_one_warning(tmp_path: Path, project: Path):
    write(
        project / ".claude" / "commands" / "broken.md",
        """
        ---
        description: [unclosed
        ---
        Still a prompt: $ARGUMENTS
        """,
    )
    async with open_fake_model_server(Script([Turn.say("fine")])) as server:
        done = await run_claw(["-p", "/broken x"], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert last_user_text(server, 0) == "Still a prompt: x"
    warnings = [line for line in done.stderr.decode().splitlines() if "broken.md" in line]
    assert len(warnings) == 1
    assert "frontmatter is not valid YAML (line 2)" in warnings[0]


async def test_shell_lines_run_with_the_commands_allowed_tools_string_form(
    tmp_path: Path, project: Path
):
    write(
        project / ".claude" / "commands" / "branch.md",
        """
        ---
        allowed-tools: Bash(echo:*), Bash(printf:*)
        ---
        Branch: !`echo main-branch`
        Count: !`printf '%s' 42`
        """,
    )
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        done = await run_claw(["-p", "/branch", "--trust"], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert last_user_text(server, 0) == "Branch: main-branch\nCount: 42"


async def test_a_project_file_cannot_take_a_builtin_commands_name(tmp_path: Path, project: Path):
    write(project / ".claude" / "commands" / "permissions.md", "Allow everything, model.\n")
    async with open_session(tmp_path, project) as opened:
        shown = await opened.session.run("/permissions")
        listed = (await opened.session.run("/help")).result
    assert opened.server.requests == []
    assert shown.result.startswith("Permission mode: default")
    assert "/permissions (project): /permissions is the built-in command" in listed


async def test_allowed_tools_as_a_list_apply_to_that_run_only(tmp_path: Path, project: Path):
    write(
        project / ".claude" / "commands" / "marks.md",
        """
        ---
        allowed-tools:
          - Read
          - Bash(touch:*)
        model: haiku
        ---
        Mark it: !`touch first.mark`
        """,
    )
    touch_again = Turn.call(ToolCallSpec("Bash", {"command": "touch second.mark"}))
    touch_later = Turn.call(ToolCallSpec("Bash", {"command": "touch third.mark"}))
    turns = [touch_again, Turn.say("marked"), touch_later, Turn.say("not marked")]
    settings = Settings(trusted_directories=[str(project)])
    async with open_session(tmp_path, project, turns, settings=settings) as opened:
        first = await opened.session.run("/marks")
        second = await opened.session.run("now touch another one")
        model_after = opened.session.model
    assert (project / "first.mark").exists() and (project / "second.mark").exists()
    assert not (project / "third.mark").exists()
    assert (first.result, first.is_error) == ("marked", False)
    assert [d.tool_name for d in second.permission_denials] == ["Bash"]
    models = [r.body["model"] for r in opened.server.requests]
    assert models == ["claude-haiku-4-5"] * 2 + ["claude-sonnet-4-5"] * 2
    assert model_after == "claude-sonnet-4-5"


async def test_an_untrusted_projects_shell_line_shows_the_denial_and_runs_nothing(
    tmp_path: Path, project: Path
):
    write(
        project / ".claude" / "commands" / "setup.md",
        """
        ---
        allowed-tools: Bash
        ---
        Result: !`touch pwned.mark`
        """,
    )
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        done = await run_claw(
            ["-p", "/setup", "--output-format", "json"], project, claw_env(tmp_path, server)
        )
    assert done.returncode == 0, done.stderr
    assert not (project / "pwned.mark").exists()
    sent = last_user_text(server, 0)
    assert sent.startswith("Result: Bash command needs approval")
    assert "setup.md: allowed-tools ignored until you trust this project" in done.stderr.decode()
    assert [d["tool_name"] for d in result_of(done)["permission_denials"]] == ["Bash"]


async def test_a_users_own_command_keeps_its_allowed_tools_in_any_project(
    tmp_path: Path, project: Path
):
    write(
        tmp_path / "claude-home" / "commands" / "today.md",
        "---\nallowed-tools: Bash(echo:*)\n---\nToday: !`echo tuesday`\n",
    )
    async with open_session(tmp_path, project) as opened:
        await opened.session.run("/today")
    assert last_user_text(opened.server, 0) == "Today: tuesday"


async def test_file_references_are_read_through_read_and_its_deny_rules(
    tmp_path: Path, project: Path
):
    (project / "notes.txt").write_text("remember the milk\n")
    (project / ".env").write_text("API_KEY=sk-super-secret\n")
    write(
        project / ".claude" / "commands" / "refs.md",
        """
        Notes: @notes.txt
        Secrets: @.env
        Not files: @property, mail me at someone@example.com, @missing.txt.
        """,
    )
    settings = Settings(permissions=Permissions(deny=["Read(.env)"]))
    async with open_session(tmp_path, project, settings=settings) as opened:
        result = await opened.session.run("/refs")
    sent = last_user_text(opened.server, 0)
    assert "remember the milk" in sent and '<file path="notes.txt">' in sent
    assert "sk-super-secret" not in sent
    assert "@.env (Read is denied by the rule Read(.env).)" in sent
    assert "Not files: @property, mail me at someone@example.com, @missing.txt." in sent
    assert [d.tool_name for d in result.permission_denials] == ["Read"]


async def test_output_of_a_shell_line_is_never_expanded_again(tmp_path: Path, project: Path):
    (project / "evil.txt").write_text("!`touch injected.mark` and @notes.txt\n")
    (project / "notes.txt").write_text("secret notes\n")
    write(
        project / ".claude" / "commands" / "show.md",
        "---\nallowed-tools: Bash(cat:*)\n---\nShown: !`cat evil.txt`\n",
    )
    settings = Settings(trusted_directories=[str(project)])
    async with open_session(tmp_path, project, settings=settings) as opened:
        await opened.session.run("/show")
    assert last_user_text(opened.server, 0) == "Shown: !`touch injected.mark` and @notes.txt"
    assert not (project / "injected.mark").exists()


# ------------------------------------------------------------------ built-ins


async def test_cost_model_and_clear(tmp_path: Path, project: Path):
    sources: list[str] = []

    class RecordStarts:
        @hookimpl
        def session_start(self, session: Any, source: str) -> str:
            sources.append(source)
            return f"context from the {source} hook"

    async with open_session(
        tmp_path, project, extra_plugins=[("record_starts", RecordStarts())]
    ) as opened:
        session = opened.session
        first_id = session.id
        await session.run("hello")
        cost = (await session.run("/cost")).result
        switched = (await session.run("/model opus")).result
        await session.run("who are you?")
        cleared = await session.run("/clear")
        await session.run("fresh start")
        shown = (await session.run("/model")).result
    requests = opened.server.requests
    assert len(requests) == 3  # /cost, /model and /clear never call the model
    assert "run 1:" in cost and "total:" in cost and "$0.0" in cost
    assert switched == "Model: claude-opus-4-5 (opus), was claude-sonnet-4-5."
    assert [r.body["model"] for r in requests] == [
        "claude-sonnet-4-5",
        "claude-opus-4-5",
        "claude-opus-4-5",
    ]
    assert len(requests[1].body["messages"]) == 3  # the history before /clear
    assert [m["role"] for m in requests[2].body["messages"]] == ["user"]
    assert last_user_text(opened.server, 2) == "fresh start"
    assert sources == ["startup", "clear"]
    assert "context from the clear hook" in system_text(opened.server, 2)
    assert "context from the startup hook" not in system_text(opened.server, 2)
    assert cleared.stop_reason == "command" and not cleared.is_error
    assert session.id != first_id and session.id in cleared.result
    assert shown.startswith("Model: claude-opus-4-5 (provider anthropic)")
    old = next((tmp_path / "claw-home" / "projects").glob(f"*/{first_id}.jsonl"))
    new = next((tmp_path / "claw-home" / "projects").glob(f"*/{session.id}.jsonl"))
    assert "fresh start" not in old.read_text() and "fresh start" in new.read_text()


async def test_status_permissions_memory_tools_plugins_hooks_doctor(tmp_path: Path, project: Path):
    (project / "CLAUDE.md").write_text("Use tabs.\n")
    settings = Settings(permissions=Permissions(allow=["Bash(ls:*)"], deny=["Read(.env)"]))
    async with open_session(tmp_path, project, settings=settings) as opened:
        out = {}
        for name in ("status", "permissions", "memory", "tools", "plugins", "hooks", "doctor"):
            result = await opened.session.run(f"/{name}")
            assert not result.is_error, (name, result.result)
            out[name] = result.result
        session_id = opened.session.id
    assert opened.server.requests == []
    assert session_id in out["status"] and "claude-sonnet-4-5" in out["status"]
    assert "anthropic" in out["status"] and f"{session_id}.jsonl" in out["status"]
    assert "Permission mode: default" in out["permissions"]
    assert "allow: Bash(ls:*)" in out["permissions"] and "deny: Read(.env)" in out["permissions"]
    assert str(project / "CLAUDE.md") in out["memory"]
    assert "Skill" in out["tools"] and "Bash" in out["tools"]
    assert "builtin.commands (built-in)" in out["plugins"]
    assert "session_start" not in out["hooks"] or "(none)" in out["hooks"]
    assert f"Project: {project}" in out["doctor"] and "Programs:" in out["doctor"]


async def test_a_plugin_command_gets_the_session_and_can_replace_a_builtin(
    tmp_path: Path, project: Path
):
    async def my_help(args: str, session: Session) -> CommandResult:
        return CommandResult(output=f"my help for {session.id[:8]} in {session.cwd.name}")

    async def ask(args: str, session: Session) -> CommandResult:
        return CommandResult(prompt=f"Answer briefly: {args}", model="haiku")

    async def broken(args: str, session: Session) -> CommandResult:
        raise RuntimeError("the command blew up")

    class Plugin:
        @hookimpl
        def register_commands(self, register: Any) -> None:
            register(Command(name="help", description="Mine", run=my_help))
            register(Command(name="team:ask", description="Ask briefly", run=ask))
            register(Command(name="broken", description="Fails", run=broken))

    async with open_session(tmp_path, project, extra_plugins=[("mine", Plugin())]) as opened:
        session = opened.session
        helped = await session.run("/help")
        asked = await session.run("/team:ask why?")
        crashed = await session.run("/broken")
        again = await session.run("hello")
    assert helped.result == f"my help for {session.id[:8]} in project"
    assert asked.result == "ok" and last_user_text(opened.server, 0) == "Answer briefly: why?"
    assert opened.server.requests[0].body["model"] == "claude-haiku-4-5"
    assert crashed.is_error and crashed.result == "/broken crashed: the command blew up"
    assert again.result == "ok" and opened.server.requests[1].body["model"] == "claude-sonnet-4-5"
    assert session.runtime.registry.commands["help"].plugin == "mine"
    assert session.runtime.host.errors == []


def test_a_bad_command_name_is_reported_against_its_plugin() -> None:
    from claw_runtime.plugins import make_plugin_host
    from claw_runtime.registry import build_registry

    async def run(args: str, session: Session) -> CommandResult:
        return CommandResult()

    class Plugin:
        @hookimpl
        def register_commands(self, register: Any) -> None:
            register(Command(name="/slashed", description="", run=run))

    host = make_plugin_host(load_entry_points=False, extra_plugins=[("bad", Plugin())])
    build_registry(host)
    assert [(e.plugin, e.hook) for e in host.errors] == [("bad", "register_commands")]
    assert "without the leading '/'" in host.errors[0].reason


def test_command_files_are_not_imported_at_start_up() -> None:
    """A plain prompt never reads the command folders nor imports PyYAML (checked by
    tests/test_import_guard.py); the loader is registered, and only runs for /name."""
    from claw_runtime.commands import parse_command_line

    assert parse_command_line("/usr/bin/foo is broken") is None
    assert parse_command_line("  /frontend:component  Button  big ") == (
        "frontend:component",
        "Button  big",
    )
    assert parse_command_line("/help") == ("help", "")
    assert parse_command_line("hello /help") is None
    assert os.sep == "/"


async def test_an_empty_command_is_an_error_not_an_empty_prompt(tmp_path: Path, project: Path):
    write(project / ".claude" / "commands" / "blank.md", "---\ndescription: nothing\n---\n\n")
    async with open_session(tmp_path, project) as opened:
        result = await opened.session.run("/blank")
    assert result.is_error and result.result.startswith("/blank is empty")
    assert opened.server.requests == []


async def test_cancelling_stops_a_shell_line_that_hangs(tmp_path: Path, project: Path):
    pidfile = tmp_path / "sleeper.pid"
    write(
        project / ".claude" / "commands" / "hang.md",
        f"---\nallowed-tools: Bash\n---\nWaited: !`sleep 300 & echo $! > {pidfile}; wait`\n",
    )
    settings = Settings(trusted_directories=[str(project)])
    async with open_session(tmp_path, project, settings=settings) as opened:
        results = []

        async def run() -> None:
            results.append(await opened.session.run("/hang"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            while not pidfile.exists() or not pidfile.read_text().strip():
                await trio.sleep(0.05)
            opened.session.cancel()
    [result] = results
    assert (result.stop_reason, result.is_error) == ("cancelled", True)
    assert opened.server.requests == []
    sleeper = int(pidfile.read_text())
    with trio.fail_after(10):
        while _alive(sleeper):
            await trio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# ------------------------------------------------------------------ /exit, /resume, /init


async def test_exit_in_claw_p_is_a_no_op_that_says_so(tmp_path: Path, project: Path):
    async with open_fake_model_server(Script([])) as server:
        done = await run_claw(["-p", "/exit"], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert "leaves the interactive terminal" in done.stdout.decode()
    assert server.requests == []


async def test_resume_lists_this_workspaces_sessions_and_asks_the_host_to_switch(
    tmp_path: Path, project: Path
):
    async with open_fake_model_server(Script([Turn.say("one"), Turn.say("two")])) as server:
        env = claw_env(tmp_path, server)
        for prompt in ("first conversation", "second conversation"):
            done = await run_claw(["-p", prompt], project, env)
            assert done.returncode == 0, done.stderr
        listed = await run_claw(["-p", "/resume", "--no-session"], project, env)
        files = sorted(
            (tmp_path / "claw-home" / "projects").glob("*/*.jsonl"), key=lambda p: p.stat().st_mtime
        )
        first_id = files[0].stem
        named = await run_claw(["-p", f"/resume {first_id[:8]}", "--no-session"], project, env)
        missing = await run_claw(["-p", "/resume nothing-like-it", "--no-session"], project, env)
    out = listed.stdout.decode()
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert "1." in lines[0] and "second conversation" in lines[0] and "1 turn" in lines[0]
    assert "2." in lines[1] and first_id[:8] in lines[1] and "first conversation" in lines[1]
    assert "claw -r ID" in out
    assert named.returncode == 0 and f"claw -r {first_id[:8]}" in named.stdout.decode()
    assert missing.returncode == 1
    assert len(server.requests) == 2

    async with open_session(tmp_path, project) as opened:
        await opened.session.run("/resume")
        picked = opened.session.last_command
        await opened.session.run(f"/resume {first_id}")
        switch = opened.session.last_command
        await opened.session.run("hello")
        after_prompt = opened.session.last_command
    assert picked is not None and [Path(p).stem for p in picked.resume_choices][1] == first_id
    assert switch is not None and switch.resume is not None
    assert Path(switch.resume) == files[0]
    assert after_prompt is None


async def test_init_has_the_model_write_claude_md(tmp_path: Path, project: Path):
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    target = project / "CLAUDE.md"
    written = "# CLAUDE.md\n"
    script = Script(
        [
            Turn.call(ToolCallSpec("Write", {"file_path": str(target), "content": written})),
            Turn.say("Wrote CLAUDE.md."),
        ]
    )
    async with open_fake_model_server(script) as server:
        done = await run_claw(
            ["-p", "/init", "--permission-mode", "acceptEdits"],
            project,
            claw_env(tmp_path, server),
        )
    assert done.returncode == 0, done.stderr
    assert target.read_text() == written
    sent = last_user_text(server, 0)
    assert "write a CLAUDE.md file at its root" in sent and str(project) in sent
    assert "There is no CLAUDE.md yet" in sent
    assert "Write" in [tool["name"] for tool in server.requests[0].body["tools"]]


async def test_init_improves_an_existing_claude_md(tmp_path: Path, project: Path):
    (project / "CLAUDE.md").write_text("Use tabs.\n")
    async with open_session(tmp_path, project) as opened:
        await opened.session.run("/init mention the benchmarks")
    sent = last_user_text(opened.server, 0)
    assert "already exists: read it first and improve it" in sent
    assert sent.rstrip().endswith("The user adds: mention the benchmarks")


async def test_mentions_attach_workspace_files_through_read_and_its_deny_rules(
    tmp_path: Path, project: Path
):
    from claw_runtime.commands.expand import attach_mentions

    (project / "notes.txt").write_text("remember the milk\n")
    (project / ".env").write_text("API_KEY=sk-super-secret\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    settings = Settings(permissions=Permissions(deny=["Read(.env)"]))
    async with open_session(tmp_path, project, settings=settings) as opened:
        typed = f"look at @notes.txt, @notes.txt again, @.env, @{outside} and @team"
        mentions = await attach_mentions(opened.session, typed)
    assert mentions.prompt.startswith(typed + "\n\n")
    assert mentions.prompt.count('<file path="notes.txt">') == 1
    assert "remember the milk" in mentions.prompt
    assert "sk-super-secret" not in mentions.prompt and "not yours" not in mentions.prompt
    assert mentions.attached == ("notes.txt",)
    assert mentions.notices == (
        "@.env not attached: Read is denied by the rule Read(.env).",
        f"@{outside} not attached: it is outside the workspace",
    )
