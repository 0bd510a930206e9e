"""Skills as Claude Code users write them: ``SKILL.md`` folders listed to the model by name
and description, loaded through the real loop with the ``Skill`` tool only when used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_commands import last_user_text, open_session, system_text, write

from claw_runtime import hookimpl
from claw_runtime.config.settings import Permissions, Settings
from claw_runtime.plugins import make_plugin_host
from claw_runtime.registry import build_registry
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

from _harness import claw_env, run_claw


def skill(folder: Path, name: str | None, description: str, body: str) -> Path:
    header = "---\n" + (f"name: {name}\n" if name else "") + f"description: {description}\n---\n"
    return write(folder / "SKILL.md", header + body)


def tool_result_text(body: dict[str, Any]) -> str:
    [block] = body["messages"][-1]["content"]
    assert block["type"] == "tool_result"
    return "".join(part["text"] for part in block["content"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


async def test_a_skill_is_listed_then_loaded_on_demand_through_the_loop(
    tmp_path: Path, project: Path
):
    folder = project / ".claude" / "skills" / "pdf"
    skill(
        folder, "pdf", "Extract text and tables from PDF files.", "Run scripts/extract.py FILE.\n"
    )
    write(folder / "scripts" / "extract.py", "print('text')\n")
    write(folder / "reference.md", "# Options\n")
    turns = [Turn.call(ToolCallSpec("Skill", {"skill": "pdf"})), Turn.say("extracted")]
    async with open_fake_model_server(Script(turns)) as server:
        done = await run_claw(
            ["-p", "get the text out of report.pdf"], project, claw_env(tmp_path, server)
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "extracted"
    first, second = server.requests
    listing = system_text(server, 0)
    assert "# Skills" in listing and "- pdf: Extract text and tables from PDF files." in listing
    assert "Run scripts/extract.py" not in json.dumps(first.body)  # the body costs nothing yet
    loaded = tool_result_text(second.body)
    assert loaded.startswith(f"Base directory for this skill: {folder}")
    assert "Run scripts/extract.py FILE." in loaded
    assert "- reference.md" in loaded and "- scripts/extract.py" in loaded
    assert "SKILL.md" not in loaded.split("Other files")[1]
    skill_tool = next(t for t in first.body["tools"] if t["name"] == "Skill")
    assert "skill" in skill_tool["input_schema"]["properties"]


async def test_a_plugin_ships_skills_named_after_it(tmp_path: Path, project: Path):
    shipped = tmp_path / "plugin-skills"
    skill(shipped / "changelog", None, "Write a changelog entry.", "Use Keep a Changelog.\n")

    class Shipper:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(shipped)

    turns = [
        Turn.call(ToolCallSpec("Skill", {"command": "changelog"})),  # the older input name
        Turn.say("done"),
    ]
    async with open_session(
        tmp_path, project, turns, extra_plugins=[("release", Shipper())]
    ) as opened:
        await opened.session.run("add a changelog entry")
        typed = await opened.session.run("/release:changelog for 1.2")
    requests = opened.server.requests
    assert "- release:changelog: Write a changelog entry." in system_text(opened.server, 0)
    assert "Use Keep a Changelog." in tool_result_text(requests[1].body)
    assert typed.result == "ok"
    assert last_user_text(opened.server, 2) == (
        f"Base directory for this skill: {shipped / 'changelog'}\n\n"
        "Use Keep a Changelog.\n\nARGUMENTS: for 1.2"
    )


async def test_your_own_skill_wins_over_a_projects_and_bad_frontmatter_still_lists(
    tmp_path: Path, project: Path
):
    skill(project / ".claude" / "skills" / "review", "review", "The repo's review.", "Theirs.\n")
    skill(tmp_path / "claude-home" / "skills" / "review", "review", "My review.", "Mine.\n")
    write(
        project / ".claw" / "skills" / "deploy" / "SKILL.md",
        "---\nname: [broken\n---\nShip it carefully.\n",
    )
    turns = [Turn.call(ToolCallSpec("Skill", {"skill": "review"})), Turn.say("ok")]
    async with open_session(tmp_path, project, turns) as opened:
        await opened.session.run("review my change")
        listed = (await opened.session.run("/help")).result
    listing = system_text(opened.server, 0)
    assert "- review: My review." in listing and "The repo's review." not in listing
    assert "- deploy: Ship it carefully." in listing  # the folder's name, the first line
    assert "Mine." in tool_result_text(opened.server.requests[1].body)
    assert "/review" in listed and "(user skill)" in listed


async def test_unknown_and_read_denied_skills_are_errors_the_model_reads(
    tmp_path: Path, project: Path
):
    skill(project / ".claude" / "skills" / "secret", "secret", "Secret steps.", "Token: abc\n")
    turns = [
        Turn.call(ToolCallSpec("Skill", {"skill": "nope"})),
        Turn.call(ToolCallSpec("Skill", {"skill": "secret"})),
        Turn.say("ok"),
    ]
    settings = Settings(permissions=Permissions(deny=["Read(.claude/skills/secret/**)"]))
    async with open_session(tmp_path, project, turns, settings=settings) as opened:
        await opened.session.run("go")
    unknown = opened.server.requests[1].body["messages"][-1]["content"][0]
    denied = opened.server.requests[2].body["messages"][-1]["content"][0]
    assert (
        unknown["is_error"]
        and "No skill named 'nope'. Available skills: secret" in (unknown["content"][0]["text"])
    )
    assert denied["is_error"] and "denied by a Read rule" in denied["content"][0]["text"]
    assert "Token: abc" not in json.dumps(opened.server.requests[2].body)


async def test_no_skills_no_section(tmp_path: Path, project: Path):
    async with open_session(tmp_path, project) as opened:
        await opened.session.run("hi")
    assert "# Skills" not in system_text(opened.server, 0)


@pytest.mark.parametrize(
    ("path", "reason"),
    [("relative/skills", "absolute path"), ("/no/such/skills/dir", "does not exist")],
)
def test_a_bad_skill_directory_is_reported_against_its_plugin(path: str, reason: str) -> None:
    class Shipper:
        @hookimpl
        def register_skills(self, register: Any) -> None:
            register(path)

    host = make_plugin_host(load_entry_points=False, extra_plugins=[("shipper", Shipper())])
    registry = build_registry(host)
    assert registry.skill_dirs == []
    assert [(e.plugin, e.hook) for e in host.errors] == [("shipper", "register_skills")]
    assert reason in host.errors[0].reason


async def test_skill_rules_deny_one_skill_and_allow_another(tmp_path: Path, project: Path):
    for name in ("pdf", "deploy"):
        skill(project / ".claude" / "skills" / name, name, f"The {name} skill.", f"{name} body\n")
    write(
        tmp_path / "claw-home" / "settings.json",
        json.dumps({"permissions": {"deny": ["Skill(deploy)"]}}),
    )
    turns = [
        Turn.call(ToolCallSpec("Skill", {"skill": "deploy"})),
        Turn.call(ToolCallSpec("Skill", {"command": "/pdf"})),
        Turn.say("done"),
    ]
    async with open_fake_model_server(Script(turns)) as server:
        done = await run_claw(
            ["-p", "ship it", "--output-format", "json"], project, claw_env(tmp_path, server)
        )
    assert done.returncode == 0, done.stderr
    denied = tool_result_text(server.requests[1].body)
    assert "deploy body" not in denied and "Skill(deploy)" in denied
    assert "pdf body" in tool_result_text(server.requests[2].body)
    [denial] = json.loads(done.stdout)["permission_denials"]
    assert denial["tool_input"] == {"skill": "deploy"}
