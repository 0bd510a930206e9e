"""Read, Write, Edit, MultiEdit on real files: normal paths and every refusal."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claw_runtime.models import ImageBlock, ToolResultBlock
from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.edit import edit, multi_edit
from claw_runtime.tools.read import read
from claw_runtime.tools.write import write

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session=SessionState(session_id="t", cwd=tmp_path), tool_use_id="f")


async def call(tool_obj: object, ctx: ToolContext, **tool_input: object) -> ToolResultBlock:
    return await tool_obj.invoke(tool_input, ctx)  # type: ignore[attr-defined, no-any-return]


# ------------------------------------------------------------------------ Read


async def test_read_numbers_lines_like_cat_n(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("one\ntwo\nthree\n")
    result = await call(read, ctx, file_path="a.py")
    assert result.text == "     1\tone\n     2\ttwo\n     3\tthree"
    assert (tmp_path / "a.py") in ctx.session.file_reads


async def test_read_offset_limit_and_more_notice(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 101)))
    result = await call(read, ctx, file_path=str(tmp_path / "long.txt"), offset=10, limit=3)
    lines = result.text.splitlines()
    assert lines[:3] == ["    10\tline 10", "    11\tline 11", "    12\tline 12"]
    assert "Read on with offset=13" in result.text
    past = await call(read, ctx, file_path="long.txt", offset=500)
    assert past.is_error and "fewer than 500 lines" in past.text


async def test_read_cuts_very_long_lines(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "wide.txt").write_text("x" * 5000 + "\n")
    result = await call(read, ctx, file_path="wide.txt")
    assert "[line cut: 3000 more characters]" in result.text


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: None, "File does not exist"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b"\x7fELF\x00\x01\x02binary"), "binary file"),
    ],
    ids=["missing", "directory", "binary"],
)
async def test_read_refusals(
    ctx: ToolContext, tmp_path: Path, setup: object, expected: str
) -> None:
    target = tmp_path / "thing"
    setup(target)  # type: ignore[operator]
    result = await call(read, ctx, file_path=str(target))
    assert result.is_error and expected in result.text


async def test_read_empty_file_is_noted(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    result = await call(read, ctx, file_path="empty.txt")
    assert not result.is_error and "exists but is empty" in result.text


async def test_read_image_returns_an_image_block(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "dot.png").write_bytes(PNG)
    result = await call(read, ctx, file_path="dot.png")
    image = result.content[-1]
    assert isinstance(image, ImageBlock) and image.media_type == "image/png"
    assert base64.b64decode(image.data) == PNG


async def test_read_notebook_renders_cells(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "nb.ipynb").write_text(
        '{"cells": [{"id": "c1", "cell_type": "code", "source": ["print(1)"], '
        '"outputs": [{"output_type": "stream", "text": ["1\\n"]}]}, '
        '{"id": "c2", "cell_type": "markdown", "source": "# Title"}], '
        '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    )
    result = await call(read, ctx, file_path="nb.ipynb")
    assert "<cell id='c1' type=code>\nprint(1)\n[output]\n1\n</cell>" in result.text
    assert "<cell id='c2' type=markdown>\n# Title" in result.text


# ----------------------------------------------------------------------- Write


async def test_write_creates_new_files_and_directories(ctx: ToolContext, tmp_path: Path) -> None:
    result = await call(write, ctx, file_path="deep/new.txt", content="hi\n")
    assert not result.is_error and "Created" in result.text
    assert (tmp_path / "deep" / "new.txt").read_text() == "hi\n"


async def test_write_refuses_to_overwrite_an_unread_file(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    result = await call(write, ctx, file_path="keep.txt", content="clobbered")
    assert result.is_error and "has not been read" in result.text
    assert (tmp_path / "keep.txt").read_text() == "precious"


async def test_write_refuses_when_the_file_changed_since_it_was_read(
    ctx: ToolContext, tmp_path: Path
) -> None:
    target = tmp_path / "f.txt"
    target.write_text("v1")
    await call(read, ctx, file_path="f.txt")
    target.write_text("v2 by the user")
    result = await call(write, ctx, file_path="f.txt", content="mine")
    assert result.is_error and "changed on disk" in result.text
    assert target.read_text() == "v2 by the user"


async def test_write_after_read_keeps_permissions(ctx: ToolContext, tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    await call(read, ctx, file_path="run.sh")
    result = await call(write, ctx, file_path="run.sh", content="echo new\n")
    assert not result.is_error
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".claw-tmp")]


# ------------------------------------------------------------------------ Edit


async def test_edit_replaces_a_unique_string_and_shows_the_result(
    ctx: ToolContext, tmp_path: Path
) -> None:
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    await call(read, ctx, file_path="m.py")
    result = await call(edit, ctx, file_path="m.py", old_string="return 1", new_string="return 2")
    assert not result.is_error
    assert (tmp_path / "m.py").read_text() == "def f():\n    return 2\n"
    assert "     2\t    return 2" in result.text


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("absent", "x", "not found"),
        ("a ", "b ", "occurs 3 times"),
        ("same", "same", "the same"),
    ],
)
async def test_edit_failures_leave_the_file_alone(
    ctx: ToolContext, tmp_path: Path, old: str, new: str, expected: str
) -> None:
    (tmp_path / "t.txt").write_text("a a a same")
    await call(read, ctx, file_path="t.txt")
    result = await call(edit, ctx, file_path="t.txt", old_string=old, new_string=new)
    assert result.is_error and expected in result.text
    assert (tmp_path / "t.txt").read_text() == "a a a same"


async def test_edit_replace_all(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("a a a")
    await call(read, ctx, file_path="t.txt")
    await call(edit, ctx, file_path="t.txt", old_string="a", new_string="b", replace_all=True)
    assert (tmp_path / "t.txt").read_text() == "b b b"


async def test_edit_requires_a_fresh_read(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "t.txt"
    target.write_text("x = 1\n")
    unread = await call(edit, ctx, file_path="t.txt", old_string="1", new_string="2")
    assert unread.is_error and "has not been read" in unread.text
    await call(read, ctx, file_path="t.txt")
    target.write_text("x = 10\n")
    os.utime(target, ns=(1, 1))
    stale = await call(edit, ctx, file_path="t.txt", old_string="1", new_string="2")
    assert stale.is_error and "changed on disk" in stale.text


async def test_edit_preserves_crlf_and_bom(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "win.txt"
    target.write_bytes(b"\xef\xbb\xbfline one\r\nline two\r\n")
    await call(read, ctx, file_path="win.txt")
    result = await call(
        edit, ctx, file_path="win.txt", old_string="line one\nline two", new_string="first\nsecond"
    )
    assert not result.is_error, result.text
    assert target.read_bytes() == b"\xef\xbb\xbffirst\r\nsecond\r\n"


async def test_edit_preserves_utf16(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "u16.txt"
    target.write_bytes("héllo\nwörld\n".encode("utf-16"))
    await call(read, ctx, file_path="u16.txt")
    await call(edit, ctx, file_path="u16.txt", old_string="wörld", new_string="wérld")
    assert target.read_bytes() == "héllo\nwérld\n".encode("utf-16")


@given(
    lines=st.lists(st.text(alphabet="abcxyz é\t", min_size=1, max_size=12), min_size=2, max_size=8),
    pick=st.integers(min_value=0, max_value=7),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_crlf_edit_changes_only_the_edited_bytes(
    tmp_path: Path, lines: list[str], pick: int
) -> None:
    import trio

    marked = [f"{i}:{line}" for i, line in enumerate(lines)]
    target = tmp_path / "prop.txt"
    target.write_bytes("\r\n".join(marked).encode() + b"\r\n")
    index = pick % len(marked)
    ctx = ToolContext(session=SessionState(session_id="p", cwd=tmp_path))

    async def go() -> ToolResultBlock:
        await read.invoke({"file_path": str(target)}, ctx)
        return await edit.invoke(
            {"file_path": str(target), "old_string": marked[index], "new_string": "REPLACED"}, ctx
        )

    result = trio.run(go)
    expected = [*marked]
    expected[index] = "REPLACED"
    if marked.count(marked[index]) == 1 and sum(m.count(marked[index]) for m in marked) == 1:
        assert not result.is_error
        assert target.read_bytes() == "\r\n".join(expected).encode() + b"\r\n"


async def test_multi_edit_is_all_or_nothing(ctx: ToolContext, tmp_path: Path) -> None:
    target = tmp_path / "m.txt"
    target.write_text("alpha beta gamma")
    await call(read, ctx, file_path="m.txt")
    failed = await call(
        multi_edit,
        ctx,
        file_path="m.txt",
        edits=[
            {"old_string": "alpha", "new_string": "A"},
            {"old_string": "delta", "new_string": "D"},
        ],
    )
    assert failed.is_error and failed.text.startswith("edit 2: old_string was not found")
    assert target.read_text() == "alpha beta gamma"
    done = await call(
        multi_edit,
        ctx,
        file_path="m.txt",
        edits=[
            {"old_string": "alpha", "new_string": "A"},
            {"old_string": "A beta", "new_string": "AB", "replace_all": True},
        ],
    )
    assert not done.is_error and "Applied 2 edits" in done.text
    assert target.read_text() == "AB gamma"
