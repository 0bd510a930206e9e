"""What every subcommand does first: logging, settings, working directory."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import attrs

from claw_runtime.config.settings import LoadedSettings, Settings, load_settings
from claw_runtime.errors import ConfigError
from claw_runtime.logs import configure_logging

__all__ = ["CliContext", "prepare"]


@attrs.frozen(kw_only=True)
class CliContext:
    """Settings and flags every subcommand shares."""

    settings: Settings
    cwd: Path
    no_plugins: bool
    environ: dict[str, str]
    sources: tuple[Path, ...] = ()
    loaded: LoadedSettings | None = None
    """Everything the settings loader found: warnings, notes, trust (doctor, inspect)."""


def _cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Flags in the shape of a settings file, so they layer like one (and win)."""
    overrides: dict[str, Any] = {}
    for flag, key in (("model", "model"), ("provider", "provider"), ("max_turns", "maxTurns")):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
    if getattr(args, "max_budget_usd", None) is not None:
        overrides["maxBudgetUsd"] = args.max_budget_usd
    if getattr(args, "max_budget_tokens", None) is not None:
        overrides["maxBudgetTokens"] = args.max_budget_tokens
    permissions: dict[str, Any] = {}
    if getattr(args, "permission_mode", None):
        permissions["defaultMode"] = args.permission_mode
    if getattr(args, "allowed_tools", None):
        permissions["allow"] = _split_rules(args.allowed_tools)
    if getattr(args, "disallowed_tools", None):
        permissions["deny"] = _split_rules(args.disallowed_tools)
    if getattr(args, "add_dir", None):
        permissions["additionalDirectories"] = [str(Path(d).resolve()) for d in args.add_dir]
    if permissions:
        overrides["permissions"] = permissions
    return overrides


def _split_rules(values: list[str]) -> list[str]:
    """``--allowed-tools "Read,Edit" Bash`` -> ``["Read", "Edit", "Bash"]``.

    Claude Code accepts both spellings, so claw does too.
    """
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _getcwd_works() -> bool:
    try:
        os.getcwd()
    except OSError:
        return False
    return True


def _working_directory(flag: str | None) -> Path | None:
    """``--cwd`` or the current directory, resolved; None after one line on stderr."""
    try:
        cwd = Path(flag).expanduser().resolve() if flag else Path.cwd()
        if flag and cwd.is_dir() and not _getcwd_works():
            os.chdir(cwd)  # deleted under us: work from --cwd (code that asks getcwd works)
    except OSError:  # os.getcwd() fails: the directory was deleted under us
        print(
            "claw: the current directory no longer exists (deleted?); "
            "cd to one that does, or pass --cwd DIR",
            file=sys.stderr,
        )
        return None
    try:
        is_dir = cwd.is_dir()
    except OSError:
        is_dir = False
    if not is_dir:
        what = "does not exist" if not os.path.lexists(cwd) else "is not a directory"
        print(f"claw: --cwd {cwd} {what}", file=sys.stderr)
        return None
    return cwd


def prepare(args: argparse.Namespace, *, may_ask: bool = False) -> CliContext | None:
    """Configure logging and load settings; None (after one line on stderr) on a config error.

    With ``may_ask`` and a person at the terminal, an untrusted project whose
    settings ask for more power leads to a question: trust it or not.
    """
    log_json = Path(args.log_json) if args.log_json else None
    try:
        configure_logging(args.verbose, log_json)
    except OSError as exc:
        # Asked for, so not silently dropped: the run does not start without its log.
        print(
            f"claw: --log-json {log_json}: cannot write the log there ({exc.strerror or exc}); "
            "choose a file in a writable directory",
            file=sys.stderr,
        )
        configure_logging(args.verbose, None)
        return None
    cwd = _working_directory(args.cwd)
    if cwd is None:
        return None
    environ = dict(os.environ)
    try:
        loaded: LoadedSettings = load_settings(
            cwd,
            cli_overrides=_cli_overrides(args),
            environ=environ,
            trust=bool(getattr(args, "trust", False)),
        )
        if not loaded.trusted and (cwd / ".mcp.json").is_file():  # servers wait for trust too
            from claw_runtime.mcp.config import servers_awaiting_trust

            awaiting = servers_awaiting_trust(cwd, environ)
            loaded = attrs.evolve(loaded, withheld=(*loaded.withheld, *awaiting))
        if loaded.withheld and may_ask and sys.stdin.isatty() and sys.stderr.isatty():
            from claw_runtime.cli.trust import ask_to_trust

            if ask_to_trust(cwd, loaded.withheld):
                loaded = load_settings(cwd, cli_overrides=_cli_overrides(args), environ=environ)
    except ConfigError as exc:
        print(f"claw: {exc}", file=sys.stderr)
        return None
    for warning in loaded.warnings:
        print(f"claw: warning: {warning}", file=sys.stderr)
    if args.verbose:
        for note in loaded.notes:
            print(f"claw: note: {note}", file=sys.stderr)
    return CliContext(
        settings=loaded.settings,
        cwd=cwd,
        no_plugins=args.no_plugins,
        environ=environ,
        sources=loaded.sources,
        loaded=loaded,
    )
