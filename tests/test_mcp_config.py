"""Reading MCP configuration the way Claude Code writes it: sources, precedence, trust,
``${VAR}`` expansion, enabled/disabled lists, and one line per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claw_runtime.mcp.config import expand_variables, load_mcp_config


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "project": tmp_path / "project",
        "home": tmp_path / "home",
        "claw": tmp_path / "claw-home",
        "claude": tmp_path / "claude-home",
    }
    for path in paths.values():
        path.mkdir()
    return paths


def _environ(layout: dict[str, Path], **extra: str) -> dict[str, str]:
    return {
        "HOME": str(layout["home"]),
        "CLAW_CONFIG_DIR": str(layout["claw"]),
        "CLAUDE_CONFIG_DIR": str(layout["claude"]),
        **extra,
    }


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _server(command: str) -> dict[str, Any]:
    return {"command": command}


def test_sources_and_precedence(layout: dict[str, Path]) -> None:
    project = layout["project"]
    _write(
        layout["claude"] / ".claude.json",
        {
            "mcpServers": {"a": _server("user-claude"), "b": _server("user-claude")},
            "projects": {str(project): {"mcpServers": {"c": _server("local")}}},
        },
    )
    _write(layout["claw"] / "settings.json", {"mcpServers": {"b": _server("user-settings")}})
    _write(project / ".mcp.json", {"mcpServers": {"c": _server("project"), "d": _server("p")}})
    flag = layout["home"] / "flag.json"
    _write(flag, {"mcpServers": {"d": {"type": "sse", "url": "http://x/sse"}}})
    config = load_mcp_config(project, _environ(layout), trusted=True, extra_files=[flag])
    servers = config.servers
    assert {name: s.scope for name, s in servers.items()} == {
        "a": "user",
        "b": "user",
        "c": "local",
        "d": "flag",
    }
    assert servers["b"].command == "user-settings"
    assert servers["c"].command == "local"
    assert (servers["d"].type, servers["d"].url) == ("sse", "http://x/sse")
    assert config.problems == ()


def test_an_untrusted_projects_servers_are_held_back(layout: dict[str, Path]) -> None:
    project = layout["project"]
    _write(project / ".mcp.json", {"mcpServers": {"evil": _server("rm")}})
    _write(project / ".claw" / "settings.json", {"mcpServers": {"evil2": _server("rm")}})
    _write(layout["claw"] / "settings.json", {"mcpServers": {"mine": _server("ok")}})
    config = load_mcp_config(project, _environ(layout), trusted=False)
    assert list(config.servers) == ["mine"]
    assert {s.name for s in config.waiting_for_trust} == {"evil", "evil2"}
    trusted = load_mcp_config(project, _environ(layout), trusted=True)
    assert set(trusted.servers) == {"mine", "evil", "evil2"}


def test_enabled_and_disabled_mcpjson_servers(layout: dict[str, Path]) -> None:
    project = layout["project"]
    _write(project / ".mcp.json", {"mcpServers": {n: _server(n) for n in ("a", "b", "c")}})
    _write(layout["claw"] / "settings.json", {"enabledMcpjsonServers": ["a", "b"]})
    _write(project / ".claude" / "settings.json", {"disabledMcpjsonServers": ["b"]})
    config = load_mcp_config(project, _environ(layout), trusted=True)
    assert list(config.servers) == ["a"]
    assert sorted(config.disabled) == ["b", "c"]
    _write(layout["claw"] / "settings.json", {"enableAllProjectMcpServers": True})
    assert sorted(load_mcp_config(project, _environ(layout), trusted=True).servers) == ["a", "c"]


def test_variables_expand_and_an_unset_one_is_one_problem(layout: dict[str, Path]) -> None:
    _write(
        layout["claw"] / "settings.json",
        {
            "mcpServers": {
                "ok": {
                    "command": "${TOOL_HOME}/bin/server",
                    "args": ["--level", "${LEVEL:-info}"],
                    "env": {"TOKEN": "${TOKEN}"},
                },
                "web": {
                    "type": "http",
                    "url": "https://${HOST:-example.com}/mcp",
                    "headers": {"Authorization": "Bearer ${TOKEN}"},
                },
                "broken": {"command": "${NOT_SET}/x"},
                "shapeless": {"args": ["no command"]},
                "bad name!": _server("x"),
            }
        },
    )
    environ = _environ(layout, TOOL_HOME="/opt/t", TOKEN="t0k")
    config = load_mcp_config(layout["project"], environ, trusted=False)
    ok, web = config.servers["ok"], config.servers["web"]
    assert ok.command == "/opt/t/bin/server" and ok.args == ("--level", "info")
    assert dict(ok.env) == {"TOKEN": "t0k"}
    assert web.url == "https://example.com/mcp"
    assert dict(web.headers) == {"Authorization": "Bearer t0k"}
    assert set(config.servers) == {"ok", "web"}
    assert len(config.problems) == 3 and all("\n" not in p for p in config.problems)
    joined = " ".join(config.problems)
    assert "${NOT_SET} is not set" in joined and "'shapeless'" in joined and "bad name!" in joined


def test_a_file_that_is_not_json_is_one_problem_and_the_rest_loads(
    layout: dict[str, Path],
) -> None:
    (layout["claude"] / ".claude.json").write_text("{not json")
    _write(layout["claw"] / "mcp.json", {"mcpServers": {"fine": _server("x")}})
    config = load_mcp_config(layout["project"], _environ(layout), trusted=False)
    assert list(config.servers) == ["fine"]
    (problem,) = config.problems
    assert ".claude.json: not valid JSON" in problem


@given(st.text().filter(lambda s: "${" not in s))
def test_text_without_variables_is_unchanged(text: str) -> None:
    assert expand_variables(text, {}) == text


@given(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), st.text(alphabet="abc/ :-"))
def test_a_default_applies_only_when_the_variable_is_unset_or_empty(
    name: str, default: str
) -> None:
    template = "${" + name + ":-" + default.replace("}", "") + "}"
    fallback = default.replace("}", "")
    assert expand_variables(template, {}) == fallback
    assert expand_variables(template, {name: ""}) == fallback
    assert expand_variables(template, {name: "set"}) == "set"
