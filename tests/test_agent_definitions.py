"""Agent definitions: built-ins, plugins, Markdown files from every location, trust.

Files are real files in ``tmp_path`` folders standing in for the user's home
and the project; ``claw agents`` runs as a subprocess; the end-to-end checks
run a real session against the fake model and look at what the sub-agent's
requests carried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_subagents import results_in, run_session, task, text_of, world

from claw_runtime.agents.definitions import (
    BUILTIN_AGENTS,
    load_agent_catalog,
    read_agent_file,
)
from claw_runtime.config.trust import TrustStore, trust_file
from claw_runtime.plugins import make_plugin_host
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.script import by_conversation
from claw_runtime.tooling import SessionState

from _harness import claw_env, run_claw


def agent_file(folder: Path, stem: str, frontmatter: str, body: str = "You help.") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.md"
    path.write_text(f"---\n{frontmatter}\n---\n{body}\n")
    return path


def layout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project and a home, with an agent in each of the four folders, and one name in all."""
    project = tmp_path / "project"
    env = {
        "HOME": str(tmp_path / "home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"),
        "CLAW_CONFIG_DIR": str(tmp_path / "claw-home"),
    }
    folders = {
        "user-claude": tmp_path / "claude-home" / "agents",
        "user-claw": tmp_path / "claw-home" / "agents",
        "project-claude": project / ".claude" / "agents",
        "project-claw": project / ".claw" / "agents",
    }
    for where, folder in folders.items():
        agent_file(folder, where, f"name: from-{where}\ndescription: Lives in {where}.")
        agent_file(folder, "shared", f"name: shared\ndescription: The {where} one.")
    return project, env


def state_for(project: Path, env: dict[str, str]) -> SessionState:
    return SessionState(session_id="s", cwd=project, env=env)


def test_definitions_come_from_every_location_later_ones_winning(tmp_path: Path) -> None:
    project, env = layout(tmp_path)
    host = make_plugin_host(load_entry_points=False)
    catalog = load_agent_catalog(state_for(project, env), host, trusted=lambda: False)
    names = set(catalog.agents)
    assert {"general-purpose", "Explore", "Plan"} <= names
    for where in ("user-claude", "user-claw", "project-claude", "project-claw"):
        assert catalog.agents[f"from-{where}"].description == f"Lives in {where}."
    shared = catalog.agents["shared"]
    assert shared.description == "The project-claw one." and shared.scope == "project"
    assert shared.overrides is not None and "project/.claude/agents/shared.md" in shared.overrides
    assert catalog.agents["from-user-claude"].scope == "user"
    assert catalog.warnings == ()


def test_frontmatter_fields_and_their_problems(tmp_path: Path) -> None:
    path = agent_file(
        tmp_path,
        "reviewer",
        "name: reviewer\ndescription: Reviews.\ntools:\n  - Read\n  - Agent\n"
        "model: haiku\npermissionMode: acceptEdits\nmaxTurns: 7\nisolation: worktree",
        body="You are a reviewer.\n\nBe strict.",
    )
    definition, warnings = read_agent_file(path, "user")
    assert warnings == []
    assert definition is not None
    assert definition.tools == ("Read", "Agent")
    assert (definition.model, definition.permission_mode, definition.max_turns) == (
        "haiku",
        "acceptEdits",
        7,
    )
    assert definition.isolation == "worktree"
    assert definition.system_prompt == "You are a reviewer.\n\nBe strict."
    inherit = agent_file(tmp_path, "plain", "description: d\ntools: Read, Grep\nmodel: inherit")
    plain, _ = read_agent_file(inherit, "user")
    assert plain is not None and plain.name == "plain" and plain.model is None
    assert plain.tools == ("Read", "Grep")
    bad = agent_file(
        tmp_path, "bad", "name: bad\ndescription: d\npermissionMode: yolo\nmaxTurns: 0"
    )
    broken, problems = read_agent_file(bad, "user")
    assert broken is not None and broken.permission_mode is None and broken.max_turns is None
    assert any("permissionMode must be one of" in p for p in problems)
    assert any("maxTurns must be a positive whole number" in p for p in problems)


def test_an_untrusted_project_cannot_widen_a_sub_agents_permission_mode(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    env = {"HOME": str(tmp_path / "home"), "CLAW_CONFIG_DIR": str(tmp_path / "claw-home")}
    folder = project / ".claude" / "agents"
    agent_file(folder, "wide", "name: wide\ndescription: d\npermissionMode: bypassPermissions")
    agent_file(folder, "narrow", "name: narrow\ndescription: d\npermissionMode: plan\ntools: Read")
    agent_file(
        tmp_path / "claw-home" / "agents",
        "mine",
        "name: mine\ndescription: d\npermissionMode: acceptEdits",
    )
    host = make_plugin_host(load_entry_points=False)
    state = state_for(project, env)
    store = TrustStore(trust_file(tmp_path / "home", env))

    untrusted = load_agent_catalog(state, host, trusted=lambda: store.is_trusted(project))
    assert untrusted.agents["wide"].permission_mode is None  # the parent's mode
    assert untrusted.agents["narrow"].permission_mode == "plan"  # narrowing is fine
    assert untrusted.agents["narrow"].tools == ("Read",)
    assert untrusted.agents["mine"].permission_mode == "acceptEdits"  # the user's own file
    assert any("ignored until you trust this project" in w for w in untrusted.warnings)

    store.trust(project)
    trusted = load_agent_catalog(state, host, trusted=lambda: store.is_trusted(project))
    assert trusted.agents["wide"].permission_mode == "bypassPermissions"


def test_builtins_are_registered_by_a_plugin_that_can_be_blocked(tmp_path: Path) -> None:
    project, env = tmp_path / "p", {"HOME": str(tmp_path)}
    host = make_plugin_host(load_entry_points=False)
    catalog = load_agent_catalog(state_for(project, env), host, trusted=lambda: False)
    assert [catalog.agents[d.name] for d in BUILTIN_AGENTS] == list(BUILTIN_AGENTS)
    assert catalog.agents["Explore"].tools is not None
    assert "Write" not in (catalog.agents["Explore"].tools or ())
    blocked = make_plugin_host(load_entry_points=False, disabled=("builtin.agents",))
    assert load_agent_catalog(state_for(project, env), blocked, trusted=lambda: False).agents == {}


async def test_claw_agents_lists_each_type_with_where_it_came_from(tmp_path: Path) -> None:
    project, _ = layout(tmp_path)
    done = await run_claw(["agents"], project, claw_env(tmp_path))
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "general-purpose  (built-in)" in out
    for where, path in (
        ("user-claude", tmp_path / "claude-home" / "agents" / "user-claude.md"),
        ("project-claw", project / ".claw" / "agents" / "project-claw.md"),
    ):
        assert f"from-{where}  ({path})" in out
    shared = project / ".claw" / "agents" / "shared.md"
    assert f"shared  ({shared}, replaces {project / '.claude' / 'agents' / 'shared.md'})" in out


async def test_a_project_agent_runs_with_its_tools_model_and_turn_budget(tmp_path: Path) -> None:
    project = tmp_path / "project"
    agent_file(
        project / ".claude" / "agents",
        "reader",
        "name: reader\ndescription: Reads.\ntools: Read\nmodel: haiku\nmaxTurns: 1",
        body="You only read.",
    )
    routes = {
        "main job": [
            Turn.call(task("child reader", agent="reader"), task("child budget", agent="reader")),
            Turn.say("main done"),
        ],
        "child reader": [Turn.say("read it")],
        "child budget": [Turn.call(ToolCallSpec("Read", {"file_path": "x"}))],
    }
    async with world(tmp_path, routes) as w:
        await run_session(w, "main job")
        listing = await session_command(w, "/agents")
    [body] = w.requests_of("child reader")
    assert [t["name"] for t in body["tools"]] == ["Read"]
    assert body["model"].startswith("claude-haiku")
    assert body["system"][0]["text"].startswith("You only read.\n")
    [_, last] = w.requests_of("main job")
    reader, budget = results_in(last)
    assert text_of(reader) == "read it"
    assert budget["is_error"] and "maximum of 1 turns" in text_of(budget)
    assert f"reader  ({project / '.claude' / 'agents' / 'reader.md'})" in listing


async def session_command(w: Any, line: str) -> str:
    async with w.runtime.open_session(cwd=w.project, model="sonnet") as session:
        result = await session.run(line)
    return str(result.result)


async def test_agents_slash_command_lists_agent_types(tmp_path: Path) -> None:
    async with open_fake_model_server(Script(responder=by_conversation({}))) as server:
        done = await run_claw(["-p", "/agents"], tmp_path, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert "Explore  (built-in)" in done.stdout.decode()
