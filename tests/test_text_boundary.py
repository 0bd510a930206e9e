"""Text that is not UTF-8 never crashes a run: names are escaped, the session file stays JSON.

Every test goes through the real loop (or the real CLI): a file name with a
byte that is not UTF-8, a working directory named so, such bytes in the
prompt, and a plugin tool returning a lone surrogate. Each checks that the run
finishes, that every transcript line parses as JSON, and that the model's
request shows the name as ``caf\\xe9.txt`` (the policy of ``claw_runtime.text``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.loop import Agent, AgentOptions, RunResult
from claw_runtime.models import Message
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.runtime import open_runtime
from claw_runtime.sessions.transcript import Transcript
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server
from claw_runtime.text import clean_text
from claw_runtime.tooling import tool
from tests._harness import claw_env, run_claw

pytestmark = pytest.mark.skipif(
    sys.platform == "darwin", reason="APFS refuses file names that are not UTF-8"
)

NAME = b"caf\xe9.txt"
SHOWN = "caf\\xe9.txt"  # what the model sees: the byte as a visible escape


def make_odd_file(directory: Path, content: bytes = b"needle in here\n") -> None:
    fd = os.open(os.fsencode(directory) + b"/" + NAME, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)


def transcript_records(path: Path) -> list[dict[str, Any]]:
    """Every line of the transcript, each of which must be valid JSON."""
    lines = path.read_bytes().splitlines()
    assert lines, "the transcript is empty"
    return [orjson.loads(line) for line in lines]


def strings_in(value: Any) -> str:
    """Every string inside a JSON value, one per line (to search what was recorded)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return "\n".join(strings_in(v) for v in value)
    return ""


async def run_loop(
    cwd: Path,
    calls: Sequence[ToolCallSpec],
    transcript: Path,
    *,
    prompt: str = "go",
    plugins: Sequence[tuple[str, object]] = (),
    allow: Sequence[str] = (),
) -> tuple[Agent, RunResult, list[dict[str, Any]]]:
    """One turn per call, then "done", through the real loop; the agent, result and requests."""
    turns = [Turn.call(spec) for spec in calls] + [Turn.say("done")]
    async with open_fake_model_server(Script(turns)) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "test-key"}
        async with open_runtime(
            Settings(), environ=env, no_plugins=True, extra_plugins=list(plugins)
        ) as runtime:
            name, provider_settings = runtime.provider_settings()
            session = runtime.new_session(cwd)
            agent = Agent(
                provider=runtime.make_provider(name, provider_settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=session,
                options=AgentOptions(
                    model=provider_settings.model,
                    permissions=PermissionPolicy.from_rules("default", allow=allow, project=cwd),
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
                transcript=Transcript(transcript, session_id=session.session_id, cwd=str(cwd)),
            )
            with trio.fail_after(60):
                result = await agent.run(prompt)
        bodies = [request.body for request in server.requests]
    return agent, result, bodies


def tool_result_texts(bodies: list[dict[str, Any]]) -> list[str]:
    """The text of every tool result the model was sent, in order (from the last request)."""
    texts = []
    for message in bodies[-1]["messages"]:
        for block in message["content"] if isinstance(message["content"], list) else ():
            if block.get("type") == "tool_result":
                content = block["content"]
                parts = content if isinstance(content, list) else [{"text": content}]
                texts.append("".join(p.get("text", "") for p in parts))
    return texts


# ------------------------------------------------------------------ the policy


def test_clean_text_policy() -> None:
    assert clean_text("plain café") == "plain café"
    assert clean_text(os.fsdecode(NAME)) == SHOWN
    assert clean_text("a\ud83d\ude00b") == "a\U0001f600b"  # a pair is joined
    assert clean_text("x\ud800y") == "x\\ud800y"  # any other lone surrogate
    orjson.dumps(clean_text("\udcff\udc80\ud800\udfff"))  # always serialisable


def test_a_prompt_message_is_clean() -> None:
    assert Message.user(os.fsdecode(b"hello \xff")).content[0].text == "hello \\xff"  # type: ignore[union-attr]


# ---------------------------------------------------------- through the loop


async def test_odd_file_name_in_ls_glob_grep(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    make_odd_file(work)
    (work / "plain.txt").write_text("needle too\n")
    calls = [
        ToolCallSpec("LS", {"path": str(work)}),
        ToolCallSpec("Glob", {"pattern": "*.txt", "path": str(work)}),
        ToolCallSpec("Grep", {"pattern": "needle", "path": str(work)}),
        ToolCallSpec("Grep", {"pattern": "needle", "path": str(work), "output_mode": "content"}),
    ]
    transcript = tmp_path / "t.jsonl"
    _, result, bodies = await run_loop(work, calls, transcript)
    assert (result.result, result.is_error) == ("done", False), result
    ls, glob, grep, grep_content = tool_result_texts(bodies)
    assert SHOWN in ls
    for text in (ls, glob, grep, grep_content):
        assert "plain.txt" in text
        # Glob and Grep decide their own display (today U+FFFD for the byte);
        # whatever they show, it reached the model as valid text.
        assert SHOWN in text or "caf\ufffd.txt" in text, text
    assert SHOWN in strings_in(transcript_records(transcript))


async def test_plugin_tool_returning_lone_surrogates(tmp_path: Path) -> None:
    @tool(name="Odd", read_only=True)
    async def odd() -> str:
        """Returns text no UTF-8 encoder accepts."""
        return "file " + os.fsdecode(NAME) + " and \ud800 alone"

    class Plugin:
        @hookimpl
        def register_tools(self, register: Callable[[Any], None]) -> None:
            register(odd)

    transcript = tmp_path / "t.jsonl"
    _, result, bodies = await run_loop(
        tmp_path, [ToolCallSpec("Odd", {})], transcript, plugins=[("odd", Plugin())]
    )
    assert (result.result, result.is_error) == ("done", False), result
    [text] = tool_result_texts(bodies)
    assert text == f"file {SHOWN} and \\ud800 alone"
    transcript_records(transcript)


async def test_prompt_with_surrogate_escaped_bytes(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    prompt = os.fsdecode(b"look at " + NAME)
    _, result, bodies = await run_loop(tmp_path, [], transcript, prompt=prompt)
    assert (result.result, result.is_error) == ("done", False), result
    assert bodies[0]["messages"][0]["content"][0]["text"] == f"look at {SHOWN}"
    assert f"look at {SHOWN}" in strings_in(transcript_records(transcript))


async def test_odd_working_directory_in_the_loop(tmp_path: Path) -> None:
    # The model can only send UTF-8, so it names files relative to the odd cwd.
    work = Path(os.fsdecode(os.fsencode(tmp_path) + b"/proj\xff"))
    work.mkdir()
    make_odd_file(work)
    (work / "plain.txt").write_text("plain text\n")
    transcript = tmp_path / "t.jsonl"
    calls = [
        ToolCallSpec("LS", {"path": "."}),
        ToolCallSpec("Read", {"file_path": "plain.txt"}),
        ToolCallSpec("Read", {"file_path": "missing.txt"}),
        ToolCallSpec("Write", {"file_path": "new.txt", "content": "hi\n"}),
        ToolCallSpec("Bash", {"command": "pwd"}),
    ]
    _, result, bodies = await run_loop(work, calls, transcript, allow=["Write", "Bash(pwd)"])
    assert (result.result, result.is_error) == ("done", False), result
    listed, read, missing, written, bash = tool_result_texts(bodies)
    assert SHOWN in listed and "plain.txt" in listed
    assert "plain text" in read
    assert "missing.txt" in missing
    assert "new.txt" in written
    assert "\n" not in bash.strip() or "proj" in bash  # whatever Bash makes of it: one line
    assert (work / "new.txt").read_text() == "hi\n"
    records = transcript_records(transcript)
    assert any(r.get("cwd", "").endswith("proj\\xff") for r in records)


# ------------------------------------------------------------------ the CLI


async def test_cli_in_an_odd_directory_with_an_odd_prompt(tmp_path: Path) -> None:
    work = os.fsencode(tmp_path) + b"/dir\xe9"
    os.mkdir(work)
    make_odd_file(Path(os.fsdecode(work)))
    script = Script([Turn.call(ToolCallSpec("LS", {"path": "."})), Turn.say("listed")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server)
        # The prompt goes in as raw bytes: Python hands it over surrogate-escaped.
        argv = ["-p", os.fsdecode(b"list " + NAME), "--output-format", "json"]
        done = await run_claw(argv, cwd=Path(os.fsdecode(work)), env=env)
        bodies = [request.body for request in server.requests]
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert b"Traceback" not in done.stderr
    assert orjson.loads(done.stdout)["result"] == "listed"
    assert "Working directory: " in strings_in(bodies[0]["system"])
    assert "dir\\xe9" in strings_in(bodies[0]["system"])  # the cwd, escaped
    first = bodies[0]["messages"][0]["content"]
    assert any(f"list {SHOWN}" in block.get("text", "") for block in first)
    assert SHOWN in tool_result_texts(bodies)[0]
    transcripts = list((tmp_path / "claw-home" / "projects").rglob("*.jsonl"))
    assert len(transcripts) == 1
    records = transcript_records(transcripts[0])
    assert any(r.get("cwd", "").endswith("dir\\xe9") for r in records)
