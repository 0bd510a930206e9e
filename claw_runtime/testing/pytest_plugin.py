"""pytest fixtures for plugin authors, loaded automatically with claw-runtime.

``fake_model_server`` starts a fake model server in the test's nursery::

    async def test_my_tool(fake_model_server):
        server = await fake_model_server(Script([Turn.say("hi")]))
        ...  # ANTHROPIC_BASE_URL=server.base_url

It needs pytest-trio (``trio_mode = true`` or ``@pytest.mark.trio``). This
module imports nothing heavy until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from claw_runtime.testing.fake_server import FakeModelServer
    from claw_runtime.testing.script import Script


@pytest.fixture
def fake_model_server(nursery: Any) -> Callable[[Script], Awaitable[FakeModelServer]]:
    """A factory: ``await fake_model_server(script)`` returns a running server."""
    from functools import partial

    from claw_runtime.testing.fake_server import serve_fake_model

    async def start(script: Script) -> FakeModelServer:
        server: FakeModelServer = await nursery.start(partial(serve_fake_model, script))
        return server

    return start


def _sole_leaf(error: BaseException) -> BaseException:
    """The one exception inside nested single-member exception groups, else ``error``."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """A failing assertion inside a nursery reads as that assertion, not as an ExceptionGroup.

    trio wraps every error that leaves a nursery in an ``ExceptionGroup``, so a
    test's ``assert`` inside ``async with open_fake_model_server(...)`` would
    report as a group of one. When a group holds exactly one exception, it is
    re-raised alone (its traceback intact); real multi-error groups are kept.
    """
    try:
        return (yield)
    except BaseExceptionGroup as group:
        leaf = _sole_leaf(group)
        if leaf is group:
            raise
        raise leaf.with_traceback(leaf.__traceback__) from None
