"""Read streams its window: lines, cuts, budgets, encodings and binary checks at any chunk size."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claw_runtime.models import ToolResultBlock
from claw_runtime.tooling import FileStamp, SessionState, ToolContext
from claw_runtime.tools import read as read_module
from claw_runtime.tools.read import MAX_OUTPUT_CHARS, read


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session=SessionState(session_id="t", cwd=tmp_path), tool_use_id="r")


async def run_read(ctx: ToolContext, file_path: str | Path, **extra: Any) -> ToolResultBlock:
    return await read.invoke({"file_path": str(file_path), **extra}, ctx)


def numbered(lines: list[str], first: int = 1) -> str:
    return "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, start=first))


def expected_lines(text: str) -> list[str]:
    """Lines as Read counts them: split at \\n, a \\r before it dropped, no empty last line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@given(
    text=st.lists(st.sampled_from(["a", "é", "€", " ", "\r", "\n", "\r\n"]), max_size=40).map(
        "".join
    ),
    chunk=st.sampled_from([1, 2, 3, 7, 1 << 20]),
    offset=st.integers(min_value=1, max_value=4),
    limit=st.integers(min_value=1, max_value=50),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_any_window_at_any_chunk_size_matches_a_plain_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, chunk: int, offset: int, limit: int
) -> None:
    monkeypatch.setattr(read_module, "CHUNK_BYTES", chunk)
    (tmp_path / "mixed.txt").write_bytes(text.encode())
    ctx = ToolContext(session=SessionState(session_id="h", cwd=tmp_path))
    result = await run_read(ctx, "mixed.txt", offset=offset, limit=limit)
    lines = expected_lines(text)
    if not text:
        assert "exists but is empty" in result.text
    elif offset > len(lines):
        assert result.is_error and f"it has {len(lines)}" in result.text
    else:
        window = lines[offset - 1 : offset - 1 + limit]
        body = numbered(window, first=offset)
        if offset - 1 + limit < len(lines):
            body += (
                f"\n\n(Showing lines {offset}-{offset + len(window) - 1}; the file has more. "
                f"Read on with offset={offset + len(window)}.)"
            )
        assert result.text == body


async def test_long_lines_are_cut_and_the_next_line_is_found(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_module, "CHUNK_BYTES", 4096)
    (tmp_path / "min.js").write_text("z" * 300_000 + "\r\nnext\n" + "y" * 2000 + "\n")
    lines = (await run_read(ctx, "min.js")).text.splitlines()
    assert lines[0] == "     1\t" + "z" * 2000 + "... [line cut: 298000 more characters]"
    assert lines[1] == "     2\tnext"
    assert lines[2] == "     3\t" + "y" * 2000  # exactly at the limit: not cut


async def test_output_stops_at_a_line_end_past_the_budget(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "dense.txt").write_text("".join("d" * 1500 + "\n" for _ in range(1000)))
    result = await run_read(ctx, "dense.txt")
    body, note = result.text.split("\n\n")
    shown = body.splitlines()
    assert MAX_OUTPUT_CHARS - 2000 < len(body) <= MAX_OUTPUT_CHARS
    assert all(line.endswith("d" * 1500) for line in shown)  # whole lines only
    assert f"Read on with offset={len(shown) + 1}" in note and "output limit" in note


async def test_a_window_past_the_scan_budget_is_refused_in_one_line(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_module, "MAX_SCAN_BYTES", 10_000)
    monkeypatch.setattr(read_module, "CHUNK_BYTES", 1000)
    (tmp_path / "big.txt").write_text("".join(f"{i}\n" for i in range(100_000)))
    far = await run_read(ctx, "big.txt", offset=50_000)
    assert far.is_error and "Read does not go that far" in far.text and "\n" not in far.text
    (tmp_path / "wide.txt").write_text("first\n" + "w" * 50_000 + "\nlast\n")
    wide = await run_read(ctx, "wide.txt")
    assert not wide.is_error
    assert wide.text.startswith("     1\tfirst\n     2\t" + "w" * 2000 + "... [line cut: ")
    assert "inside line 2, so the rest was not read" in wide.text


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"\xef\xbb\xbfhello\r\nw\xc3\xb6rld\r\n", ["hello", "wörld"]),
        ("héllo\nwörld\n".encode("utf-16"), ["héllo", "wörld"]),
        (b"\xfe\xff" + "héllo\nwörld".encode("utf-16-be"), ["héllo", "wörld"]),
        (b"caf\xe9 cr\xe8me\nna\xefve\n", ["café crème", "naïve"]),
        ("grüße\n".encode(), ["grüße"]),
    ],
    ids=["utf8-bom-crlf", "utf16-le-bom", "utf16-be-bom", "latin1-fallback", "utf8"],
)
async def test_encodings(ctx: ToolContext, tmp_path: Path, data: bytes, shown: list[str]) -> None:
    (tmp_path / "enc.txt").write_bytes(data)
    result = await run_read(ctx, "enc.txt")
    assert not result.is_error and result.text == numbered(shown)


async def test_a_multibyte_character_across_chunks(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_module, "CHUNK_BYTES", 1)
    (tmp_path / "u.txt").write_text("€uro\nnaïve\n")
    assert (await run_read(ctx, "u.txt")).text == numbered(["€uro", "naïve"])


@pytest.mark.parametrize("where", [10, 100_000, 900_000])
async def test_a_nul_anywhere_in_the_first_block_means_binary(
    ctx: ToolContext, tmp_path: Path, where: int
) -> None:
    text = b"".join(b"line %06d\n" % i for i in range(where // 12 + 10))
    (tmp_path / "odd.txt").write_bytes(text[:where] + b"\0" + text[where:])
    result = await run_read(ctx, "odd.txt", limit=5)  # the window ends long before the NUL
    assert result.is_error and "binary file" in result.text


async def test_a_nul_on_the_way_to_the_window_means_binary(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(read_module, "SAMPLE_BYTES", 100)
    monkeypatch.setattr(read_module, "CHUNK_BYTES", 100)
    (tmp_path / "late.txt").write_bytes(b"ok\n" * 200 + b"\0bad\n" + b"ok\n" * 10)
    assert not (await run_read(ctx, "late.txt", limit=5)).is_error
    late = await run_read(ctx, "late.txt", offset=205)
    assert late.is_error and "binary file" in late.text


async def test_utf16_text_is_not_binary(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_bytes(("line\n" * 50_000).encode("utf-16"))
    result = await run_read(ctx, "w.txt", offset=49_999)
    assert result.text == numbered(["line", "line"], first=49_999)


async def test_refusals_are_one_line(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * (6 * 1024 * 1024))
    (tmp_path / "d").mkdir()
    for name, expected in [
        ("big.png", "is an image of"),
        ("d", "is a directory"),
        ("nope.txt", "File does not exist"),
    ]:
        result = await run_read(ctx, name)
        assert result.is_error and expected in result.text and "\n" not in result.text


async def test_a_huge_notebook_is_refused_before_it_is_parsed(
    ctx: ToolContext, tmp_path: Path
) -> None:
    with (tmp_path / "big.ipynb").open("wb") as handle:
        handle.write(b'{"cells": []')
        handle.truncate(100 * 1024 * 1024)
    result = await run_read(ctx, "big.ipynb")
    assert result.is_error and "up to 64 MB" in result.text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"one\ntwo\n",
        b"a\r\nb\r\nno line end",
        "é€ and ☃\n".encode(),
        b"z" * 5000 + b"\nshort\n",
        b"\xef\xbb\xbfwith a BOM\n",
        "utf-16\n".encode("utf-16"),
        b"latin-1 \xe9\n",
        b"binary\x00here",
    ],
)
async def test_a_read_in_place_answers_as_the_worker_thread_does(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    (tmp_path / "f.txt").write_bytes(data)
    in_place = [await run_read(ctx, "f.txt"), await run_read(ctx, "f.txt", offset=2, limit=1)]
    monkeypatch.setattr(read_module, "_NOWAIT", None)  # every read through the thread
    assert in_place == [
        await run_read(ctx, "f.txt"),
        await run_read(ctx, "f.txt", offset=2, limit=1),
    ]


@pytest.mark.skipif(read_module._NOWAIT is None, reason="no preadv(RWF_NOWAIT) here")
async def test_only_small_regular_files_in_the_page_cache_are_read_in_place(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = tmp_path / "small.txt"
    small.write_text("hi\n")
    if read_module._read_in_place(small, 1, 10) is None:
        pytest.skip("this file system does not read with RWF_NOWAIT")
    text, stamp = read_module._read_in_place(small, 1, 10) or ("", None)
    assert text == "     1\thi"
    assert stamp == FileStamp(mtime_ns=small.stat().st_mtime_ns, size=3)  # what was read
    big = tmp_path / "big.txt"
    big.write_bytes(b"x\n" * (read_module.IN_PLACE_BYTES // 2 + 1))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "n.ipynb").write_text('{"cells": []}')
    for path in (big, fifo, tmp_path, tmp_path / "missing.txt", tmp_path / "n.ipynb"):
        assert read_module._read_in_place(path, 1, 10) is None  # the fifo: no wait for a writer

    def not_cached(*args: Any) -> int:
        raise BlockingIOError(errno.EAGAIN, "not in the page cache")

    monkeypatch.setattr(os, "preadv", not_cached)
    assert read_module._read_in_place(small, 1, 10) is None
    assert (await run_read(ctx, small)).text == "     1\thi"  # answered by the thread
