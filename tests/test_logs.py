"""Logging: quiet by default, JSON lines on request, secrets never written."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from claw_runtime.logs import close_logging, configure_logging, redact, redact_processor

log = structlog.get_logger("claw.test")


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    yield
    close_logging()
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("secret", "kept_prefix"),
    [
        ("sk-ant-api03-" + "a" * 40, "sk-ant-"),
        ("sk-proj-" + "b" * 40, "sk-proj-"),
        ("sk-" + "c" * 48, "sk-"),
        ("ghp_" + "d" * 36, "ghp_"),
        ("AKIA" + "E" * 16, "AKIA"),
        ("Bearer " + "f" * 30, "Bearer "),
    ],
)
def test_known_secret_patterns_are_masked(secret: str, kept_prefix: str) -> None:
    out = redact(f"calling with {secret} now")
    assert secret not in out
    assert f"{kept_prefix}***" in out


def test_values_of_secret_named_keys_are_masked_wherever_they_nest() -> None:
    event = {
        "event": "request",
        "api_key": "plain-looking-value",
        "headers": {"x-api-key": "abc", "Authorization": "Basic dXNlcjpwYXNz", "accept": "json"},
        "attempts": [{"token": "t0k3n"}],
    }
    out = redact_processor(None, "info", event)
    assert out["api_key"] == "***"
    assert out["headers"] == {"x-api-key": "***", "Authorization": "***", "accept": "json"}
    assert out["attempts"] == [{"token": "***"}]


@given(
    prefix=st.text(max_size=20),
    suffix=st.text(max_size=20),
    body=st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
        min_size=20,
        max_size=60,
    ),
)
def test_an_anthropic_key_in_any_text_never_survives(prefix: str, suffix: str, body: str) -> None:
    key = "sk-ant-" + body
    assert key not in redact(f"{prefix} {key} {suffix}")


def test_default_is_quiet_below_warning(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0)
    log.info("routine detail")
    log.warning("plugin failed", plugin="x")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "routine detail" not in captured.err
    assert "plugin failed" in captured.err and "plugin=x" in captured.err


def test_verbose_shows_info(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(1)
    log.info("routine detail", api_key="sk-ant-" + "z" * 30)
    err = capsys.readouterr().err
    assert "routine detail" in err
    assert "zzzz" not in err


def test_json_log_file_has_every_level_is_private_and_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs" / "claw.jsonl"
    configure_logging(0, path)
    log.debug("deep detail", turn=3)
    log.warning("careful", auth="Bearer " + "q" * 40)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("deep detail", "debug"),
        ("careful", "warning"),
    ]
    assert lines[0]["turn"] == 3
    assert "qqqq" not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "deep detail" not in capsys.readouterr().err  # the console stays quiet


def test_context_variables_flow_into_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "claw.jsonl"
    configure_logging(0, path)
    with structlog.contextvars.bound_contextvars(session_id="s-1", tool="Bash"):
        log.info("ran")
    line = json.loads(path.read_text())
    assert (line["session_id"], line["tool"]) == ("s-1", "Bash")


def test_structlog_is_imported_only_for_an_event_that_passes_the_level() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from claw_runtime.logs import configure_logging, get_logger\n"
        "configure_logging(0)\n"
        "log = get_logger('claw.test')\n"
        "log.info('below the level', n=1)\n"
        "print('before', 'structlog' in sys.modules)\n"
        "log.warning('shown', api_key='sk-ant-api03-' + 'x' * 40)\n"
        "print('after', 'structlog' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["before False", "after True"]
    assert "shown" in done.stderr and "below the level" not in done.stderr
    assert "x" * 40 not in done.stderr  # redacted as before
