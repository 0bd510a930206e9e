"""Shared ways to drive claw for real in tests: the CLI in a subprocess, the loop in-process.

Adversarial corpora use :func:`run_calls`: every call is one scripted model turn
through the real agent loop (provider over loopback HTTP, plugins, hooks,
permission policy in the given mode, the real tools), so a test checks effects
(a marker file, a write outside, a secret in a request) rather than return values.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.permissions import PermissionMode, PermissionPolicy
from claw_runtime.runtime import open_runtime
from claw_runtime.sessions.transcript import Transcript
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.testing.fake_server import FakeModelServer

__all__ = [
    "CallOutcome",
    "claw_env",
    "processes_with",
    "require_binary",
    "run_calls",
    "run_claw",
    "start_claw",
]


_SHARED_CACHE_DIR = os.path.join(tempfile.gettempdir(), f"claw-test-cache-{os.getuid()}")


def claw_env(tmp_path: Path, server: FakeModelServer | None = None, **extra: str) -> dict[str, str]:
    """A clean environment for a ``claw`` subprocess: its own HOME and config dirs.

    The cache of generated code (``claw_runtime/cli/_codegen_cache.py``) is shared by
    the suite's runs, as by a user's: it only holds what attrs and cattrs compile.
    """
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "CLAW_CONFIG_DIR": str(tmp_path / "claw-home"),
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-home"),
        "CLAW_CACHE_DIR": _SHARED_CACHE_DIR,
    }
    if server is not None:
        env |= {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
    return env | extra


async def run_claw(
    args: list[str], cwd: Path, env: dict[str, str], stdin: bytes | int | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``python -m claw_runtime ARGS`` in ``cwd``; stdout and stderr captured; ``stdin``
    bytes to send (none by default) or a file descriptor such as ``subprocess.DEVNULL``."""
    with trio.fail_after(60):
        return await trio.run_process(
            [sys.executable, "-m", "claw_runtime", *args],
            cwd=cwd,
            env=env,
            stdin=stdin if stdin is not None else b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def start_claw(
    args: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    *,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.DEVNULL,
    start_new_session: bool = False,
) -> trio.Process:
    """``python -m claw_runtime ARGS`` started in ``cwd`` and not waited for (to signal,
    kill or watch it); stdin is closed, output discarded unless asked for."""
    return await trio.lowlevel.open_process(
        [sys.executable, "-m", "claw_runtime", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=start_new_session,
    )


@attrs.frozen
class CallOutcome:
    """What the model was told about one tool call."""

    text: str
    is_error: bool

    @property
    def refused(self) -> bool:
        """The call did not run because a rule, a protected path or the workspace edge said no."""
        lowered = self.text.lower()
        return self.is_error and any(
            word in lowered
            for word in ("needs approval", "not granted", "denied", "protected", "outside the work")
        )


async def run_calls(
    cwd: Path,
    calls: Sequence[ToolCallSpec | tuple[str, dict[str, Any]]],
    *,
    mode: PermissionMode = "default",
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    ask: Sequence[str] = (),
    settings: Settings | None = None,
    environ: dict[str, str] | None = None,
    transcript: Path | None = None,
) -> list[CallOutcome]:
    """Run each call as one model turn through the real loop; what each call returned.

    The run is headless (nobody to ask), so an ``ask`` verdict is a refusal. With
    ``transcript``, the session's transcript is written to that path.
    """
    specs = [c if isinstance(c, ToolCallSpec) else ToolCallSpec(*c) for c in calls]
    turns = [Turn.call(spec) for spec in specs] + [Turn.say("done")]
    async with open_fake_model_server(Script(turns)) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
        env |= environ or {}
        async with open_runtime(settings or Settings(), environ=env, no_plugins=True) as runtime:
            name, provider_settings = runtime.provider_settings()
            policy = PermissionPolicy.from_rules(mode, allow=allow, deny=deny, ask=ask, project=cwd)
            agent = Agent(
                provider=runtime.make_provider(name, provider_settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=runtime.new_session(cwd),
                options=AgentOptions(model=provider_settings.model, permissions=policy),
                scheduler=runtime.scheduler,
                http=runtime.http,
                transcript=Transcript(transcript),
            )
            with trio.fail_after(120):
                result = await agent.run("go")
    assert result.result == "done", result
    outcomes = []
    for message in agent.messages[2::2]:
        [block] = message.content
        text = "".join(getattr(part, "text", "") for part in block.content)  # type: ignore[union-attr]
        outcomes.append(CallOutcome(text=text, is_error=block.is_error))  # type: ignore[union-attr]
    assert len(outcomes) == len(specs)
    return outcomes


def require_binary(name: str, package: str | None = None) -> str:
    """The path of system binary ``name``; skip the test (with why) when it is missing.

    ``.ci/run`` installs every such binary and sets ``CLAW_REQUIRE_BINARIES=1``,
    which turns the skip into a failure, so CI always runs these tests.
    """
    import shutil

    import pytest

    found = shutil.which(name)
    if found is not None:
        return found
    why = f"{name} is not installed (apt-get install {package or name})"
    if os.environ.get("CLAW_REQUIRE_BINARIES") == "1":
        pytest.fail(f"{why}, and CLAW_REQUIRE_BINARIES=1 requires it")
    pytest.skip(why)


def builtin_call(name: str, cwd: Path, read_only: bool | None = None, **tool_input: Any) -> Any:
    """A ``ToolCall`` for built-in tool ``name`` with its targets resolved as the executor does."""
    import importlib
    import pkgutil

    import claw_runtime.tools
    from claw_runtime.hooks.decisions import ToolCall
    from claw_runtime.permissions.targets import with_targets
    from claw_runtime.tooling import Tool

    tools: dict[str, Tool] = {}
    for info in pkgutil.iter_modules(claw_runtime.tools.__path__):
        module = importlib.import_module(f"claw_runtime.tools.{info.name}")
        tools |= {t.name: t for t in vars(module).values() if isinstance(t, Tool)}
    found = tools[name]
    call = ToolCall(
        tool_use_id="t",
        name=name,
        input=tool_input,
        read_only=found.read_only if read_only is None else read_only,
    )
    return with_targets(call, found, cwd)


class _ThreadServer:
    """A fake model server running in its own thread and trio run (for sync/asyncio tests)."""

    def __init__(self, script: Script) -> None:
        import threading

        self.script = script
        self.ready = threading.Event()
        self.server: FakeModelServer | None = None
        self.token: trio.lowlevel.TrioToken | None = None
        self.stop: trio.Event | None = None
        self.thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self.stop = trio.Event()
        async with open_fake_model_server(self.script) as server:
            self.server = server
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> FakeModelServer:
        self.thread.start()
        assert self.ready.wait(30), "the fake server did not start"
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None and self.stop is not None
        trio.from_thread.run_sync(self.stop.set, trio_token=self.token)
        self.thread.join(30)


def fake_server_in_thread(script: Script) -> _ThreadServer:
    """``with fake_server_in_thread(Script(...)) as server:`` from synchronous code."""
    return _ThreadServer(script)


def received_tool_results(server: FakeModelServer) -> dict[str, dict[str, Any]]:
    """tool_use_id -> the tool_result block the model received (first time it was sent)."""
    seen: dict[str, dict[str, Any]] = {}
    for request in server.requests:
        for message in request.body["messages"]:
            if isinstance(message["content"], list):
                for block in message["content"]:
                    if block.get("type") == "tool_result":
                        seen.setdefault(block["tool_use_id"], block)
    return seen


def result_text(block: dict[str, Any], separator: str = "") -> str:
    """A tool_result block's text, whether its content is a string or a list of parts."""
    content = block["content"]
    if isinstance(content, str):
        return content
    return separator.join(part.get("text", "") for part in content)


async def processes_once(marker: str, *, running: bool, within: float = 5.0) -> list[str]:
    """:func:`processes_with` ``marker`` once some are ``running`` (or none are), looking
    every 0.1 s for at most ``within`` seconds of real time: the processes are real, and
    starting or ending one is not instant (a shell exec'ing the next stage can read as
    having no command line for a moment)."""
    found = processes_with(marker)
    for _ in range(int(within / 0.1)):
        if bool(found) == running:
            break
        await trio.sleep(0.1)
        found = processes_with(marker)
    return found


def processes_with(marker: str) -> list[str]:
    """PIDs of live processes whose command line contains ``marker`` (orphan checks)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(pid)
        except OSError:
            continue
    return found
