"""The list of installed plugins the command keeps between runs.

A real ``.dist-info`` directory on ``sys.path`` stands in for an installed
plugin distribution: installing and removing one must be seen at the next
start, and a kept list nobody else could have written is the only one used.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from claw_runtime import entry_points
from claw_runtime.entry_points import FoundEntryPoint


def _install(site: Path, name: str, module_text: str = "VALUE = 42\n") -> None:
    """What pip leaves for a one-module plugin: the module and its .dist-info."""
    (site / f"{name}.py").write_text(module_text)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[claw-test-group]\n{name} = {name}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    entry_points.remember_in(None)


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    scan = entry_points._scan

    def counted(group: str) -> list[FoundEntryPoint]:
        calls.append(group)
        return scan(group)

    monkeypatch.setattr(entry_points, "_scan", counted)
    return calls


def test_without_a_cache_every_call_scans_like_importlib(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(site, "alpha_plugin")
    scans = _scans(monkeypatch)
    found = entry_points.find("claw-test-group")
    expected = importlib.metadata.entry_points(group="claw-test-group")
    assert [(ep.name, ep.value) for ep in found] == [(ep.name, ep.value) for ep in expected]
    assert found == [FoundEntryPoint("alpha_plugin", "alpha_plugin", "alpha_plugin", "1.0")]
    entry_points.find("claw-test-group")
    assert len(scans) == 2


def test_a_kept_list_serves_until_something_is_installed_or_removed(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry_points.remember_in(tmp_path / "cache")
    _install(site, "alpha_plugin")
    scans = _scans(monkeypatch)
    assert [ep.name for ep in entry_points.find("claw-test-group")] == ["alpha_plugin"]
    assert [ep.name for ep in entry_points.find("claw-test-group")] == ["alpha_plugin"]
    assert len(scans) == 1  # the second start read the kept list

    _install(site, "beta_plugin")
    assert sorted(ep.name for ep in entry_points.find("claw-test-group")) == [
        "alpha_plugin",
        "beta_plugin",
    ]
    shutil.rmtree(site / "alpha_plugin-1.0.dist-info")
    assert [ep.name for ep in entry_points.find("claw-test-group")] == ["beta_plugin"]
    assert len(scans) == 3


def test_a_list_others_could_write_is_not_used(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    entry_points.remember_in(cache)
    _install(site, "alpha_plugin")
    entry_points.find("claw-test-group")
    kept = cache / "entry-points-claw-test-group.json"
    planted = kept.read_text().replace('"alpha_plugin","alpha_plugin"', '"evil","os:system"')
    kept.write_text(planted)
    kept.chmod(0o666)
    scans = _scans(monkeypatch)
    assert [ep.value for ep in entry_points.find("claw-test-group")] == ["alpha_plugin"]
    assert scans == ["claw-test-group"]


def test_loading_follows_the_value_as_importlib_does(site: Path) -> None:
    (site / "gamma_pkg").mkdir()
    (site / "gamma_pkg" / "__init__.py").write_text("")
    (site / "gamma_pkg" / "hooks.py").write_text("class Holder:\n    plugin = 'the plugin'\n")
    found = FoundEntryPoint("g", "gamma_pkg.hooks:Holder.plugin [extra]")
    assert found.load() == "the plugin"
    assert FoundEntryPoint("g", "gamma_pkg.hooks").load() is sys.modules["gamma_pkg.hooks"]
    with pytest.raises(ValueError, match="unreadable value"):
        FoundEntryPoint("g", "not a value!").load()


def test_a_path_entry_that_is_not_utf8_is_kept_escaped(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))  # latin-1, as an old archive has
    odd.mkdir()
    monkeypatch.syspath_prepend(str(odd))
    entry_points.remember_in(tmp_path / "cache")
    _install(site, "alpha_plugin")
    scans = _scans(monkeypatch)
    assert [ep.name for ep in entry_points.find("claw-test-group")] == ["alpha_plugin"]
    assert [ep.name for ep in entry_points.find("claw-test-group")] == ["alpha_plugin"]
    assert len(scans) == 1
    assert "caf\\\\xe9" in (tmp_path / "cache" / "entry-points-claw-test-group.json").read_text()
