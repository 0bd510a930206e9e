"""``claw batch`` as a user runs it: a real subprocess against the fake model on loopback.

Each task's prompt names it, so the fake model's responder answers by prompt,
and what the server received shows which tasks ran, how often, and how many at
once. Every wait is bounded on trio's clock.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import trio
from hypothesis import strategies as st

from claw_runtime.testing import Script, ToolCallSpec, Turn
from claw_runtime.testing.fake_server import FakeModelServer, RecordedRequest

from _harness import claw_env, processes_with, start_claw


def _prompt(body: dict[str, Any]) -> str:
    first = body["messages"][0]["content"]
    return str(first if isinstance(first, str) else first[0]["text"])


def _answered(body: dict[str, Any]) -> bool:
    """The request carries a tool result: the task's second turn."""
    last = body["messages"][-1]["content"]
    return isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)


def _echo(body: dict[str, Any]) -> Turn:
    return Turn.say(f"answer to {_prompt(body)}")


def _prompts(requests: list[RecordedRequest]) -> list[str]:
    """The prompt of each task's first request, in arrival order."""
    return [_prompt(r.body) for r in requests if not _answered(r.body)]


def _write_tasks(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def _results(path: Path) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    by_id = {r["id"]: r for r in records}
    assert len(by_id) == len(records), "an id was recorded twice"
    return by_id


async def _claw(
    args: list[str], cwd: Path, env: dict[str, str], *, within_s: float = 60
) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(within_s):
        return await trio.run_process(
            [sys.executable, "-m", "claw_runtime", *args],
            cwd=cwd,
            env=env,
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_every_line_gets_a_result_and_bad_lines_are_errors(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    server: FakeModelServer = await fake_model_server(Script(responder=_echo))
    (tmp_path / "sub").mkdir()
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl",
        [
            {"id": "one", "prompt": "first"},
            {"prompt": "no id here", "colour": "blue"},
            "this is not json",
            {"id": "typed", "prompt": "x", "max_turns": "three"},
            {"id": 7, "prompt": "in a subdirectory", "cwd": "sub"},
            {"id": "nowhere", "prompt": "y", "cwd": "missing"},
            "",
            ["a", "list"],
        ],
    )
    out = tmp_path / "results.jsonl"
    done = await _claw(
        ["batch", str(tasks), "--out", str(out)], tmp_path, claw_env(tmp_path, server)
    )
    assert done.returncode == 1, done.stderr  # some lines failed
    assert b"Traceback" not in done.stderr
    assert b"ignored unknown key(s): colour" in done.stderr
    results = _results(out)
    assert len(results) == 7  # every non-blank line
    good = {k: v for k, v in results.items() if v["status"] == "succeeded"}
    assert {v["result"] for v in good.values()} == {
        "answer to first",
        "answer to no id here",
        "answer to in a subdirectory",
    }
    assert "one" in good and "7" in good
    for record in good.values():
        assert record["error"] is None and record["turns"] == 1
        assert len(record["session_id"]) == 36
        assert record["usage"]["output_tokens"] > 0 and record["cost_usd"] > 0
    failed = {v["line"]: v["error"] for v in results.values() if v["status"] == "failed"}
    assert "not JSON" in failed[3]
    assert "max_turns" in failed[4] and "expected an integer" in failed[4]
    assert "is not a directory" in failed[6]
    assert "expected a JSON object" in failed[8]
    # The model saw each good task once, and nothing for the bad lines.
    assert sorted(_prompts(server.requests)) == sorted(["first", "no id here", "in a subdirectory"])
    # The session in "sub" worked there.
    [sub_session] = [r for r in server.requests if _prompt(r.body) == "in a subdirectory"]
    assert str(tmp_path / "sub") in json.dumps(sub_session.body["system"])


async def test_a_failing_task_is_recorded_and_the_others_finish(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    def respond(body: dict[str, Any]) -> Turn:
        if _prompt(body) == "boom":
            return Turn.fail(status=400, error_message="the fake model refuses this one")
        return _echo(body)

    server: FakeModelServer = await fake_model_server(Script(responder=respond))
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl",
        [{"id": f"t{i}", "prompt": "boom" if i == 1 else f"task {i}"} for i in range(4)],
    )
    out = tmp_path / "results.jsonl"
    done = await _claw(
        ["batch", str(tasks), "--out", str(out), "--concurrency", "1"],
        tmp_path,
        claw_env(tmp_path, server),
    )
    assert done.returncode == 1, done.stderr
    assert b"3 succeeded, 1 failed" in done.stderr
    results = _results(out)
    assert results["t1"]["status"] == "failed"
    assert "the fake model refuses this one" in results["t1"]["error"]
    assert [results[f"t{i}"]["result"] for i in (0, 2, 3)] == [
        "answer to task 0",
        "answer to task 2",
        "answer to task 3",
    ]
    assert sorted(_prompts(server.requests)) == ["boom", "task 0", "task 2", "task 3"]


@pytest.mark.parametrize("executor", ["local", "ray"])
async def test_missing_credentials_are_one_line_before_any_task(
    tmp_path: Path, executor: str
) -> None:
    """Not a failed result per line: the batch does not start (and Ray is not started)."""
    tasks = _write_tasks(tmp_path / "tasks.jsonl", [{"prompt": f"p{i}"} for i in range(3)])
    out = tmp_path / "results.jsonl"
    done = await _claw(
        ["batch", str(tasks), "--out", str(out), "--executor", executor],
        tmp_path,
        claw_env(tmp_path),
    )
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("claw: no Anthropic credentials"), line
    assert out.read_text() == ""


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = running = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_concurrency_is_respected(
    tmp_path: Path, fake_model_server: Callable[[Script], Any], concurrency: int
) -> None:
    """Each task makes two requests (a tool call, then the answer); the span between
    them lies inside the task's session, so overlapping spans are sessions at once."""

    def respond(body: dict[str, Any]) -> Turn:
        if _answered(body):
            return _echo(body)
        # A slow first answer: eight pieces 40 ms apart.
        return Turn.call(
            ToolCallSpec("NoSuchTool"), text="working on it", chunk_size=2, delay_s=0.04
        )

    server: FakeModelServer = await fake_model_server(Script(responder=respond))
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl", [{"id": f"t{i}", "prompt": f"task {i}"} for i in range(6)]
    )
    out = tmp_path / "results.jsonl"
    done = await _claw(
        ["batch", str(tasks), "--out", str(out), "--concurrency", str(concurrency)],
        tmp_path,
        claw_env(tmp_path, server),
    )
    assert done.returncode == 0, done.stderr
    assert all(r["status"] == "succeeded" and r["turns"] == 2 for r in _results(out).values())
    spans: dict[str, list[float]] = {}
    for request in server.requests:
        spans.setdefault(_prompt(request.body), []).append(request.received_at)
    assert all(len(times) == 2 for times in spans.values()), spans
    assert _most_at_once([(a, b) for a, b in spans.values()]) == concurrency


async def _gone(pid: int) -> None:
    """Process ``pid`` ends (or is a zombie) within 10 s."""
    with trio.fail_after(10):
        while True:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:
                return
            if stat.rpartition(")")[2].split()[0] == "Z":
                return
            await trio.sleep(0.05)


def _slow_then_fast(gate: trio.Event | None, pidfile: Path) -> Callable[[dict[str, Any]], Turn]:
    """Tasks 0-2 answer at once; task 3 starts a sleeper through Bash and task 4 hangs
    (a stream that never ends), until ``gate`` is set (None: everything answers)."""

    def respond(body: dict[str, Any]) -> Turn:
        prompt = _prompt(body)
        if gate is None or gate.is_set() or prompt in ("task 0", "task 1", "task 2"):
            return _echo(body)
        if prompt == "task 3" and not _answered(body):
            command = f"sleep 300 & echo $! > {pidfile}; wait"
            return Turn.call(ToolCallSpec("Bash", {"command": command}))
        return Turn.say("never").with_fault(keepalive_s=0.5)

    return respond


async def test_an_interrupted_batch_keeps_its_results_and_a_rerun_does_the_rest(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    pidfile = tmp_path / "sleeper.pid"
    script = Script(responder=_slow_then_fast(trio.Event(), pidfile))
    server: FakeModelServer = await fake_model_server(script)
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl", [{"id": f"t{i}", "prompt": f"task {i}"} for i in range(6)]
    )
    out = tmp_path / "results.jsonl"
    args = [
        "batch", str(tasks), "--out", str(out), "--concurrency", "2",
        "--permission-mode", "bypassPermissions",
    ]  # fmt: skip
    env = claw_env(tmp_path, server)
    process = await start_claw(args, tmp_path, env, stderr=subprocess.PIPE)
    try:
        with trio.fail_after(60):
            # Tasks 0-2 finish; tasks 3 and 4 then hold both slots (one in a tool).
            while not (
                out.exists()
                and len(out.read_text().splitlines()) == 3
                and pidfile.exists()
                and pidfile.read_text().strip()
                and "task 4" in _prompts(server.requests)
            ):
                assert process.poll() is None
                await trio.sleep(0.05)
            process.send_signal(signal.SIGINT)
            stderr = await process.stderr.receive_some(65536) if process.stderr else b""
            await process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    await _gone(int(pidfile.read_text()))  # the Bash tool's process went with its session
    first = _results(out)
    assert sorted(first) == ["t0", "t1", "t2"]  # the cancelled tasks left no result
    assert all(r["status"] == "succeeded" for r in first.values())
    assert sorted(_prompts(server.requests)) == [f"task {i}" for i in range(5)]

    # The same command again: only the three unfinished tasks run.
    server.requests.clear()
    script.responder = _echo
    again = await _claw(args, tmp_path, env)
    assert again.returncode == 0, again.stderr
    assert b"3 task(s) already in" in again.stderr
    assert sorted(_prompts(server.requests)) == ["task 3", "task 4", "task 5"]
    results = _results(out)
    assert sorted(results) == [f"t{i}" for i in range(6)]
    assert {r["result"] for r in results.values()} == {f"answer to task {i}" for i in range(6)}


async def test_a_rerun_retries_failures_only_when_asked(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    failing = {"fails"}

    def respond(body: dict[str, Any]) -> Turn:
        if _prompt(body) in failing:
            return Turn.fail(status=400)
        return _echo(body)

    server: FakeModelServer = await fake_model_server(Script(responder=respond))
    tasks = _write_tasks(tmp_path / "tasks.jsonl", [{"prompt": "works"}, {"prompt": "fails"}])
    out = tmp_path / "results.jsonl"
    args = ["batch", str(tasks), "--out", str(out)]
    env = claw_env(tmp_path, server)
    assert (await _claw(args, tmp_path, env)).returncode == 1
    server.requests.clear()
    assert (await _claw(args, tmp_path, env)).returncode == 0  # nothing left to run
    assert server.requests == []
    failing.clear()
    retried = await _claw([*args, "--retry-failed"], tmp_path, env)
    assert retried.returncode == 0, retried.stderr
    assert _prompts(server.requests) == ["fails"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["status"] for line in lines if line["result"] == "answer to fails"] == [
        "succeeded"
    ]


async def test_the_agent_field_uses_agent_definitions(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    """A built-in agent (Explore: read-only tools, its own prompt) and a project's
    agent file (its model, tools and prompt) shape the task's session; an unknown
    agent is a failed task."""
    server: FakeModelServer = await fake_model_server(Script(responder=_echo))
    project = tmp_path / "project"
    (project / ".claude" / "agents").mkdir(parents=True)
    (project / ".claude" / "agents" / "counter.md").write_text(
        "---\nname: counter\ndescription: Counts things.\ntools: Read, Glob\n"
        "model: claude-counting-1\nmaxTurns: 3\n---\nYou count files, nothing else.\n"
    )
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl",
        [
            {"id": "explore", "prompt": "look around", "agent": "Explore"},
            {"id": "count", "prompt": "count them", "agent": "counter", "cwd": "project"},
            {"id": "nobody", "prompt": "hello", "agent": "no-such-agent"},
        ],
    )
    out = tmp_path / "results.jsonl"
    done = await _claw(
        ["batch", str(tasks), "--out", str(out)], tmp_path, claw_env(tmp_path, server)
    )
    assert done.returncode == 1, done.stderr
    results = _results(out)
    assert results["explore"]["status"] == "succeeded"
    assert results["count"]["status"] == "succeeded"
    assert results["nobody"]["status"] == "failed"
    assert "no agent named 'no-such-agent'" in results["nobody"]["error"]
    sent = {_prompt(r.body): r.body for r in server.requests}
    explore, count = sent["look around"], sent["count them"]
    explore_tools = {t["name"] for t in explore["tools"]}
    assert "Read" in explore_tools and not explore_tools & {"Bash", "Write", "Edit"}
    assert "read-only exploration sub-agent" in json.dumps(explore["system"])
    assert {t["name"] for t in count["tools"]} == {"Read", "Glob"}
    assert count["model"] == "claude-counting-1"
    assert "You count files, nothing else." in json.dumps(count["system"])


def _require_ray() -> None:
    """Skip (with why) without Ray; ``.ci/run`` installs it and sets CLAW_REQUIRE_RAY=1."""
    if importlib.util.find_spec("ray") is not None:
        return
    why = "ray is not installed (pip install 'claw-runtime[ray]')"
    if os.environ.get("CLAW_REQUIRE_RAY") == "1":
        pytest.fail(f"{why}, and CLAW_REQUIRE_RAY=1 requires it")
    pytest.skip(why)


@pytest.mark.slow
async def test_the_ray_executor_runs_the_batch_end_to_end_and_resumes(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    """On a local Ray instance: results as workers finish them, a bad line, Ctrl-C while
    a worker's session runs a tool (its process is stopped, the instance goes), a re-run."""
    _require_ray()
    pidfile = tmp_path / "sleeper.pid"
    interrupted = trio.Event()

    def respond(body: dict[str, Any]) -> Turn:
        if _prompt(body) == "sleeper" and not _answered(body) and not interrupted.is_set():
            command = f"sleep 300 & echo $! > {pidfile}; wait"
            return Turn.call(ToolCallSpec("Bash", {"command": command}))
        return _echo(body)

    script = Script(responder=respond)
    server: FakeModelServer = await fake_model_server(script)
    tasks = _write_tasks(
        tmp_path / "tasks.jsonl",
        [{"id": f"r{i}", "prompt": f"ray task {i}"} for i in range(4)]
        + ["{broken", {"id": "s", "prompt": "sleeper"}],
    )
    out = tmp_path / "results.jsonl"
    # A short private directory for Ray's sockets and files: its processes name it.
    ray_dir = tempfile.mkdtemp(prefix="claw-ray-")
    env = claw_env(tmp_path, server, RAY_TMPDIR=ray_dir)
    args = [
        "batch", str(tasks), "--out", str(out), "--executor", "ray",
        "--permission-mode", "bypassPermissions",
    ]  # fmt: skip
    process = await start_claw(args, tmp_path, env)
    try:
        with trio.fail_after(240):  # Ray takes seconds to start, more on a busy machine
            while not (
                out.exists()
                and len(out.read_text().splitlines()) == 5
                and pidfile.exists()
                and pidfile.read_text().strip()
            ):
                assert process.poll() is None, "claw batch ended early"
                await trio.sleep(0.1)
            process.send_signal(signal.SIGINT)
            await process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    await _gone(int(pidfile.read_text()))  # the worker's session stopped its tool
    first = _results(out)
    assert len(first) == 5 and {"r0", "r1", "r2", "r3"} < set(first)  # not "s"
    for i in range(4):
        record = first[f"r{i}"]
        assert (record["status"], record["result"]) == ("succeeded", f"answer to ray task {i}")
        assert record["turns"] == 1 and len(record["session_id"]) == 36
    [broken] = [r for r in first.values() if r["line"] == 5]
    assert broken["status"] == "failed" and "not JSON" in broken["error"]
    with trio.fail_after(30):  # the local Ray instance went with the batch
        while processes_with(ray_dir):
            await trio.sleep(0.2)

    server.requests.clear()
    interrupted.set()
    again = await _claw(args, tmp_path, env, within_s=240)
    assert again.returncode == 0, again.stderr
    assert _prompts(server.requests) == ["sleeper"]  # nothing done was done again
    results = _results(out)
    assert (results["s"]["status"], results["s"]["result"]) == ("succeeded", "answer to sleeper")
    # Each session file was written by the workers, under this test's home.
    sessions = {p.stem for p in (tmp_path / "claw-home" / "projects").glob("*/*.jsonl")}
    assert {r["session_id"] for r in results.values() if r["turns"]} <= sessions
    with trio.fail_after(30):
        while processes_with(ray_dir):
            await trio.sleep(0.2)
    shutil.rmtree(ray_dir, ignore_errors=True)


def test_the_docs_tasks_example_reads_as_documented() -> None:
    """docs/batch.md's example tasks file is what claw reads."""
    from claw_runtime.batch.tasks import BatchTask, parse_lines

    doc = (Path(__file__).parent.parent / "docs" / "batch.md").read_text()
    section = doc.split("## The tasks file", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    tasks = list(parse_lines(block.splitlines()))
    assert all(isinstance(t, BatchTask) for t in tasks)
    first, second, third = tasks
    assert (first.id, first.cwd, first.max_turns) == ("fix-parser", "repos/parser", 20)
    assert second.model == "haiku" and len(second.id) == 12  # an id from the line's hash
    assert third.agent == "Explore"


def test_a_torn_last_line_is_skipped_and_the_next_result_starts_its_own_line(
    tmp_path: Path,
) -> None:
    """A crash mid-write leaves half a line: reading skips it, writing starts afresh."""
    from claw_runtime.batch.results import BatchResult, ResultWriter, finished_ids

    out = tmp_path / "results.jsonl"
    out.write_bytes(
        BatchResult(id="a", status="succeeded").to_json()
        + b"\n"
        + BatchResult(id="b", status="failed", error="no").to_json()
        + b'\n{"id": "c", "sta'
    )
    assert finished_ids(out) == {"a", "b"}
    assert finished_ids(out, retry_failed=True) == {"a"}
    writer = ResultWriter(out)
    writer.open()
    try:
        writer.write(BatchResult(id="c", status="succeeded"))
        writer.write(BatchResult(id="b", status="succeeded"))  # a retry: the latest line counts
    finally:
        writer.close()
    lines = out.read_bytes().split(b"\n")
    assert json.loads(lines[-2])["id"] == "b" and json.loads(lines[-3])["id"] == "c"
    assert finished_ids(out, retry_failed=True) == {"a", "b", "c"}


def test_ids_from_the_line_are_stable_and_repeated_lines_get_their_own() -> None:
    from claw_runtime.batch.tasks import BadLine, BatchTask, parse_lines

    lines = [
        '{"prompt": "same"}',
        '{"prompt": "other"}',
        '{"prompt": "same"}',
        '{"id": "x", "prompt": "p"}',
        '{"id": "x", "prompt": "q"}',
    ]
    first = list(parse_lines(lines))
    again = list(parse_lines(lines))
    assert [t.id for t in first] == [t.id for t in again]
    same, other, same_again, x, x_again = first
    assert isinstance(same, BatchTask) and same_again.id == f"{same.id}-2"
    assert other.id not in (same.id, same_again.id) and x.id == "x"
    assert isinstance(x_again, BadLine) and "used by an earlier line" in x_again.error


async def test_results_that_cannot_be_written_stop_the_batch_with_one_line(
    tmp_path: Path, fake_model_server: Callable[[Script], Any]
) -> None:
    """/dev/full opens, then every write fails (ENOSPC): the batch stops at the first."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    server: FakeModelServer = await fake_model_server(Script(responder=_echo))
    tasks = _write_tasks(tmp_path / "tasks.jsonl", [{"prompt": f"p{i}"} for i in range(20)])
    env = claw_env(tmp_path, server)
    done = await _claw(
        ["batch", str(tasks), "--out", "/dev/full", "--concurrency", "1"], tmp_path, env
    )
    assert done.returncode == 1
    [line] = done.stderr.decode().splitlines()
    assert line.startswith("claw: batch stopped: cannot write /dev/full:"), line
    assert "space" in line.lower()
    assert len(_prompts(server.requests)) < 20  # it stopped instead of running the rest


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_LINES = st.lists(
    st.one_of(
        st.text(max_size=30),  # anything at all, mostly not JSON
        _JSON_VALUES.map(json.dumps),
        st.fixed_dictionaries(
            {"prompt": st.text(max_size=10)},
            optional={"id": st.text(max_size=3) | st.integers(), "max_turns": _JSON_VALUES},
        ).map(json.dumps),
    ).map(lambda line: line.replace("\n", " ")),
    max_size=12,
)


@hypothesis.given(_LINES)
def test_any_file_reads_as_one_task_or_bad_line_per_line_with_unique_ids(lines: list[str]) -> None:
    """Whatever a batch file holds, reading it never raises, every non-blank line is
    one task or one bad line, and no two share an id (results and resume key on it)."""
    from claw_runtime.batch.tasks import parse_lines

    items = list(parse_lines(lines))
    assert [item.line for item in items] == [
        n for n, line in enumerate(lines, start=1) if line.strip()
    ]
    ids = [item.id for item in items]
    assert len(set(ids)) == len(ids)
