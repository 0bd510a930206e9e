"""No input, file or flag crashes ``claw``: one clear line and a non-zero exit, or a
warning and a working run; never a traceback.

Every case runs the real CLI (``claw -p hi`` against the fake model, or
``claw inspect``) in a subprocess. Tests run as root, where permission bits do
not stop writes, so "unwritable" is made with things root cannot get past: a
regular file where a directory is expected, a directory where a file is.
The chosen behaviour of each case is documented in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
import trio

from claw_runtime.testing import Script, Turn, open_fake_model_server

from _harness import claw_env, run_claw

WORKS = 0
ERROR = 1
USAGE = 2


@attrs.frozen
class Case:
    """One fault: how to set it up, the exit code, and what stderr's claw line says."""

    name: str
    setup: Callable[[Path, dict[str, str]], list[str]]
    """Prepares ``tmp_path`` and the environment; returns the claw arguments."""
    exit_code: int
    says: tuple[str, ...]
    lines: int | None = 1
    """How many lines stderr has (None: not checked)."""


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def _user_settings(tmp: Path) -> Path:
    return tmp / "claw-home" / "settings.json"


def _with_settings(text: str | bytes) -> Callable[[Path, dict[str, str]], list[str]]:
    def setup(tmp: Path, env: dict[str, str]) -> list[str]:
        _write(_user_settings(tmp), text)
        return ["-p", "hi"]

    return setup


def _config_dir_is_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "claw-home", "not a directory")
    return ["-p", "hi"]


def _home_is_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "home-file", "not a directory")
    env["HOME"] = str(tmp / "home-file")
    del env["CLAW_CONFIG_DIR"], env["CLAUDE_CONFIG_DIR"]
    return ["-p", "hi"]


def _home_claw_is_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "home" / ".claw", "not a directory")
    del env["CLAW_CONFIG_DIR"]
    return ["-p", "hi"]


def _log_json_to_a_directory(tmp: Path, env: dict[str, str]) -> list[str]:
    return ["-p", "hi", "--log-json", str(tmp)]


def _log_json_under_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "a-file", "x")
    return ["-p", "hi", "--log-json", str(tmp / "a-file" / "log.jsonl")]


def _corrupt_trust_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "claw-home" / "trusted-projects.json", '{"not": "a list"')
    return ["-p", "hi"]


def _deeply_nested_trust_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "claw-home" / "trusted-projects.json", "[" * 100_000 + "]" * 100_000)
    return ["-p", "hi"]


def _trust_file_is_a_directory(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / "claw-home" / "trusted-projects.json").mkdir(parents=True)
    return ["-p", "hi", "--trust"]


def _trust_with_config_dir_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "claw-home", "not a directory")
    return ["-p", "hi", "--trust"]


def _cwd_is_a_file(tmp: Path, env: dict[str, str]) -> list[str]:
    _write(tmp / "a-file", "x")
    return ["-p", "hi", "--cwd", str(tmp / "a-file")]


def _cwd_does_not_exist(tmp: Path, env: dict[str, str]) -> list[str]:
    return ["-p", "hi", "--cwd", str(tmp / "nowhere")]


def _settings_is_a_directory(tmp: Path, env: dict[str, str]) -> list[str]:
    _user_settings(tmp).mkdir(parents=True)
    return ["-p", "hi"]


def _project_settings_is_a_directory(tmp: Path, env: dict[str, str]) -> list[str]:
    (tmp / ".claude" / "settings.json").mkdir(parents=True)
    return ["inspect"]


def _flags(*args: str) -> Callable[[Path, dict[str, str]], list[str]]:
    return lambda tmp, env: ["-p", "hi", *args]


def _env(**values: str) -> Callable[[Path, dict[str, str]], list[str]]:
    def setup(tmp: Path, env: dict[str, str]) -> list[str]:
        env.update(values)
        return ["-p", "hi"]

    return setup


_NESTED = "[" * 100_000 + "]" * 100_000

CASES = [
    # files and directories that are not what claw expects: the run still works
    Case("config dir is a file", _config_dir_is_a_file, WORKS, ("cannot save this session",)),
    Case("HOME is a file", _home_is_a_file, WORKS, ("cannot save this session",)),
    Case("~/.claw is a file", _home_claw_is_a_file, WORKS, ("cannot save this session",)),
    Case("corrupt trust file", _corrupt_trust_file, WORKS, ("trusting nothing",)),
    Case("deeply nested trust file", _deeply_nested_trust_file, WORKS, ("trusting nothing",)),
    # ... or cannot, and says why in one line
    Case("--log-json to a directory", _log_json_to_a_directory, ERROR, ("--log-json", "Is a dir")),
    Case("--log-json under a file", _log_json_under_a_file, ERROR, ("--log-json", "cannot write")),
    Case(
        "--trust, trust file is a directory",
        _trust_file_is_a_directory,
        ERROR,
        ("cannot remember trust", "trustedDirectories"),
    ),
    Case(
        "--trust, config dir is a file",
        _trust_with_config_dir_a_file,
        ERROR,
        ("cannot remember trust",),
    ),
    Case("--cwd is a file", _cwd_is_a_file, ERROR, ("--cwd", "is not a directory")),
    Case("--cwd does not exist", _cwd_does_not_exist, ERROR, ("--cwd", "does not exist")),
    Case("settings file is a directory", _settings_is_a_directory, ERROR, ("cannot be read",)),
    Case(
        "project settings is a directory",
        _project_settings_is_a_directory,
        ERROR,
        ("settings.json: cannot be read",),
    ),
    Case("settings not UTF-8", _with_settings(b'{"model": "\xff\xfe"}'), ERROR, ("not UTF-8",)),
    Case("settings nested 100000 deep", _with_settings(_NESTED), ERROR, ("nested too deeply",)),
    Case(
        "settings nested 100000 deep in an object",
        _with_settings('{"env": ' + _NESTED + "}"),
        ERROR,
        ("nested too deeply",),
    ),
    Case(
        "settings with a 5000-digit integer",
        _with_settings('{"maxTurns": 1' + "0" * 5000 + "}"),
        ERROR,
        ("settings.json: invalid JSON",),
    ),
    Case(
        "maxBudgetUsd 1e400 (inf)",
        _with_settings('{"maxBudgetUsd": 1e400}'),
        ERROR,
        ("settings.json: maxBudgetUsd must be a positive number, got Infinity",),
    ),
    Case(
        "maxBudgetUsd NaN",
        _with_settings('{"maxBudgetUsd": NaN}'),
        ERROR,
        ("maxBudgetUsd must be a positive number, got NaN",),
    ),
    Case(
        "maxTurns 0",
        _with_settings('{"maxTurns": 0}'),
        ERROR,
        ("settings.json: maxTurns must be a positive whole number, got 0",),
    ),
    Case(
        "maxBudgetTokens -1",
        _with_settings('{"maxBudgetTokens": -1}'),
        ERROR,
        ("maxBudgetTokens must be a positive whole number, got -1",),
    ),
    Case(
        "maxTurns 1e400",
        _with_settings('{"maxTurns": 1e400}'),
        ERROR,
        ("maxTurns: expected an integer",),
    ),
    Case(
        "hook timeout -1",
        _with_settings(
            '{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "true", '
            '"timeout": -1}]}]}}'
        ),
        ERROR,
        ("hooks.Stop[0].hooks[0].timeout must be a positive number of seconds, got -1",),
    ),
    Case(
        "CLAW_MAX_TURNS=abc",
        _env(CLAW_MAX_TURNS="abc"),
        ERROR,
        ("CLAW_MAX_TURNS: expected an integer",),
    ),
    Case("CLAW_MAX_TURNS=0", _env(CLAW_MAX_TURNS="0"), ERROR, ("CLAW_MAX_TURNS must be",)),
    Case(
        "CLAW_SESSION_END_TIMEOUT=soon",
        _env(CLAW_SESSION_END_TIMEOUT="soon"),
        ERROR,
        ("CLAW_SESSION_END_TIMEOUT must be a positive number of seconds",),
    ),
    # flags: argparse, one line, exit 2
    Case("--output-format xml", _flags("--output-format", "xml"), USAGE, ("invalid choice",)),
    Case(
        "--max-turns 0",
        _flags("--max-turns", "0"),
        USAGE,
        ("claw: --max-turns must be a positive whole number, got 0",),
    ),
    Case("--max-turns abc", _flags("--max-turns", "abc"), USAGE, ("--max-turns must be",)),
    Case("--max-turns 1.5", _flags("--max-turns", "1.5"), USAGE, ("--max-turns must be",)),
    Case(
        "--max-budget-usd nan",
        _flags("--max-budget-usd", "nan"),
        USAGE,
        ("--max-budget-usd must be a positive number, got nan",),
    ),
    Case("--max-budget-usd inf", _flags("--max-budget-usd", "inf"), USAGE, ("--max-budget-usd",)),
    Case("--max-budget-usd -1", _flags("--max-budget-usd=-1"), USAGE, ("--max-budget-usd",)),
    Case("--max-budget-usd 0", _flags("--max-budget-usd", "0"), USAGE, ("--max-budget-usd",)),
    Case(
        "--max-budget-tokens 0",
        _flags("--max-budget-tokens", "0"),
        USAGE,
        ("--max-budget-tokens must be a positive whole number",),
    ),
    Case(
        "--thinking-budget -1",
        _flags("--thinking-budget=-1"),
        USAGE,
        ("--thinking-budget must be a positive whole number, got -1",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault_is_one_clear_line(case: Case, tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        env = claw_env(tmp_path, server)
        args = case.setup(tmp_path, env)
        result = await run_claw(args, tmp_path, env)
    err = result.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    assert result.returncode == case.exit_code, err
    claw_lines = [line for line in err.splitlines() if line.startswith("claw")]
    assert claw_lines, err
    for words in case.says:
        assert words in claw_lines[0], err
    if case.lines is not None:
        assert len(err.strip().splitlines()) == case.lines, err
    if case.exit_code == WORKS and args[0] == "-p":
        assert result.stdout == b"ok\n", err
    elif case.exit_code != WORKS:
        assert result.stdout == b"" or args[0] == "inspect", result.stdout


async def test_a_session_that_cannot_be_saved_warns_once_and_sends_hooks_no_path(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "claw-home", "not a directory")
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        result = await run_claw(
            ["-p", "hi", "--output-format", "json"], tmp_path, claw_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr
    assert result.stderr.decode().count("cannot save this session") == 1
    last = json.loads(result.stdout.decode().splitlines()[-1])
    assert last["result"] == "ok" and not last["is_error"]


async def test_log_json_to_a_fifo_is_not_chmodded(tmp_path: Path) -> None:
    """``--log-json /dev/stderr``-like targets: written to, never chmod-ed (root would)."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo, 0o644)
    async with open_fake_model_server(Script([Turn.say("ok")])) as server, trio.open_nursery() as n:
        lines: list[bytes] = []

        async def drain() -> None:
            # open the read end in a thread: it blocks until claw opens the write end
            fd = await trio.to_thread.run_sync(os.open, fifo, os.O_RDONLY)
            with os.fdopen(fd, "rb") as reader:
                lines.extend(await trio.to_thread.run_sync(reader.readlines))

        n.start_soon(drain)
        result = await run_claw(
            ["-p", "hi", "--log-json", str(fifo)], tmp_path, claw_env(tmp_path, server)
        )
    assert result.returncode == 0, result.stderr
    assert fifo.stat().st_mode & 0o777 == 0o644
    assert all(json.loads(line) for line in lines)


async def test_deleted_working_directory(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    command = f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m claw_runtime "$@"'
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        env = claw_env(tmp_path, server)
        with trio.fail_after(60):
            result = await trio.run_process(
                ["sh", "-c", command, "sh", "-p", "hi"],
                cwd=tmp_path,
                env=env,
                stdin=b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        # an absolute --cwd still works from a deleted directory
        gone.mkdir()
        command_with_cwd = command.replace('"$@"', f'--cwd "{tmp_path}" "$@"')
        with trio.fail_after(60):
            works = await trio.run_process(
                ["sh", "-c", command_with_cwd, "sh", "-p", "hi"],
                cwd=tmp_path,
                env=env,
                stdin=b"",
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    err = result.stderr.decode()
    assert "Traceback" not in err and result.returncode == 1, err
    assert err.strip().splitlines() == [
        "claw: the current directory no longer exists (deleted?); "
        "cd to one that does, or pass --cwd DIR"
    ]
    assert works.returncode == 0 and works.stdout == b"ok\n", works.stderr


async def test_unexpected_errors_are_one_line(tmp_path: Path) -> None:
    """The last line of defence in main(): an error no code path expected is one line."""
    code = (
        "import sys; from claw_runtime.cli import app as m; "
        "m._dispatch = lambda parser, args: 1 / 0; "
        "sys.exit(m.main(['inspect']))"
    )
    with trio.fail_after(60):
        result = await trio.run_process(
            [sys.executable, "-c", code],
            env=claw_env(tmp_path),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    err = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in err, err
    assert (
        err.startswith("claw: unexpected error: ZeroDivisionError") and len(err.splitlines()) == 1
    )


# ------------------------------------------------------------------ the prompt on stdin


async def test_prompt_from_stdin(tmp_path: Path) -> None:
    async with open_fake_model_server(Script([Turn.say("ok")] * 3)) as server:
        env = claw_env(tmp_path, server)
        piped = await run_claw(["-p"], tmp_path, env, stdin=b"what is 2+2?\n")
        dash = await run_claw(["-p", "-", "--no-session"], tmp_path, env, stdin=b"from dash")
        run = await run_claw(["run"], tmp_path, env, stdin=b"from run")
    for result in (piped, dash, run):
        assert result.returncode == 0 and result.stdout == b"ok\n", result.stderr
    prompts = [r.body["messages"][0]["content"][0]["text"] for r in server.requests]
    assert prompts == ["what is 2+2?", "from dash", "from run"]


async def test_piped_text_is_appended_to_the_prompt(tmp_path: Path) -> None:
    log = b"ERROR: disk full\nat line 3\n"
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        result = await run_claw(
            ["-p", "why does this fail?"], tmp_path, claw_env(tmp_path, server), stdin=log
        )
    assert result.returncode == 0, result.stderr
    sent = server.requests[0].body["messages"][0]["content"][0]["text"]
    assert sent == "why does this fail?\n\nERROR: disk full\nat line 3"


async def test_a_prompt_larger_than_an_argument_can_hold(tmp_path: Path) -> None:
    big = ("All work and no play makes Jack a dull boy. " * 70_000)[: 3 * 1024 * 1024]
    async with open_fake_model_server(Script([Turn.say("ok")])) as server:
        result = await run_claw(
            ["-p", "--no-session"], tmp_path, claw_env(tmp_path, server), stdin=big.encode()
        )
    assert result.returncode == 0, result.stderr
    assert server.requests[0].body["messages"][0]["content"][0]["text"] == big


@pytest.mark.parametrize(
    ("args", "stdin"),
    [(["-p"], b""), (["-p", ""], b""), (["-p", "-"], b"  \n\n"), (["run"], b""), (["-p"], None)],
)
async def test_no_prompt_at_all_is_a_usage_error(
    tmp_path: Path, args: list[str], stdin: bytes | None
) -> None:
    """``None``: stdin is /dev/null (not a terminal, empty)."""
    async with open_fake_model_server(Script([])) as server:
        env = claw_env(tmp_path, server)
        result = await run_claw(
            args, tmp_path, env, stdin=subprocess.DEVNULL if stdin is None else stdin
        )
    err = result.stderr.decode()
    assert result.returncode == 2, err
    assert err.strip().splitlines() == [
        "claw: no prompt: give one (claw -p PROMPT) or pipe it in (echo PROMPT | claw -p)"
    ]
    assert server.requests == []


async def test_a_stdin_nobody_closes_does_not_hang_a_run_with_a_prompt(tmp_path: Path) -> None:
    """With a prompt argument claw waits a few seconds for piped text, then goes on."""
    read_end, write_end = os.pipe()
    try:
        async with open_fake_model_server(Script([Turn.say("ok")])) as server:
            with trio.fail_after(60):
                result = await trio.run_process(
                    [sys.executable, "-m", "claw_runtime", "-p", "hi", "--no-session"],
                    cwd=tmp_path,
                    env=claw_env(tmp_path, server),
                    stdin=read_end,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                )
    finally:
        os.close(read_end)
        os.close(write_end)
    err = result.stderr.decode()
    assert result.returncode == 0 and result.stdout == b"ok\n", err
    assert "no input on standard input after 3 s" in err
    assert server.requests[0].body["messages"][0]["content"][0]["text"] == "hi"


@pytest.mark.parametrize("command", [["sessions"], ["sessions", "show"], ["mcp", "add"], ["batch"]])
def test_a_subcommand_help_names_the_subcommand(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "claw_runtime", *command, "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: claw {' '.join(command)} "), done.stdout[:200]
