"""``claw -p`` as a user runs it: a real subprocess against the fake model on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.testing.fake_server import open_fake_model_server
from claw_runtime.testing.script import Script, ToolCallSpec, Turn

from _harness import claw_env, processes_with, run_claw


async def test_json_output_is_one_result_object_on_the_last_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    script = Script(
        [
            Turn.call(
                ToolCallSpec("Echo", {"text": "x"})
            ),  # unknown tool: an error result, the run goes on
            Turn.say("All done."),
        ]
    )
    async with open_fake_model_server(script) as server:
        result = await run_claw(
            ["-p", "summarise", "--output-format", "json", "--model", "claude-sonnet-4-5"],
            tmp_path,
            claw_env(tmp_path, server),
        )
    assert result.returncode == 0, result.stderr
    last = json.loads(result.stdout.decode().strip().splitlines()[-1])
    assert last["type"] == "result" and last["subtype"] == "success"
    assert last["result"] == "All done."
    assert last["is_error"] is False
    assert last["num_turns"] == 2
    assert last["stop_reason"] == "end_turn"
    assert last["usage"]["input_tokens"] > 0 and last["usage"]["output_tokens"] > 0
    assert last["total_cost_usd"] > 0
    assert last["duration_ms"] > 0
    assert len(last["session_id"]) == 36
    assert last["permission_denials"] == []
    sent = server.requests[0].body
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["messages"][0]["content"][0]["text"] == "summarise"


async def test_stream_json_prints_every_event_then_the_result(tmp_path: Path) -> None:
    script = Script([Turn.say("streamed answer", chunk_size=4)])
    async with open_fake_model_server(script) as server:
        result = await run_claw(
            ["-p", "hi", "--output-format", "stream-json"], tmp_path, claw_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    types = [line["type"] for line in lines]
    assert types[0] == "session_started"
    assert types[-1] == "result" and types[-2] == "session_ended"
    assert (
        "".join(line["text"] for line in lines if line["type"] == "text_delta") == "streamed answer"
    )
    assert types.count("text_delta") == 4
    assert "turn_finished" in types and "task_state" in types


async def test_text_output_prints_the_answer(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("plain answer")])) as server:
        result = await run_claw(["run", "hi", "--no-session"], tmp_path, claw_env(tmp_path, server))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "plain answer\n"
    assert not (tmp_path / "claw-home" / "projects").exists()


async def test_transcript_is_written_privately(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("kept")])) as server:
        result = await run_claw(
            ["-p", "hi", "--output-format", "json"], tmp_path, claw_env(tmp_path, server)
        )
    session_id = json.loads(result.stdout.decode().splitlines()[-1])["session_id"]
    [transcript] = (tmp_path / "claw-home" / "projects").glob(f"*/{session_id}.jsonl")
    assert transcript.stat().st_mode & 0o777 == 0o600
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert [r["type"] for r in records] == ["user", "assistant", "result"]


async def test_missing_key_says_which_variables_to_set(tmp_path: Path) -> None:
    result = await run_claw(["-p", "hi"], tmp_path, claw_env(tmp_path))
    assert result.returncode == 1
    assert result.stdout == b""
    err = result.stderr.decode().strip()
    assert len(err.splitlines()) == 1
    assert "ANTHROPIC_API_KEY" in err and "OPENAI_API_KEY" in err


async def test_an_auth_failure_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.fail(status=401)])) as server:
        result = await run_claw(
            ["-p", "hi", "--output-format", "json"], tmp_path, claw_env(tmp_path, server)
        )
    assert result.returncode == 1
    last: dict[str, Any] = json.loads(result.stdout.decode().splitlines()[-1])
    assert last["is_error"] and last["stop_reason"] == "error"
    assert "authentication failed: check ANTHROPIC_API_KEY (HTTP 401)" in last["result"]
    assert len(server.requests) == 1  # 401 is not retried


async def test_max_turns_flag_stops_with_an_error_exit(tmp_path: Path) -> None:
    turns = [Turn.call(ToolCallSpec("Nope", {})) for _ in range(3)]
    async with open_fake_model_server(Script(turns)) as server:
        result = await run_claw(
            ["-p", "loop", "--max-turns", "2", "--output-format", "json"],
            tmp_path,
            claw_env(tmp_path, server),
        )
    assert result.returncode == 1
    last = json.loads(result.stdout.decode().splitlines()[-1])
    assert (last["stop_reason"], last["num_turns"], last["subtype"]) == (
        "max_turns",
        2,
        "error_max_turns",
    )


def test_version_imports_nothing_heavy() -> None:
    code = (
        "import sys; from claw_runtime.cli.main import main; "
        "heavy = ('trio', 'httpx', 'pluggy', 'cattrs', 'structlog', 'rich'); "
        "heavy = [m for m in heavy if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    version = subprocess.run(
        [sys.executable, "-m", "claw_runtime", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout.startswith("claw ")  # its speed is measured in benchmarks/, not here


async def test_ctrl_c_cancels_kills_tools_and_reports_cancelled(tmp_path: Path) -> None:
    import signal

    pidfile = tmp_path / "sleeper.pid"
    command = f"sleep 300 & echo $! > {pidfile}; wait"
    script = Script([Turn.call(ToolCallSpec("Bash", {"command": command})), Turn.say("never")])
    async with open_fake_model_server(script) as server:
        args = ["-p", "go", "--output-format", "json", "--permission-mode", "bypassPermissions"]
        env = claw_env(tmp_path, server)
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process,
                    [sys.executable, "-m", "claw_runtime", *args],
                    cwd=tmp_path,
                    env=env,
                    stdout=subprocess.PIPE,
                    check=False,
                )
            )
            with trio.fail_after(30):
                while not pidfile.exists() or not pidfile.read_text().strip():
                    await trio.sleep(0.05)
                process.send_signal(signal.SIGINT)
                output = b""
                assert process.stdout is not None
                async for chunk in process.stdout:
                    output += chunk
    assert process.returncode == 130
    result = json.loads(output.decode().splitlines()[-1])
    assert (result["stop_reason"], result["is_error"]) == ("cancelled", True)
    assert result["result"] == "Cancelled by the user."
    sleeper = int(pidfile.read_text())
    with trio.fail_after(5):
        while (
            Path(f"/proc/{sleeper}").exists()
            and Path(f"/proc/{sleeper}/stat").read_text().split()[2] != "Z"
        ):
            await trio.sleep(0.05)
    [transcript] = (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    tool_result = records[2]["message"]["content"][0]
    assert tool_result["is_error"] and "aborted" in tool_result["content"][0]["text"]
    assert records[-1]["type"] == "result"


def test_live_renderer_shows_the_whole_todo_list() -> None:
    import io

    from claw_runtime.cli.live import LiveRenderer
    from claw_runtime.events import ToolCallFinished, ToolCallStarted
    from claw_runtime.models import TextBlock, ToolResultBlock

    out = io.StringIO()
    renderer = LiveRenderer(out, plain=True)
    text = "Todo list updated: 1/2 completed.\n[x] Read the code\n[~] Fix the bug"
    renderer.handle(ToolCallStarted(tool_use_id="t", name="TodoWrite", input={}))
    result = ToolResultBlock(tool_use_id="t", content=(TextBlock(text=text),))
    renderer.handle(
        ToolCallFinished(tool_use_id="t", name="TodoWrite", result=result, duration_ms=1)
    )
    assert out.getvalue().splitlines() == [
        "● TodoWrite",
        "  [x] Read the code",
        "  [~] Fix the bug",
    ]


async def test_thinking_budget_flag_reaches_the_request(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("ok", thinking="hmm")])) as server:
        result = await run_claw(
            ["-p", "hi", "--thinking-budget", "2048"], tmp_path, claw_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr
    assert server.requests[0].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}


async def test_a_background_dev_server_does_not_hold_claw_open(tmp_path: Path) -> None:
    import os
    import time

    marker = f"claw-devserver-{os.getpid()}-{time.monotonic_ns()}"
    serve = ToolCallSpec("Bash", {"command": f"sleep 300 # {marker}", "run_in_background": True})
    script = Script([Turn.call(serve), Turn.say("the dev server is up")])
    async with open_fake_model_server(script) as server:
        started = trio.current_time()
        result = await run_claw(
            ["-p", "start the dev server", "--allowed-tools", "Bash"],
            tmp_path,
            claw_env(tmp_path, server),
        )
        took = trio.current_time() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "the dev server is up"
    assert took < 20  # not the 300 s the server would run
    assert b"stopped " in result.stderr and b"still running when the session ended" in result.stderr
    assert processes_with(marker) == []


def _long_worker(tool_turns: int) -> Script:
    """Bash calls that each print ~4,000 characters, then "all done"; a summary request
    (no tools, the compaction's system prompt) gets a summary."""
    from claw_runtime.context.compaction import SUMMARY_SYSTEM_PROMPT

    calls = {"n": 0}

    def respond(body: dict[str, Any]) -> Turn:
        system = "\n".join(block.get("text", "") for block in body.get("system") or ())
        if system == SUMMARY_SYSTEM_PROMPT:
            return Turn.say("<summary>the work so far</summary>")
        calls["n"] += 1
        if calls["n"] <= tool_turns:
            return Turn.call(ToolCallSpec("Bash", {"command": "cat big.txt"}))
        return Turn.say("all done")

    return Script(responder=respond)


async def test_an_automatic_compaction_is_one_line_on_stderr_and_events_in_stream_json(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "big.txt").write_text("lorem ipsum dolor sit amet " * 150)
    (tmp_path / "claw-home").mkdir()
    (tmp_path / "claw-home" / "settings.json").write_text(
        json.dumps({"compaction": {"contextWindow": 12_500, "keepRecent": 0.25}})
    )
    flags = ["--permission-mode", "bypassPermissions"]
    async with open_fake_model_server(_long_worker(8)) as server:
        env = claw_env(tmp_path, server)
        text = await run_claw(["-p", "work hard", *flags], project, env)
    assert text.returncode == 0, text.stderr
    assert text.stdout.decode().strip() == "all done"
    [line] = [x for x in text.stderr.decode().splitlines() if "compacted" in x]
    assert re.fullmatch(r"claw: conversation compacted \(\d+(\.\d)?k → \d+(\.\d)?k tokens\)", line)

    async with open_fake_model_server(_long_worker(8)) as server:
        env = claw_env(tmp_path, server)
        streamed = await run_claw(
            ["-p", "work hard", *flags, "--output-format", "stream-json"], project, env
        )
    assert streamed.returncode == 0, streamed.stderr
    assert b"compacted" not in streamed.stderr  # machine-readable: the events say it
    events = [json.loads(x) for x in streamed.stdout.decode().splitlines()]
    [started] = [e for e in events if e["type"] == "compaction_started"]
    [compacted] = [e for e in events if e["type"] == "compacted"]
    assert started["trigger"] == compacted["trigger"] == "auto"
    assert compacted["tokens_before"] == started["tokens"] > compacted["tokens_after"] > 0
    assert compacted["session_id"] == events[0]["session_id"]


def test_the_live_renderer_shows_an_automatic_compaction_as_one_line() -> None:
    import io

    from claw_runtime.cli.live import LiveRenderer
    from claw_runtime.events import Compacted, TextDelta

    out = io.StringIO()
    renderer = LiveRenderer(out, plain=True)
    renderer.handle(TextDelta(turn=1, text="working"))
    done = Compacted(
        trigger="auto",
        tokens_before=4_200,
        tokens_after=850,
        summarised_messages=9,
        kept_messages=2,
    )
    renderer.handle(done)
    renderer.handle(attrs.evolve(done, trigger="manual"))  # /compact's answer says it
    assert out.getvalue().splitlines() == ["working", "Conversation compacted (4.2k → 850 tokens)"]


def _sent_text(body: dict[str, Any]) -> str:
    [message] = [m for m in body["messages"] if m["role"] == "user"]
    content = message["content"]
    return content if isinstance(content, str) else content[0]["text"]


async def test_claw_p_attaches_the_files_a_prompt_mentions(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("the secret word is mango\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("not for the model\n")
    async with open_fake_model_server(Script([Turn.say("summarised")])) as server:
        prompt = f"summarise @notes.txt and @{outside}"
        result = await run_claw(["-p", prompt], project, claw_env(tmp_path, server))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "summarised"
    assert result.stderr.decode().splitlines() == [
        f"claw: warning: @{outside} not attached: it is outside the workspace"
    ]
    sent = _sent_text(server.requests[0].body)
    assert sent.startswith(prompt + "\n\n")
    assert '<file path="notes.txt">' in sent and "the secret word is mango" in sent
    assert "not for the model" not in sent


async def test_an_embedder_can_send_a_prompt_without_attaching_its_mentions(
    tmp_path: Path,
) -> None:
    from claw_runtime.runtime import open_runtime

    (tmp_path / "notes.txt").write_text("the secret word is mango\n")
    script = Script([Turn.say("as given"), Turn.say("attached")])
    async with (
        open_fake_model_server(script) as server,
        open_runtime(Settings(), cwd=tmp_path, environ=claw_env(tmp_path, server)) as runtime,
        runtime.open_session(cwd=tmp_path, persist=False) as session,
    ):
        await session.run("look at @notes.txt", mentions=False)
        await session.run("look at @notes.txt")
    first, second = (r.body for r in server.requests)
    assert _sent_text(first) == "look at @notes.txt"
    last = second["messages"][-1]["content"][0]["text"]
    assert last.startswith("look at @notes.txt\n\n<file") and "mango" in last


async def test_slash_commands_that_need_no_model_work_without_credentials(
    tmp_path: Path,
) -> None:
    env = claw_env(tmp_path)  # no ANTHROPIC_API_KEY, no OPENAI_API_KEY
    assert not any(key.endswith("_API_KEY") for key in env)
    expected = {
        "/help": "/compact [focus]",
        "/cost": "No model calls in this session yet",
        "/tools": "Bash",
        "/status": "Model:              claude-",
        "/doctor": "Settings files",
        "/context": "Context window: claude-",
    }
    for command, shown in expected.items():
        done = await run_claw(["-p", command], tmp_path, env)
        assert done.returncode == 0, (command, done.stderr)
        assert shown in done.stdout.decode(), (command, done.stdout)
        assert done.stderr == b"", (command, done.stderr)
    status = await run_claw(["-p", "/status"], tmp_path, env)
    assert "Provider:           anthropic (" in status.stdout.decode()
    assert "ANTHROPIC_API_KEY" in status.stdout.decode()  # what to set, before the first prompt
    # A prompt still fails at once with the one line saying what to set, in every format.
    streamed = await run_claw(["-p", "hi", "--output-format", "json"], tmp_path, env)
    assert streamed.returncode == 1
    result = json.loads(streamed.stdout.decode().splitlines()[-1])
    assert result["is_error"] and "ANTHROPIC_API_KEY" in result["result"]
    assert result["num_turns"] == 0


async def test_a_prompt_without_credentials_sends_nothing_and_leaves_no_message(
    tmp_path: Path,
) -> None:
    async with open_fake_model_server(Script([Turn.say("later, with a key")])) as server:
        env = claw_env(tmp_path, server)
        without_key = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
        failed = await run_claw(["-p", "first try"], tmp_path, without_key)
        assert failed.returncode == 1
        assert failed.stderr.decode().splitlines() == [
            "claw: no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN for "
            "a bearer token), or use another provider, e.g. --provider openai with OPENAI_API_KEY"
        ]
        assert server.requests == []
        again = await run_claw(["-c", "-p", "second try"], tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.decode().strip() == "later, with a key"
    [request] = server.requests
    assert [m["role"] for m in request.body["messages"]] == ["user"]  # no dangling prompt
