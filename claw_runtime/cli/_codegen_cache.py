"""The code attrs and cattrs generate, compiled once and kept between runs of ``claw``.

attrs writes the source of each class's methods (``__init__``, ``__eq__``,
``__hash__``...) when the class is defined, cattrs the source of each
structure function when it is first needed, and both ``compile()`` it. Python
keeps the bytecode of modules in ``__pycache__``, but not of code made at run
time, so every start of the command compiled the same four hundred snippets
again: about 70 ms of a one-turn ``claw -p``, the largest single cost above
importing trio and httpx.

This module keeps those code objects in one file (``marshal``, the format of
``.pyc`` files) under the user's cache directory, keyed by a hash of what
``compile`` was given: the source, the file name, the mode and the flags. The
same source gives the same code object, so a hit is what compiling would have
returned; any other source is a miss, compiled as before and added when the
command saves the file. One thing differs between runs: attrs salts each
class's ``__hash__`` with ``hash()`` of a string, which changes with every
process (``PYTHONHASHSEED``); the key leaves that number out, and a hit keeps
the salt of the run that compiled it, which serves as well (it only has to be
the same for every instance within one process). Stale entries (from other versions of attrs,
cattrs or claw) are dropped once the file grows past :data:`MAX_ENTRIES`.

How it hooks in: :func:`install` puts a caching ``compile`` into the global
namespace of ``attr._make`` and ``cattrs.gen``, where it shadows the built-in
for those two modules alone. Only the command does this, like the collector
pause in :mod:`claw_runtime.cli._startup`: it owns its process, while a program
embedding claw owns its own imports. ``CLAW_STARTUP_CACHE=0`` turns it off (and
the list of plugins kept beside it, :mod:`claw_runtime.entry_points`).

The file is read only if it is the user's own and nobody else can write to it,
like Python's own bytecode cache; anything unreadable is ignored and rebuilt.
"""

from __future__ import annotations
import __future__

import hashlib
import marshal
import os
import re
import stat
import sys
import tempfile
from pathlib import Path
from types import CodeType, ModuleType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["MAX_ENTRIES", "CodegenCache", "cache_dir", "cache_path", "install", "save"]

MAX_ENTRIES = 4096
"""Past this many entries, a save keeps only what this run used (stale versions go)."""

_MODULES = ("attr._make", "cattrs.gen")
"""The modules whose ``compile`` is served from the cache: attrs' class builder and
cattrs' code generators (imported by :func:`install`; the command needs both anyway)."""


def cache_dir(environ: Mapping[str, str]) -> Path:
    """The command's cache directory: ``CLAW_CACHE_DIR``, else ``$XDG_CACHE_HOME/claw``,
    else ``~/.cache/claw``."""
    root = environ.get("CLAW_CACHE_DIR") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "claw"
    )
    return Path(root)


def cache_path(environ: Mapping[str, str]) -> Path:
    """The code cache in :func:`cache_dir`: one file per Python build (bytecode changes
    between them)."""
    return cache_dir(environ) / f"codegen-{sys.implementation.cache_tag}-{sys.hexversion:x}.marshal"


class CodegenCache:
    """Code objects by what they were compiled from; :meth:`compile_for` makes the
    ``compile`` a module sees."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[bytes, CodeType] = _read(path)
        self.used: set[bytes] = set()
        self.added: dict[bytes, CodeType] = {}

    def compile_for(self, module: ModuleType) -> Callable[..., CodeType]:
        """``compile`` as ``module`` calls it, answered from the cache when possible.

        A bare ``compile(source, filename, mode)`` inherits the ``__future__``
        flags of the module that calls it (both modules use ``annotations``), so
        misses are compiled with exactly those flags, and the flags are part of
        the key. Any other call (extra arguments, bytes, an AST) goes straight
        to the built-in.
        """
        flags = _future_flags(vars(module))
        builtin_compile = compile
        unsalted = _unsalted if module.__name__ == "attr._make" else _same

        def cached_compile(
            source: object, filename: str, mode: str, *args: object, **kwargs: object
        ) -> CodeType:
            if args or kwargs or not isinstance(source, str):
                return builtin_compile(source, filename, mode, *args, **kwargs)  # type: ignore[call-overload, no-any-return]
            key = hashlib.blake2b(
                f"{flags}\0{mode}\0{filename}\0{unsalted(source)}".encode("utf-8", "surrogatepass"),
                digest_size=16,
            ).digest()
            code = self.entries.get(key)
            if code is None:
                code = builtin_compile(source, filename, mode, flags, dont_inherit=True)
                self.entries[key] = self.added[key] = code
            self.used.add(key)
            return code

        return cached_compile

    def save(self) -> None:
        """Write the file if this run compiled anything new (atomically; errors ignored:
        a read-only home directory only costs the next run its compilations)."""
        if not self.added:
            return
        entries = self.entries
        if len(entries) > MAX_ENTRIES:
            entries = {key: entries[key] for key in self.used if key in entries}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".codegen-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(marshal.dumps(entries))
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            return
        self.added = {}


_installed: CodegenCache | None = None


def install(environ: Mapping[str, str] = os.environ) -> CodegenCache | None:
    """Serve attrs' and cattrs' ``compile`` from the cache file (once per process)."""
    global _installed
    if _installed is not None or environ.get("CLAW_STARTUP_CACHE") == "0":
        return _installed
    import importlib

    cache = CodegenCache(cache_path(environ))
    for name in _MODULES:
        module = importlib.import_module(name)
        module.compile = cache.compile_for(module)  # type: ignore[attr-defined]
    _installed = cache
    return cache


def save() -> None:
    """Save what this run compiled for the next (nothing if :func:`install` was not called)."""
    if _installed is not None:
        _installed.save()


def _read(path: Path) -> dict[bytes, CodeType]:
    """The cache file's entries, or none if it is missing, unreadable, not the user's own,
    writable by others, or not what :meth:`CodegenCache.save` writes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or (hasattr(os, "getuid") and info.st_uid != os.getuid())
            or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as data:
            loaded = marshal.loads(data.read())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    finally:
        os.close(fd)
    if not isinstance(loaded, dict):
        return {}
    return {
        key: code
        for key, code in loaded.items()
        if isinstance(key, bytes) and isinstance(code, CodeType)
    }


_HASH_SALT = re.compile(r"(def __hash__\(.*\n\s*return hash\(\(\s*)-?\d+,")
"""The per-process salt attrs writes at the start of a generated ``__hash__``."""


def _unsalted(source: str) -> str:
    """attrs' generated source without the ``__hash__`` salt, which changes every run."""
    return _HASH_SALT.sub(r"\g<1>0,", source, count=1)


def _same(source: str) -> str:
    return source


def _future_flags(namespace: dict[str, object]) -> int:
    """The compiler flags of the ``from __future__`` imports found in a module's globals."""
    flags = 0
    for value in namespace.values():
        if isinstance(value, __future__._Feature):
            flags |= value.compiler_flag
    return flags
