"""What the file tools share: encodings, newlines, stale-read checks, atomic writes."""

from __future__ import annotations

import codecs
import contextlib
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

import attrs

from claw_runtime.errors import ToolError
from claw_runtime.tooling import FileStamp, ToolContext

__all__ = ["TextFile", "check_fresh", "decode_text", "record_read", "stamp_of", "write_atomic"]

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@attrs.frozen
class TextFile:
    """A file's text with ``\\n`` newlines, and how to write it back the same way."""

    text: str
    encoding: str
    newline: str


def decode_text(data: bytes) -> TextFile:
    """Decode by BOM, else UTF-8, else Latin-1 (which never fails); note CRLF files."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
    text = data.decode(encoding)
    newline = "\r\n" if "\r\n" in text else "\n"
    if newline == "\r\n":
        text = text.replace("\r\n", "\n")
    return TextFile(text=text, encoding=encoding, newline=newline)


def encode_text(file: TextFile, text: str) -> bytes:
    if file.newline == "\r\n":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode(file.encoding)


def stamp_of(path: Path) -> FileStamp:
    st = path.stat()
    return FileStamp(mtime_ns=st.st_mtime_ns, size=st.st_size)


def record_read(ctx: ToolContext, path: Path, stamp: FileStamp | None = None) -> None:
    """Note that the model has seen ``path`` as it is now (or as ``stamp``, taken when it
    was read)."""
    ctx.session.file_reads[path] = stamp if stamp is not None else stamp_of(path)


def check_fresh(ctx: ToolContext, path: Path) -> None:
    """Refuse to change a file the model has not read, or that changed since it did."""
    seen = ctx.session.file_reads.get(path)
    if seen is None:
        raise ToolError(f"{path} has not been read in this session. Read it first, then edit it.")
    if stamp_of(path) != seen:
        raise ToolError(
            f"{path} changed on disk since it was last read (by the user or another tool). "
            "Read it again before changing it."
        )


_MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _root_of(path: Path, roots: Sequence[Path]) -> Path | None:
    """The deepest root that lexically contains ``path`` (both absolute), if any."""
    best = None
    for root in roots:
        root = Path(os.path.abspath(root))
        if path.is_relative_to(root) and (best is None or len(root.parts) > len(best.parts)):
            best = root
    return best


def _open_parent(path: Path, roots: Sequence[Path] | None) -> tuple[int, Path]:
    """A descriptor of ``path``'s directory, walked from its root one component at a time.

    Each component is opened with ``O_NOFOLLOW`` relative to the previous one,
    and missing ones are created, so nothing swapped in between the permission
    check and this walk can redirect it. A component that is a symlink is
    followed only if ``roots`` is ``None`` or the path is outside every root,
    or if its target lies inside a root (the walk restarts from that root);
    otherwise the write is refused. Returns the descriptor and the real path.
    """
    real_roots = [Path(os.path.realpath(r)) for r in roots or ()]
    root = _root_of(path, roots or ())
    checked = roots is not None and root is not None
    target = path.parent
    if checked and root is not None:
        target = Path(os.path.realpath(root)) / target.relative_to(root)
    for _ in range(_MAX_SYMLINKS):
        base = (_root_of(target, real_roots) if checked else None) or Path("/")
        fd = os.open(base, _DIR_FLAGS & ~os.O_NOFOLLOW)
        current = base
        restart: Path | None = None
        try:
            for part in target.relative_to(base).parts:
                if part == "..":
                    raise ToolError(f"Refusing to write {path}: it contains '..'.")
                try:
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                    next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    link = os.readlink(part, dir_fd=fd)  # not a symlink: the error stands
                    rest = target.relative_to(current / part)
                    resolved = Path(os.path.realpath(current / link)) / rest
                    if checked and not any(resolved.is_relative_to(r) for r in real_roots or ()):
                        raise ToolError(
                            f"Refusing to write {path}: {current / part} is a symlink that "
                            "leads outside the workspace."
                        ) from None
                    restart = resolved
                    break
                os.close(fd)
                fd = next_fd
                current = current / part
        except BaseException:
            os.close(fd)
            raise
        if restart is None:
            return fd, current
        os.close(fd)
        target = restart
    raise ToolError(f"Refusing to write {path}: too many symlinks on the way.")


def write_atomic(path: Path, data: bytes, roots: Sequence[Path] | None = None) -> None:
    """Write through a temporary file and a rename, keeping the old file's permissions.

    Race-free against symlink swaps: the directory is reached by
    :func:`_open_parent` (component by component from the workspace root,
    ``O_NOFOLLOW``), and the temporary file and the rename are relative to
    that directory's descriptor, so a symlink swapped in after the permission
    check cannot send a byte outside ``roots``. A symlink on the way that leads
    outside every root is refused with one line (:class:`ToolError`). A
    symlink as the last component is replaced, never written through.
    ``roots=None`` keeps the walk but follows symlinks anywhere.
    """
    path = Path(os.path.abspath(path))
    dir_fd, _ = _open_parent(path, roots)
    name = path.name
    temp = f".{name}.{secrets.token_hex(6)}.claw-tmp"
    try:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            mode: int | None = None if stat.S_ISLNK(st.st_mode) else st.st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), mode)
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
