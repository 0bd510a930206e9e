"""Read and Edit agree on a file's encoding; Edit, Write and NotebookEdit bound what they load."""

from __future__ import annotations

from pathlib import Path

import pytest

from claw_runtime.models import ToolResultBlock
from claw_runtime.tooling import FileStamp, SessionState, ToolContext
from claw_runtime.tools import _encoding
from claw_runtime.tools._encoding import SAMPLE_BYTES, decode_file, detect_encoding
from claw_runtime.tools._files import stamp_of
from claw_runtime.tools.edit import edit, multi_edit
from claw_runtime.tools.notebook_edit import notebook_edit
from claw_runtime.tools.read import read
from claw_runtime.tools.write import write


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session=SessionState(session_id="t", cwd=tmp_path), tool_use_id="e")


async def call(tool_obj: object, ctx: ToolContext, **tool_input: object) -> ToolResultBlock:
    return await tool_obj.invoke(tool_input, ctx)  # type: ignore[attr-defined, no-any-return]


async def test_latin1_file_read_then_edited_stays_latin1(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "menu.txt"
    target.write_bytes("le café\r\nla crème\r\n".encode("latin-1"))
    shown = await call(read, ctx, file_path="menu.txt")
    assert shown.text == "     1\tle café\n     2\tla crème"
    done = await call(edit, ctx, file_path="menu.txt", old_string="café", new_string="thé")
    assert not done.is_error, done.text
    assert target.read_bytes() == "le thé\r\nla crème\r\n".encode("latin-1")


async def test_latin1_file_refuses_characters_it_cannot_hold(
    ctx: ToolContext, tmp_path: Path
) -> None:
    target = tmp_path / "menu.txt"
    target.write_bytes("le café\n".encode("latin-1"))
    await call(read, ctx, file_path="menu.txt")
    refused = await call(edit, ctx, file_path="menu.txt", old_string="café", new_string="caf€")
    assert refused.is_error and "Latin-1" in refused.text and "\n" not in refused.text
    assert target.read_bytes() == "le café\n".encode("latin-1")
    # Write replaces the whole text, so it can move the file to UTF-8 (and says so).
    rewritten = await call(write, ctx, file_path="menu.txt", content="le caf€\n")
    assert not rewritten.is_error and "now UTF-8" in rewritten.text
    assert target.read_bytes() == "le caf€\n".encode()


async def test_write_keeps_latin1_and_crlf_of_a_file_it_overwrites(
    ctx: ToolContext, tmp_path: Path
) -> None:
    target = tmp_path / "old.txt"
    target.write_bytes("ancien café\r\n".encode("latin-1"))
    await call(read, ctx, file_path="old.txt")
    await call(write, ctx, file_path="old.txt", content="nouveau thé\n")
    assert target.read_bytes() == "nouveau thé\r\n".encode("latin-1")


def test_detection_is_the_same_from_a_sample_or_the_whole_file() -> None:
    head = "é".encode() * (SAMPLE_BYTES // 2)
    data = head + b"caf\xe9"  # UTF-8 in the sample, one stray Latin-1 byte after it
    assert detect_encoding(data[: SAMPLE_BYTES + 1], complete=True).codec == "utf-8"
    assert detect_encoding(data, complete=True).codec == "utf-8"
    decoded = decode_file(data)
    assert decoded.encoding.codec == "utf-8"
    assert decoded.text.endswith("caf\udce9")  # kept, and written back byte for byte
    assert _encoding.encode_file(decoded, decoded.text) == data
    # A UTF-8 character cut by the end of the sample does not make it Latin-1.
    cut = b"a" * (SAMPLE_BYTES - 1) + "é".encode()
    assert detect_encoding(cut, complete=True).codec == "utf-8"


async def test_undecodable_bytes_past_the_sample_survive_an_edit(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_encoding, "SAMPLE_BYTES", 16)
    target = tmp_path / "mixed.txt"
    target.write_bytes(b"plain utf-8 text\nthen caf\xe9\nend\n")
    await call(read, ctx, file_path="mixed.txt")
    done = await call(edit, ctx, file_path="mixed.txt", old_string="end", new_string="fin")
    assert not done.is_error, done.text
    assert target.read_bytes() == b"plain utf-8 text\nthen caf\xe9\nfin\n"


async def test_huge_files_are_refused_in_one_line_without_being_loaded(
    ctx: ToolContext, tmp_path: Path
) -> None:
    target = tmp_path / "huge.txt"
    with target.open("wb") as handle:
        handle.write(b"head\n")
        handle.truncate(300 * 1024 * 1024)  # sparse: costs no disk
    notebook = tmp_path / "huge.ipynb"
    with notebook.open("wb") as handle:
        handle.write(b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        handle.truncate(100 * 1024 * 1024)
    for path in (target, notebook):
        ctx.session.file_reads[path] = _stamp(path)
    for result in [
        await call(edit, ctx, file_path="huge.txt", old_string="head", new_string="top"),
        await call(
            multi_edit,
            ctx,
            file_path="huge.txt",
            edits=[{"old_string": "head", "new_string": "top"}],
        ),
        await call(notebook_edit, ctx, notebook_path="huge.ipynb", new_source="x", cell_id="0"),
    ]:
        assert result.is_error and "MB" in result.text and "\n" not in result.text, result.text
    assert target.stat().st_size == 300 * 1024 * 1024
    # Write only looks at the first block of the file it replaces.
    replaced = await call(write, ctx, file_path="huge.txt", content="small now\n")
    assert not replaced.is_error and target.read_bytes() == b"small now\n"


def _stamp(path: Path) -> FileStamp:
    return stamp_of(path)
