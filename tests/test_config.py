"""Layered settings: precedence, merging, Claude Code compatibility, precise errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.config.settings import Settings, load_settings
from claw_runtime.errors import ConfigError


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    home, cwd = tmp_path / "home", tmp_path / "project"
    cwd.mkdir(parents=True)
    home.mkdir()
    return {"home": home, "cwd": cwd}


def load(dirs: dict[str, Path], environ: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return load_settings(dirs["cwd"], home=dirs["home"], environ=environ or {}, **kwargs)


def test_no_files_gives_defaults(dirs: dict[str, Path]) -> None:
    loaded = load(dirs)
    assert loaded.settings.model is None
    assert loaded.settings.permissions.allow == []
    assert loaded.sources == ()


def test_later_layers_win_and_sources_are_listed_in_order(dirs: dict[str, Path]) -> None:
    home, cwd = dirs["home"], dirs["cwd"]
    files = [
        write(home / ".claude" / "settings.json", {"model": "claude-user", "maxTurns": 1}),
        write(home / ".claw" / "settings.json", {"model": "claw-user", "provider": "openai"}),
        write(cwd / ".claude" / "settings.json", {"model": "claude-project"}),
        write(cwd / ".claw" / "settings.json", {"model": "claw-project"}),
        write(cwd / ".claude" / "settings.local.json", {"maxTurns": 7}),
        write(cwd / ".claw" / "settings.local.json", {"model": "claw-local"}),
    ]
    loaded = load(dirs)
    assert loaded.sources == tuple(files)
    assert loaded.settings.model == "claw-local"
    assert loaded.settings.provider == "openai"
    assert loaded.settings.max_turns == 7


def test_env_vars_beat_files_and_flags_beat_env(dirs: dict[str, Path]) -> None:
    write(dirs["cwd"] / ".claw" / "settings.json", {"model": "from-file", "maxTurns": 3})
    env = {"CLAW_MODEL": "from-env", "CLAW_MAX_TURNS": "9", "CLAW_PERMISSION_MODE": "plan"}
    loaded = load(dirs, env)
    assert (loaded.settings.model, loaded.settings.max_turns) == ("from-env", 9)
    assert loaded.settings.permissions.default_mode == "plan"
    flagged = load(dirs, env, cli_overrides={"model": "from-flag"})
    assert flagged.settings.model == "from-flag"


def test_permission_lists_concatenate_across_layers(dirs: dict[str, Path]) -> None:
    write(
        dirs["home"] / ".claude" / "settings.json",
        {"permissions": {"allow": ["Read", "Bash(ls:*)"]}},
    )
    write(
        dirs["cwd"] / ".claw" / "settings.json",
        {"permissions": {"allow": ["Bash(ls:*)", "Edit"], "deny": ["WebFetch"]}},
    )
    loaded = load(dirs, cli_overrides={"permissions": {"allow": ["Write"]}}, trust=True)
    assert loaded.settings.permissions.allow == ["Read", "Bash(ls:*)", "Edit", "Write"]
    assert loaded.settings.permissions.deny == ["WebFetch"]


def test_env_var_config_dirs_move_the_user_files(dirs: dict[str, Path], tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "settings.json", {"model": "moved"})
    loaded = load(dirs, {"CLAW_CONFIG_DIR": str(tmp_path / "elsewhere")})
    assert loaded.settings.model == "moved"


def test_claude_code_settings_shape_is_understood(dirs: dict[str, Path]) -> None:
    write(
        dirs["cwd"] / ".claude" / "settings.json",
        {
            "$schema": "https://json.schemastore.org/claude-code-settings.json",
            "permissions": {
                "allow": ["Bash(npm run test:*)"],
                "defaultMode": "acceptEdits",
                "additionalDirectories": ["../lib"],
            },
            "hooks": {
                "PreToolUse": [
                    {
                        "matcher": "Bash|Edit",
                        "hooks": [{"type": "command", "command": "check.sh", "timeout": 30}],
                    }
                ]
            },
            "env": {"FOO": "bar"},
            "includeCoAuthoredBy": False,
            "sandbox": {"enabled": True, "network": False, "excludedCommands": ["docker"]},
        },
    )
    loaded = load(dirs, trust=True)
    settings = loaded.settings
    assert settings.permissions.default_mode == "acceptEdits"
    assert settings.permissions.additional_directories == ["../lib"]
    [matcher] = settings.hooks["PreToolUse"]
    assert matcher.matcher == "Bash|Edit" and matcher.hooks[0].command == "check.sh"
    assert matcher.hooks[0].timeout == 30.0
    assert settings.env == {"FOO": "bar"} and settings.sandbox.enabled
    assert loaded.warnings == ()


def test_unknown_key_in_claude_file_is_a_note(dirs: dict[str, Path]) -> None:
    path = write(dirs["cwd"] / ".claude" / "settings.json", {"brandNewClaudeKey": 1, "model": "m"})
    loaded = load(dirs)
    assert loaded.settings.model == "m"
    assert loaded.notes == (f"{path}: brandNewClaudeKey: not used by claw; ignored",)
    assert loaded.warnings == ()


def test_mcp_keys_are_read_by_the_mcp_configuration_not_noted(dirs: dict[str, Path]) -> None:
    servers = {"time": {"command": "mcp-server-time"}}
    write(
        dirs["cwd"] / ".claude" / "settings.json",
        {"mcpServers": servers, "enabledMcpjsonServers": ["git"], "oddKey": 1},
    )
    [note] = load(dirs).notes
    assert note.endswith("oddKey: not used by claw; ignored")


def test_unknown_nested_key_in_claw_file_is_a_note_naming_file_and_key(
    dirs: dict[str, Path],
) -> None:
    path = write(dirs["cwd"] / ".claw" / "settings.json", {"permissions": {"alow": []}})
    assert load(dirs).notes == (f"{path}: permissions.alow: not used by claw; ignored",)


def test_unknown_mode_and_hook_event_are_notes(dirs: dict[str, Path]) -> None:
    path = write(
        dirs["home"] / ".claw" / "settings.json",
        {"permissions": {"defaultMode": "yolo"}, "hooks": {"BeforeToolUse": []}},
    )
    loaded = load(dirs)
    assert loaded.settings.permissions.default_mode is None
    assert loaded.notes == (
        f'{path}: permissions.defaultMode: "yolo" is not a mode claw has; using default',
        f"{path}: hooks.BeforeToolUse: accepted; claw does not fire this event yet",
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"maxTurns": "5"}, 'maxTurns: expected an integer, got "5"'),
        ({"maxTurns": True}, "maxTurns: expected an integer, got true"),
        ({"permissions": {"allow": "Bash"}}, "permissions.allow"),
        ({"prices": {"gpt-x": {"input": 1}}}, "prices['gpt-x'].output: required key missing"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_wrong_types_name_file_key_and_expectation(
    dirs: dict[str, Path], data: Any, expected: str
) -> None:
    path = write(dirs["cwd"] / ".claw" / "settings.local.json", data)
    with pytest.raises(ConfigError) as info:
        load(dirs)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_invalid_json_names_line_and_column(dirs: dict[str, Path]) -> None:
    path = write(dirs["home"] / ".claw" / "settings.json", '{\n  "model": "x",\n}')
    with pytest.raises(ConfigError, match=r"invalid JSON at line 3, column 1") as info:
        load(dirs)
    assert str(info.value).startswith(str(path))


def test_bad_env_var_is_named(dirs: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="CLAW_MAX_TURNS: expected an integer, got 'lots'"):
        load(dirs, {"CLAW_MAX_TURNS": "lots"})


def test_disabled_plugins_from_env_add_to_settings(dirs: dict[str, Path]) -> None:
    write(dirs["cwd"] / ".claw" / "settings.json", {"plugins": {"disabled": ["a"]}})
    loaded = load(dirs, {"CLAW_DISABLE_PLUGINS": "b, c"})
    assert loaded.settings.plugins.disabled == ["a", "b", "c"]


def test_config_error_in_the_cli_is_one_line_and_exit_1(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    import subprocess
    import sys

    write(dirs["cwd"] / ".claw" / "settings.json", {"maxTurns": "many"})
    result = subprocess.run(
        [sys.executable, "-m", "claw_runtime", "inspect"],
        cwd=dirs["cwd"],
        capture_output=True,
        text=True,
        env={"HOME": str(dirs["home"]), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "maxTurns: expected an integer" in lines[0]


def test_project_hooks_wait_for_trust_which_is_remembered(dirs: dict[str, Path]) -> None:
    hooks = {"PreToolUse": [{"matcher": "", "hooks": [{"type": "command", "command": "x"}]}]}
    path = write(dirs["cwd"] / ".claw" / "settings.json", {"hooks": hooks, "model": "m"})
    write(dirs["home"] / ".claw" / "settings.json", {"hooks": {"Stop": hooks["PreToolUse"]}})
    untrusted = load(dirs)
    assert set(untrusted.settings.hooks) == {"Stop"}  # the user's own hooks always apply
    assert untrusted.settings.model == "m"
    assert untrusted.warnings == (
        f"{path}: ignored until you trust this project: hooks "
        "(run claw trust, or once with --trust)",
    )
    assert set(load(dirs, trust=True).settings.hooks) == {"PreToolUse", "Stop"}
    remembered = load(dirs)
    assert set(remembered.settings.hooks) == {"PreToolUse", "Stop"} and remembered.warnings == ()


def test_no_settings_anywhere_gives_the_defaults_without_building_the_converter(
    tmp_path: Path,
) -> None:
    """A machine with no settings files (a fresh install, a batch job) starts without
    building the settings converter; what it gets is what structuring ``{}`` gives."""
    from claw_runtime.config import settings as settings_module

    settings_module._converter.cache_clear()
    loaded = load_settings(tmp_path, environ={"HOME": str(tmp_path / "home")})
    assert settings_module._converter.cache_info().currsize == 0
    assert loaded.settings == settings_module._converter().structure({}, Settings)
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text('{"model": "claude-opus-4-1"}')
    assert load_settings(tmp_path, environ={"HOME": str(tmp_path / "home")}).settings.model == (
        "claude-opus-4-1"
    )
