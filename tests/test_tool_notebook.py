"""NotebookEdit on real notebook files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claw_runtime.tooling import SessionState, ToolContext
from claw_runtime.tools.notebook_edit import notebook_edit
from claw_runtime.tools.read import read

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Title\n"]},
        {
            "cell_type": "code",
            "id": "calc",
            "metadata": {},
            "execution_count": 3,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": ["2\n"]}],
            "source": ["print(1 + 1)"],
        },
    ],
    "metadata": {"kernelspec": {"name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture
async def ctx(tmp_path: Path) -> ToolContext:
    (tmp_path / "nb.ipynb").write_text(json.dumps(NOTEBOOK, indent=1) + "\n")
    context = ToolContext(session=SessionState(session_id="n", cwd=tmp_path))
    await read.invoke({"file_path": "nb.ipynb"}, context)
    return context


def cells(tmp_path: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((tmp_path / "nb.ipynb").read_text())["cells"]
    return data


async def test_replace_clears_outputs_of_a_code_cell(ctx: ToolContext, tmp_path: Path) -> None:
    result = await notebook_edit.invoke(
        {"notebook_path": "nb.ipynb", "cell_id": "calc", "new_source": "x = 2\nprint(x)"}, ctx
    )
    assert not result.is_error, result.text
    calc = cells(tmp_path)[1]
    assert calc["source"] == ["x = 2\n", "print(x)"]
    assert calc["outputs"] == [] and calc["execution_count"] is None
    text = (tmp_path / "nb.ipynb").read_text()
    assert text.endswith("}\n") and '\n "cells": [' in text  # Jupyter's one-space indent


async def test_insert_after_a_cell_and_at_the_start(ctx: ToolContext, tmp_path: Path) -> None:
    await notebook_edit.invoke(
        {
            "notebook_path": "nb.ipynb",
            "cell_id": "intro",
            "new_source": "import os",
            "cell_type": "code",
            "edit_mode": "insert",
        },
        ctx,
    )
    await notebook_edit.invoke(
        {
            "notebook_path": "nb.ipynb",
            "new_source": "Top",
            "cell_type": "markdown",
            "edit_mode": "insert",
        },
        ctx,
    )
    result = cells(tmp_path)
    assert [c["source"] for c in result] == [
        ["Top"],
        ["# Title\n"],
        ["import os"],
        ["print(1 + 1)"],
    ]
    assert len({c["id"] for c in result}) == 4


async def test_delete_a_cell(ctx: ToolContext, tmp_path: Path) -> None:
    await notebook_edit.invoke(
        {"notebook_path": "nb.ipynb", "cell_id": "intro", "new_source": "", "edit_mode": "delete"},
        ctx,
    )
    assert [c["id"] for c in cells(tmp_path)] == ["calc"]


@pytest.mark.parametrize(
    ("tool_input", "expected"),
    [
        ({"cell_id": "nope", "new_source": "x"}, "No cell with id 'nope'. Cells: intro, calc"),
        ({"new_source": "x", "edit_mode": "insert"}, "cell_type (code or markdown) is required"),
        ({"new_source": "x"}, "cell_id is required to replace"),
    ],
)
async def test_errors_are_clear(
    ctx: ToolContext, tool_input: dict[str, Any], expected: str
) -> None:
    result = await notebook_edit.invoke({"notebook_path": "nb.ipynb", **tool_input}, ctx)
    assert result.is_error and expected in result.text


async def test_unread_notebook_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other.ipynb").write_text(json.dumps(NOTEBOOK))
    fresh = ToolContext(session=SessionState(session_id="n", cwd=tmp_path))
    result = await notebook_edit.invoke(
        {"notebook_path": "other.ipynb", "cell_id": "calc", "new_source": "x"}, fresh
    )
    assert result.is_error and "has not been read" in result.text
