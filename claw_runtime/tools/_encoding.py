"""One answer to "what encoding is this file?", shared by Read, Edit and Write.

Detection, from the first :data:`SAMPLE_BYTES` of the file only (so Read can
answer without reading a large file whole, and Edit, which has the whole
file, answers the same way):

1. a byte-order mark: UTF-8 (``EF BB BF``), UTF-16 LE (``FF FE``) or BE (``FE FF``);
2. else UTF-8, if the sample decodes as UTF-8 (a character cut at the end
   of the sample does not count against it);
3. else the declared fallback, :data:`FALLBACK` (Latin-1), which decodes any byte.

Read shows the text decoded this way (a byte that still does not decode, past
the sample, shows as U+FFFD); Edit decodes the same way, so every character
Read showed can be matched, and writes back in the same encoding, byte-order
mark and line endings included. Undecodable UTF-8 bytes past the sample are
kept by Edit exactly as they were (``surrogateescape``).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

import attrs

from claw_runtime.errors import ToolError

__all__ = [
    "FALLBACK",
    "MAX_EDIT_BYTES",
    "MAX_NOTEBOOK_BYTES",
    "SAMPLE_BYTES",
    "Codec",
    "Encoding",
    "FileText",
    "check_editable_size",
    "decode_file",
    "detect_encoding",
    "encode_file",
    "probe_file",
]

Codec = Literal["utf-8", "utf-16-le", "utf-16-be", "latin-1"]

SAMPLE_BYTES = 1 << 20
"""How much of a file decides its encoding (and Read's first binary check)."""
FALLBACK: Codec = "latin-1"
"""The encoding of a file that has no BOM and is not UTF-8."""
MAX_EDIT_BYTES = 256 * 1024 * 1024
"""Largest file Edit and MultiEdit load into memory to change."""
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
"""Largest notebook Read renders and NotebookEdit changes (both parse it whole, as JSON)."""

_BOMS: tuple[tuple[bytes, Codec], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_NAMES = {"utf-8": "UTF-8", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16", "latin-1": "Latin-1"}


@attrs.frozen
class Encoding:
    """A codec and the byte-order mark the file starts with (``b""`` for none)."""

    codec: Codec
    bom: bytes = b""

    @property
    def label(self) -> str:
        """How a person names it: ``UTF-8``, ``UTF-8 with BOM``, ``Latin-1``..."""
        return _NAMES[self.codec] + (" with BOM" if self.bom else "")

    @property
    def is_utf16(self) -> bool:
        return self.codec.startswith("utf-16")


def detect_encoding(sample: bytes, *, complete: bool) -> Encoding:
    """The encoding of a file whose first bytes are ``sample`` (``complete``: all of it).

    Only ``sample[:SAMPLE_BYTES]`` is looked at, so the answer is the same
    whether the caller has the first block or the whole file.
    """
    if len(sample) > SAMPLE_BYTES:
        sample, complete = sample[:SAMPLE_BYTES], False
    for bom, codec in _BOMS:
        if sample.startswith(bom):
            return Encoding(codec, bom)
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=complete)
    except UnicodeDecodeError:
        return Encoding(FALLBACK)
    return Encoding("utf-8")


@attrs.frozen
class FileText:
    """A whole file's text with ``\\n`` newlines, and how to write it back the same way."""

    text: str
    encoding: Encoding
    newline: str


def _errors(encoding: Encoding) -> str:
    # UTF-8 bytes that do not decode (past the sample) survive a round trip.
    return "surrogateescape" if encoding.codec == "utf-8" else "strict"


def decode_file(data: bytes, name: object = "the file") -> FileText:
    """``data`` decoded as :func:`detect_encoding` says; CRLF files are noted and normalised."""
    encoding = detect_encoding(data[:SAMPLE_BYTES], complete=len(data) <= SAMPLE_BYTES)
    try:
        text = data[len(encoding.bom) :].decode(encoding.codec, _errors(encoding))
    except UnicodeDecodeError as exc:
        raise ToolError(
            f"{name} starts with a {encoding.label} byte-order mark but is not valid "
            f"{encoding.label} (byte {exc.start + len(encoding.bom)}); it cannot be edited as text."
        ) from None
    newline = "\r\n" if "\r\n" in text else "\n"
    if newline == "\r\n":
        text = text.replace("\r\n", "\n")
    return FileText(text=text, encoding=encoding, newline=newline)


def encode_file(file: FileText, text: str, name: object = "the file") -> bytes:
    """``text`` in ``file``'s encoding, BOM and line endings; one clear line if it cannot be."""
    if file.newline == "\r\n":
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    try:
        return file.encoding.bom + text.encode(file.encoding.codec, _errors(file.encoding))
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise ToolError(
            f"{name} is {file.encoding.label}, which cannot hold {bad!r} "
            f"(U+{ord(bad[0]):04X}); use characters {file.encoding.label} has, or rewrite "
            "the whole file with Write to store it as UTF-8."
        ) from None


def probe_file(path: Path) -> FileText:
    """How ``path`` is stored (encoding, line endings), from its first block only.

    For Write, which replaces the whole text: it needs the old file's ways,
    not its content, so a huge file costs one block.
    """
    with path.open("rb") as handle:
        sample = handle.read(SAMPLE_BYTES + 1)
    encoding = detect_encoding(sample, complete=True)
    crlf = "\r\n".encode(encoding.codec)
    return FileText(text="", encoding=encoding, newline="\r\n" if crlf in sample else "\n")


def check_editable_size(size: int, name: object, what: str = "edit") -> None:
    """Refuse, in one line, to load a file larger than :data:`MAX_EDIT_BYTES` to change it."""
    if size > MAX_EDIT_BYTES:
        raise ToolError(
            f"{name} is {size / 1024**2:.0f} MB; the most {what} loads to change a file is "
            f"{MAX_EDIT_BYTES // 1024**2} MB. Change it with a streaming command in Bash "
            "(sed -i, awk) instead."
        )
