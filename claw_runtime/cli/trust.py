"""``claw trust [--revoke] [DIR]``, and the question claw asks at a terminal.

Trust is remembered in user-level state (see :mod:`claw_runtime.config.trust`); a
project can never trust itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from claw_runtime.config.trust import TrustStore, trust_file
from claw_runtime.errors import ConfigError

__all__ = ["ask_to_trust", "run_trust_command"]


def _store() -> TrustStore:
    return TrustStore(trust_file(Path.home(), os.environ))


def run_trust_command(args: argparse.Namespace) -> int:
    """Trust (or with ``--revoke`` stop trusting) a directory; list trusted ones with ``--list``."""
    store = _store()
    if args.list:
        try:
            roots = store.roots()
        except ConfigError as exc:
            print(f"claw: {exc}", file=sys.stderr)
            return 1
        for root in roots:
            print(root)
        return 0
    directory = Path(args.directory or args.cwd or ".").expanduser().resolve()
    if not directory.is_dir():
        print(f"claw: {directory} is not a directory", file=sys.stderr)
        return 1
    try:
        if args.revoke:
            if store.revoke(directory):
                print(f"No longer trusted: {directory}")
            else:
                print(
                    f"{directory} was not trusted (a directory above it may be: claw trust --list)"
                )
            return 0
        store.trust(directory)
    except ConfigError as exc:
        print(f"claw: {exc}", file=sys.stderr)
        return 1
    print(f"Trusted: {directory} (its settings, hooks and servers now apply)")
    return 0


def ask_to_trust(directory: Path, withheld: Sequence[str]) -> bool:
    """Ask the person at the terminal whether to trust ``directory``; remembered on yes."""
    print(
        f"\nclaw: {directory} has settings that claw ignores until you trust it:", file=sys.stderr
    )
    for item in withheld:
        print(f"  - {item}", file=sys.stderr)
    print(
        "Trust this folder only if you trust its authors: its hooks and MCP servers run "
        "commands as you.",
        file=sys.stderr,
    )
    print("Trust this folder? [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()  # the prompt went to stderr: stdout is for the answer
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return False
    if answer.strip().lower() not in ("y", "yes"):
        return False
    try:
        _store().trust(directory)
    except ConfigError as exc:
        print(f"claw: {exc}", file=sys.stderr)
        return False
    return True
