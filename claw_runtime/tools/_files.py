"""What the file tools share: encodings, newlines, stale-read checks, atomic writes."""

from __future__ import annotations

import codecs
import os
import tempfile
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


def record_read(ctx: ToolContext, path: Path) -> None:
    ctx.session.file_reads[path] = stamp_of(path)


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, keeping the old file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".claw-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mode is not None:
            os.chmod(temp, mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
