"""Real-shaped settings files load as Claude Code loads them: notes, never a refusal.

The fixtures in ``tests/fixtures/settings/`` have the shapes of files people
commit (unknown keys, hook events claw does not fire, annotations, object
shapes, every rule spelling). Each is loaded as the user's own settings, so
trust does not drop anything, and then through ``claw doctor`` in a subprocess.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from claw_runtime.config.settings import load_settings
from claw_runtime.errors import ConfigError

from _harness import claw_env, run_claw

FIXTURES = Path(__file__).parent / "fixtures" / "settings"
FILES = sorted(FIXTURES.glob("*.json"))


def load_as_user(tmp_path: Path, fixture: Path) -> object:
    user = tmp_path / "claude-home"
    user.mkdir(exist_ok=True)
    shutil.copy(fixture, user / "settings.json")
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    environ = {"CLAUDE_CONFIG_DIR": str(user), "CLAW_CONFIG_DIR": str(tmp_path / "claw-home")}
    return load_settings(project, environ=environ, home=tmp_path)


@pytest.mark.parametrize("fixture", FILES, ids=[f.name for f in FILES])
def test_every_fixture_loads(tmp_path: Path, fixture: Path) -> None:
    loaded = load_as_user(tmp_path, fixture)
    assert loaded.sources  # type: ignore[attr-defined]


def test_notes_name_the_file_and_the_key(tmp_path: Path) -> None:
    loaded = load_as_user(tmp_path, FIXTURES / "hooks-everything.json")
    notes = "\n".join(loaded.notes)  # type: ignore[attr-defined]
    for expected in (
        "hooks.PreToolUse[0].description: not used by claw; ignored",
        "hooks.PreToolUse[0].hooks[0].statusMessage: not used by claw; ignored",
        "hooks.SomeFutureEvent: accepted; claw does not fire this event yet",
        'hooks.Stop[0].hooks[0]: hooks of type "agent" are not supported',
    ):
        assert expected in notes
    hooks = loaded.settings.hooks  # type: ignore[attr-defined]
    assert hooks["PreToolUse"][0].hooks[0].timeout == 10
    assert hooks["Stop"][0].hooks == []


def test_claude_code_shapes_are_read_into_claws(tmp_path: Path) -> None:
    team = load_as_user(tmp_path, FIXTURES / "monorepo-team.json").settings  # type: ignore[attr-defined]
    assert team.env["MAX_THINKING_TOKENS"] == "8000" and team.env["DISABLE_TELEMETRY"] == "true"
    assert team.permissions.disable_bypass_permissions_mode == "disable"
    assert "Bash(git push --force *)" in team.permissions.deny
    sandbox = load_as_user(tmp_path, FIXTURES / "sandboxed.json")
    assert sandbox.settings.sandbox.enabled and not sandbox.settings.sandbox.network  # type: ignore[attr-defined]
    assert sandbox.settings.permissions.default_mode is None  # type: ignore[attr-defined]
    assert any("per-domain network" in n for n in sandbox.notes)  # type: ignore[attr-defined]
    bom = load_as_user(tmp_path, FIXTURES / "windows-bom.json")
    assert bom.settings.model == "claude-sonnet-4-5-20250929"  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["deny", "ask"])
def test_a_deny_or_ask_rule_that_cannot_be_understood_stops_the_run(
    tmp_path: Path, kind: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"permissions": {kind: ["Bash(ls:*)", "Bash(oops"]}}))
    with pytest.raises(ConfigError, match=rf"permissions\.{kind}\[1\]: cannot understand"):
        load_as_user(tmp_path, bad)


def test_an_allow_rule_that_cannot_be_understood_is_dropped_with_a_note(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"permissions": {"allow": ["Bash(ls:*)", "Bash(oops"]}}))
    loaded = load_as_user(tmp_path, bad)
    assert loaded.settings.permissions.allow == ["Bash(ls:*)"]  # type: ignore[attr-defined]
    assert any("cannot understand" in n for n in loaded.notes)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    ['{"model": "x",}', '{"permissions": {"allow": ["Bash"]}', "\ufeff{oops}", "[1, 2"],
)
async def test_a_file_that_is_not_json_is_one_line_with_line_and_column(
    tmp_path: Path, text: str
) -> None:
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    (project / ".claude" / "settings.json").write_text(text)
    result = await run_claw(["-p", "hi"], project, claw_env(tmp_path))
    assert result.returncode == 1
    [line] = result.stderr.decode().strip().splitlines()
    assert "settings.json: invalid JSON at line 1, column" in line
    assert "the file was not used" in line


async def test_unknown_keys_print_only_with_verbose(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    shutil.copy(FIXTURES / "tool-rules.json", project / ".claude" / "settings.json")
    quiet = await run_claw(["inspect"], project, claw_env(tmp_path))
    verbose = await run_claw(["inspect", "-v"], project, claw_env(tmp_path))
    assert quiet.returncode == 0 and verbose.returncode == 0
    assert b"claw: note:" not in quiet.stderr
    assert b"forceLoginMethod: not used by claw" in verbose.stderr


async def test_doctor_shows_files_layers_trust_notes_rules_hooks_and_programs(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    shutil.copy(FIXTURES / "hooks-everything.json", project / ".claude" / "settings.json")
    user = tmp_path / "claw-home"
    user.mkdir()
    shutil.copy(FIXTURES / "android-sdk.json", user / "settings.json")
    result = await run_claw(["doctor"], project, claw_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    assert f"Project: {project}  [NOT trusted" in out
    assert f"[read  ] project {project}/.claude/settings.json" in out
    assert f"[read  ] user    {user}/settings.json" in out
    assert f"[absent] local   {project}/.claw/settings.local.json" in out
    assert "ignored until you trust this project: hooks" in out
    assert "hooks.SomeFutureEvent: accepted; claw does not fire this event yet" in out
    assert "deny: Read(.env), Read(**/*.keystore)" in out
    assert "Stop: [*] cd $CLAUDE_PROJECT_DIR" in out  # the user's hook is in force
    assert "bwrap" in out and "git" in out and "rg" in out
    assert "Bash(curl:*)" in out and "no Bash tool" not in out
    trusted = await run_claw(["doctor", "--trust"], project, claw_env(tmp_path))
    assert f"Project: {project}  [trusted]" in trusted.stdout.decode()
    assert "PreToolUse: [Bash] python3" in trusted.stdout.decode()


async def test_model_aliases_resolve_and_settings_extend_them(tmp_path: Path) -> None:
    from claw_runtime.providers.aliases import resolve_model_alias
    from claw_runtime.testing import Script, Turn, open_fake_model_server

    assert resolve_model_alias("opus") == "claude-opus-4-5"
    assert resolve_model_alias("Sonnet") == "claude-sonnet-4-5"
    assert resolve_model_alias("claude-3-5-haiku-20241022") == "claude-3-5-haiku-20241022"
    assert resolve_model_alias("opus", {"opus": "claude-opus-9"}) == "claude-opus-9"
    project = tmp_path / "project"
    project.mkdir()
    user = tmp_path / "claw-home"
    user.mkdir()
    (user / "settings.json").write_text(json.dumps({"modelAliases": {"fast": "claude-haiku-4-5"}}))
    async with open_fake_model_server(Script([Turn.say("a"), Turn.say("b")])) as server:
        await run_claw(["-p", "x", "--model", "sonnet"], project, claw_env(tmp_path, server))
        await run_claw(["-p", "x", "--model", "fast"], project, claw_env(tmp_path, server))
        sent = [r.body["model"] for r in server.requests]
    assert sent == ["claude-sonnet-4-5", "claude-haiku-4-5"]


async def test_prompt_caching_can_be_turned_off_in_settings(tmp_path: Path) -> None:
    from claw_runtime.testing import Script, Turn, open_fake_model_server

    project = tmp_path / "project"
    project.mkdir()
    user = tmp_path / "claw-home"
    user.mkdir()
    async with open_fake_model_server(Script([Turn.say("a"), Turn.say("b")])) as server:
        await run_claw(["-p", "x"], project, claw_env(tmp_path, server))
        settings = {"providers": {"anthropic": {"promptCaching": False}}}
        (user / "settings.json").write_text(json.dumps(settings))
        await run_claw(["-p", "x"], project, claw_env(tmp_path, server))
        bodies = [json.dumps(r.body) for r in server.requests]
    assert "cache_control" in bodies[0] and "cache_control" not in bodies[1]


async def test_doctor_lists_rules_for_tools_claw_does_not_have_yet(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    user = tmp_path / "claude-home"
    user.mkdir()
    shutil.copy(FIXTURES / "tool-rules.json", user / "settings.json")
    result = await run_claw(["doctor"], project, claw_env(tmp_path))
    out = result.stdout.decode()
    assert "WebSearch: no WebSearch tool here yet; the rule is kept for when it is" in out
    assert "Task(Explore): no" not in out and "Agent(code-reviewer): no" not in out  # tools.task
    assert "Skill(pdf): no" not in out  # claw has a Skill tool now (tools.skill)
    assert "mcp__github: no" not in out and "Read: no" not in out
