"""httpx without its command-line client at import: about 35 ms of every start.

``import httpx`` imports ``httpx._main`` (its ``httpx`` console command) whenever
``click``, ``rich`` and ``pygments`` are installed, and with the MCP SDK they
are (``uvicorn`` needs ``click``). claw never uses that command, so before
httpx is first imported a small stand-in takes the module's place; its
``main`` loads the real one, so the ``httpx`` command itself still works.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["defer_httpx_cli"]


def _real_main() -> None:
    del sys.modules["httpx._main"]
    importlib.import_module("httpx._main").main()


def defer_httpx_cli() -> None:
    """Install the stand-in, unless httpx (or its CLI) is already imported."""
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main", "httpx's command line, loaded when run.")
    stand_in.main = _real_main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in
