"""While a runtime is open, Python's young generation is collected less often.

A real runtime (no plugins) is opened with the environment each test gives it;
the collector's threshold is read inside and after, and put back as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw_runtime.config.settings import Settings
from claw_runtime.gc_tuning import DEFAULT_THRESHOLD, threshold_from
from claw_runtime.runtime import open_runtime


@pytest.fixture(autouse=True)
def python_threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


async def threshold_inside(tmp_path: Path, environ: dict[str, str]) -> int:
    async with open_runtime(Settings(), cwd=tmp_path, environ=environ, no_plugins=True):
        return gc.get_threshold()[0]


async def test_a_runtime_raises_the_threshold_and_puts_it_back(tmp_path: Path) -> None:
    assert await threshold_inside(tmp_path, {}) == DEFAULT_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


async def test_the_threshold_comes_from_the_environment(tmp_path: Path) -> None:
    assert await threshold_inside(tmp_path, {"CLAW_GC_THRESHOLD": "20000"}) == 20_000
    assert await threshold_inside(tmp_path, {"CLAW_GC_THRESHOLD": "0"}) == 700
    assert gc.get_threshold() == (700, 10, 10)


async def test_a_higher_threshold_set_by_the_program_is_kept(tmp_path: Path) -> None:
    gc.set_threshold(100_000, 10, 10)
    assert await threshold_inside(tmp_path, {}) == 100_000
    assert gc.get_threshold() == (100_000, 10, 10)


async def test_nested_runtimes_put_it_back_when_the_last_one_closes(tmp_path: Path) -> None:
    async with open_runtime(Settings(), cwd=tmp_path, environ={}, no_plugins=True):
        assert await threshold_inside(tmp_path, {}) == DEFAULT_THRESHOLD
        assert gc.get_threshold()[0] == DEFAULT_THRESHOLD  # the outer one still runs
    assert gc.get_threshold() == (700, 10, 10)


def test_what_the_variable_may_say() -> None:
    assert threshold_from({}) == DEFAULT_THRESHOLD
    assert threshold_from({"CLAW_GC_THRESHOLD": " 1234 "}) == 1234
    assert threshold_from({"CLAW_GC_THRESHOLD": "0"}) is None
    assert threshold_from({"CLAW_GC_THRESHOLD": "-5"}) is None
    assert threshold_from({"CLAW_GC_THRESHOLD": "many"}) == DEFAULT_THRESHOLD
