"""Meta-tests that keep the plugin contract honest (as datasette and trio do)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import trio

import claw_runtime
from claw_runtime.hooks import specs as hookspecs
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.plugins import BUILTIN_PLUGINS, make_plugin_host
from claw_runtime.registry import build_registry

REPO = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, value in vars(hookspecs).items() if hasattr(value, "claw_spec"))


def test_every_public_name_resolves() -> None:
    for name in claw_runtime.__all__:
        assert getattr(claw_runtime, name) is not None, name


def test_every_hook_has_a_docstring_and_a_row_in_the_plugin_guide() -> None:
    guide = (REPO / "docs" / "plugins.md").read_text()
    assert len(HOOKS) >= 14
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        assert inspect.getdoc(spec), f"hookspec {name} has no docstring"
        assert re.search(rf"`{name}\(", guide), f"docs/plugins.md does not document {name}"


NOT_CALLED_YET: set[str] = set()
"""Specified now, called by later work."""

FIRED_BY_SUBAGENTS = {"register_agents", "subagent_start", "subagent_stop"}
"""Called when the Task tool runs a sub-agent: tests/test_subagents.py checks them."""

FIRED_BY_COMPACTION = {"pre_compact"}
"""Called only when the conversation is compacted: tests/test_compaction.py checks it."""


def test_hooks_not_called_yet_really_have_no_caller() -> None:
    source = "\n".join(p.read_text() for p in (REPO / "claw_runtime").rglob("*.py"))
    for name in NOT_CALLED_YET:
        assert f'"{name}"' not in source, f"{name} now has a caller: test it and drop it here"


FIRED_BY_THE_CLI = {"session_start", "session_end"}
"""Called by ``claw -p`` around a run (not by the loop): checked through the CLI below."""


class Recorder:
    """A plugin implementing every hookspec; records which ones the runtime really calls."""

    def __init__(self) -> None:
        self.called: set[str] = set()


def _recording_plugin(recorder: Recorder) -> object:
    namespace: dict[str, Any] = {}
    for name in HOOKS:
        spec = inspect.signature(getattr(hookspecs, name))
        # pluggy passes arguments by name: declare the spec's names, accept them all.
        params = ", ".join(spec.parameters)
        source = f"def {name}({params}):\n    _record({name!r})\n"
        scope: dict[str, Any] = {"_record": recorder.called.add}
        exec(source, scope)  # a function per hookspec, with its exact argnames
        namespace[name] = hookimpl(scope[name])
    return type("RecordEverything", (), {k: staticmethod(v) for k, v in namespace.items()})()


async def test_every_hook_is_called_during_a_real_run(tmp_path: Path) -> None:
    """Each hookspec is called by the runtime, not merely named in a test."""
    from claw_runtime.config.settings import Settings
    from claw_runtime.loop import Agent, AgentOptions, Approval
    from claw_runtime.permissions import PermissionPolicy
    from claw_runtime.runtime import open_runtime
    from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

    recorder = Recorder()
    turns = [
        Turn.call(ToolCallSpec("Write", {"file_path": str(tmp_path / "f.txt"), "content": "x"})),
        Turn.say("done"),
    ]

    async def approve(call: Any, reason: str) -> Approval:
        return Approval(allowed=True)

    async with open_fake_model_server(Script(turns)) as server:
        environ = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        async with open_runtime(
            Settings(),
            environ=environ,
            no_plugins=True,
            extra_plugins=[("recorder", _recording_plugin(recorder))],
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
                publish=runtime.publish,
                http=runtime.http,
                approver=approve,
            )
            result = await agent.run("go")
            await trio.sleep(0.05)  # let the on_event subscriber catch up
            assert runtime.host.is_active("recorder"), runtime.host.errors
    assert result.result == "done"
    expected = (
        set(HOOKS) - NOT_CALLED_YET - FIRED_BY_THE_CLI - FIRED_BY_COMPACTION - FIRED_BY_SUBAGENTS
    )
    assert expected - recorder.called == set(), "hooks the runtime never called"
    assert recorder.called & NOT_CALLED_YET == set(), "now called: drop it from NOT_CALLED_YET"


async def test_session_hooks_are_called_by_claw_p(tmp_path: Path) -> None:
    """SessionStart/SessionEnd fire for real: settings command hooks (a session_start /
    session_end implementation) leave marks from a ``claw -p`` run."""
    import json

    from claw_runtime.testing import Script, Turn, open_fake_model_server
    from tests._harness import claw_env, run_claw

    project = tmp_path / "project"
    (project / ".claw").mkdir(parents=True)
    marks = tmp_path / "marks"
    hooks = {
        event: [{"hooks": [{"type": "command", "command": f"echo {event} >> {marks}"}]}]
        for event in ("SessionStart", "SessionEnd")
    }
    (project / ".claw" / "settings.json").write_text(json.dumps({"hooks": hooks}))
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        done = await run_claw(["-p", "x", "--trust"], project, claw_env(tmp_path, server))
    assert done.returncode == 0, done.stderr
    assert marks.read_text().split() == ["SessionStart", "SessionEnd"]
    assert {"session_start", "session_end"} == FIRED_BY_THE_CLI


def test_every_builtin_loads_cleanly_and_registers_something() -> None:
    host = make_plugin_host(load_entry_points=False)
    assert host.errors == []
    registry = build_registry(host)
    for name, _module in BUILTIN_PLUGINS:
        assert registry.registered_by(name), f"built-in {name} registers nothing"


def test_builtin_tools_use_claude_code_names() -> None:
    registry = build_registry(make_plugin_host(load_entry_points=False))
    expected = {
        "Bash",
        "BashOutput",
        "KillShell",
        "Read",
        "Write",
        "Edit",
        "MultiEdit",
        "NotebookEdit",
        "Glob",
        "Grep",
        "LS",
        "WebFetch",
        "TodoWrite",
        "Skill",
        "Task",
        "TaskOutput",
    }
    assert expected == set(registry.tools)
    read_only = {name for name, t in registry.tools.items() if t.read_only}
    assert {
        "Read",
        "BashOutput",
        "Glob",
        "Grep",
        "LS",
        "WebFetch",
        "TodoWrite",
        "Skill",
    } <= read_only
    assert not read_only & {"Bash", "Write", "Edit", "MultiEdit", "NotebookEdit", "KillShell"}


def test_the_lazy_table_and_the_type_checking_imports_name_the_same_things() -> None:
    """A name in one and not the other is invisible to mypy users or to ``import``."""
    import ast

    tree = ast.parse((REPO / "claw_runtime" / "__init__.py").read_text())
    checked: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                for alias in statement.names:
                    checked[alias.name] = statement.module or ""
    exported = {
        name: module
        for name, module in vars(claw_runtime)["_EXPORTS"].items()
        if isinstance(module, str)
    }
    assert checked == exported
    for name in ("CompactionError", "CompactionOutcome", "Compacted", "CompactionStarted"):
        assert name in claw_runtime.__all__, name
