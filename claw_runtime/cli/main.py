"""The ``claw`` command's entry point: ``bin/claw`` (installed as written) and
``python -m claw_runtime`` call :func:`main`.

It imports nothing but this module before it knows what to do, so
``claw --version`` answers in the time Python itself takes to start; everything
else is :mod:`claw_runtime.cli.app` (parsing and dispatch), imported after.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ``claw --version`` ~10 ms
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``claw`` command with ``argv`` (default: the process's); the exit code."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments == ["--version"]:
        from claw_runtime._version import __version__

        sys.stdout.write(f"claw {__version__}\n")
        return 0
    from claw_runtime.cli import _startup

    _startup.pause()  # until the command has loaded what it needs (see _startup)
    try:
        from claw_runtime.cli.app import main as run

        return run(arguments)
    finally:
        _startup.resume()
