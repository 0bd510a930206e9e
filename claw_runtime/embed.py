"""claw from ordinary synchronous code: ``run_sync(prompt) -> RunResult``.

::

    import claw_runtime

    result = claw_runtime.run_sync("summarise README.md", cwd="~/src/app", model="haiku")
    print(result.result, result.total_cost_usd)

Each call starts a runtime (layered settings for ``cwd``, plugins, HTTP),
runs one session with one prompt, and closes everything: no processes or
background work outlive it. It runs ``trio.run`` in the calling thread, so it
must not be called from inside a running trio or asyncio loop; use
``open_runtime``/``open_session`` from trio, and :func:`claw_runtime.aio.run_asyncio`
in asyncio programs.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import trio

from claw_runtime._paths import user_path
from claw_runtime.loop import RunResult
from claw_runtime.runtime import open_runtime

__all__ = ["run_sync", "run_trio"]


async def run_trio(
    prompt: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> RunResult:
    """One prompt in a fresh runtime and session, from trio code.

    ``options`` are :func:`claw_runtime.sessions.open_session`'s (``model``,
    ``permission_mode``, ``allowed_tools``, ``system_prompt``, ``persist``...).
    """
    where = user_path(cwd if cwd is not None else os.curdir)
    async with (
        open_runtime(cwd=where, environ=environ) as runtime,
        runtime.open_session(cwd=where, **options) as session,
    ):
        return await session.run(prompt)


def run_sync(
    prompt: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> RunResult:
    """Run ``prompt`` to the end of its turn and return the result (blocking).

    Raises:
        ClawError: the session could not start (settings, credentials).
    """
    return trio.run(functools.partial(run_trio, prompt, cwd=cwd, environ=environ, **options))
