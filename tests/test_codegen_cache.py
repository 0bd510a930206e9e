"""The ``claw`` command keeps the code attrs and cattrs generate between runs.

Checked by effect: what a run compiled is in the cache file, the next run
(another process, another hash seed) compiles nothing and leaves the file as
it was, the classes behave as attrs makes them, and a file the user does not
own alone is never read.
"""

from __future__ import annotations
import __future__

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from claw_runtime.cli._codegen_cache import MAX_ENTRIES, CodegenCache, cache_path
from claw_runtime.testing import Script, Turn, open_fake_model_server

from _harness import claw_env, run_claw

SOURCE = "def f(x: undefined_name) -> int:\n    return x + 1\n"


def _module_with_future_annotations() -> ModuleType:
    module = ModuleType("generator")
    exec("from __future__ import annotations", vars(module))
    return module


def test_a_miss_compiles_as_the_calling_module_would(tmp_path: Path) -> None:
    cache = CodegenCache(tmp_path / "codegen.marshal")
    compile_ = cache.compile_for(_module_with_future_annotations())
    code = compile_(SOURCE, "<generated f>", "exec")
    expected = compile(
        SOURCE, "<generated f>", "exec", __future__.annotations.compiler_flag, dont_inherit=True
    )
    assert code == expected
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["f"].__annotations__ == {"x": "undefined_name", "return": "int"}
    assert len(cache.added) == 1


def test_a_saved_entry_is_served_without_compiling(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "codegen.marshal"
    first = CodegenCache(path)
    first.compile_for(_module_with_future_annotations())(SOURCE, "<generated f>", "exec")
    first.save()
    assert oct(path.parent.stat().st_mode & 0o777) == oct(0o700)
    written = path.stat()

    second = CodegenCache(path)
    code = second.compile_for(_module_with_future_annotations())(SOURCE, "<generated f>", "exec")
    assert code is next(iter(second.entries.values()))
    assert second.added == {}
    second.save()  # nothing new: the file is not rewritten
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)

    # Another file name or another source is another entry.
    other = second.compile_for(_module_with_future_annotations())(SOURCE, "<generated g>", "exec")
    assert other.co_filename == "<generated g>"
    assert len(second.added) == 1


def test_calls_it_does_not_know_go_to_the_builtin(tmp_path: Path) -> None:
    cache = CodegenCache(tmp_path / "codegen.marshal")
    compile_ = cache.compile_for(ModuleType("plain"))
    assert compile_(SOURCE.encode(), "<bytes>", "exec").co_filename == "<bytes>"
    assert compile_("1 + 1", "<eval>", "eval", 0, True).co_filename == "<eval>"
    assert cache.added == {}


@pytest.mark.parametrize("damage", ["garbage", "not a dict", "writable by others", "symlink"])
def test_a_doubtful_file_is_not_read_and_is_replaced(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "codegen.marshal"
    good = CodegenCache(path)
    good.compile_for(ModuleType("m"))(SOURCE, "<generated f>", "exec")
    good.save()
    if damage == "garbage":
        path.write_bytes(b"\x00not marshal")
    elif damage == "not a dict":
        import marshal

        path.write_bytes(marshal.dumps([1, 2, 3]))
    elif damage == "writable by others":
        path.chmod(0o666)
    else:
        target = tmp_path / "elsewhere.marshal"
        path.rename(target)
        path.symlink_to(target)

    cache = CodegenCache(path)
    assert cache.entries == {}
    cache.compile_for(ModuleType("m"))(SOURCE, "<generated f>", "exec")
    cache.save()
    assert not path.is_symlink()
    assert path.stat().st_mode & 0o077 == 0
    assert len(CodegenCache(path).entries) == 1


def test_past_the_limit_only_what_this_run_used_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "codegen.marshal"
    cache = CodegenCache(path)
    compile_ = cache.compile_for(ModuleType("m"))
    for n in range(MAX_ENTRIES + 1):
        compile_(f"x = {n}", "<stale>", "exec")
    cache.save()
    assert len(CodegenCache(path).entries) == MAX_ENTRIES + 1

    run = CodegenCache(path)
    run.compile_for(ModuleType("m"))("x = 7", "<stale>", "exec")  # a hit
    run.compile_for(ModuleType("m"))("y = 1", "<new>", "exec")  # a miss
    run.save()
    assert len(CodegenCache(path).entries) == 2


def test_cache_path_follows_the_environment(tmp_path: Path) -> None:
    assert cache_path({"CLAW_CACHE_DIR": str(tmp_path)}).parent == tmp_path
    xdg = cache_path({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert xdg.parent == tmp_path / "xdg" / "claw"
    assert sys.implementation.cache_tag in xdg.name


_DEFINE_CLASSES = """
import sys
from claw_runtime.cli import _codegen_cache
cache = _codegen_cache.install()
import attrs, cattrs

@attrs.frozen
class Point:
    x: int
    y: int = 0

converter = cattrs.Converter()
p = converter.structure({"x": 1}, Point)
assert p == Point(1, 0) and hash(p) == hash(Point(1)) and p != Point(2)
assert {p: "here"}[Point(1)] == "here"
assert repr(p) == "Point(x=1, y=0)", repr(p)
print(len(cache.added) if cache else "off")
_codegen_cache.save()
"""


def _define_classes(tmp_path: Path, seed: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _DEFINE_CLASSES],
        env={"PATH": os.environ["PATH"], "CLAW_CACHE_DIR": str(tmp_path), "PYTHONHASHSEED": seed}
        | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_second_process_with_another_hash_seed_compiles_nothing(tmp_path: Path) -> None:
    """attrs salts ``__hash__`` with a per-process string hash; the key leaves it out."""
    assert int(_define_classes(tmp_path, "1")) > 0
    assert _define_classes(tmp_path, "2") == "0"
    assert _define_classes(tmp_path, "3", CLAW_STARTUP_CACHE="0") == "off"


async def test_a_second_claw_run_compiles_nothing(tmp_path: Path) -> None:
    script = Script([Turn.say("first"), Turn.say("second")])
    async with open_fake_model_server(script) as server:
        env = claw_env(tmp_path, server, CLAW_CACHE_DIR=str(tmp_path / "cache"))
        project = tmp_path / "project"  # on sys.path under ``python -m``: not the cache's parent
        project.mkdir()
        first = await run_claw(["-p", "hi", "--no-session"], project, env)
        assert first.returncode == 0, first.stderr.decode()
        assert first.stdout.decode().strip() == "first"
        kept = sorted((tmp_path / "cache").iterdir())
        assert [p.name.split("-")[0] for p in kept] == ["codegen", "entry"]  # and the plugins
        assert kept[0].stat().st_size > 10_000
        before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in kept]

        second = await run_claw(["-p", "hi", "--no-session"], project, env)
        assert second.returncode == 0, second.stderr.decode()
        assert second.stdout.decode().strip() == "second"
        assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in kept] == before
