"""The ``NotebookEdit`` tool: replace, insert or delete one cell of a Jupyter notebook.

The notebook is edited as JSON (no nbformat dependency) and written back the
way Jupyter writes it (one-space indent, trailing newline), atomically. A
replaced code cell loses its stale outputs and execution count.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import trio

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool
from claw_runtime.tools._encoding import MAX_NOTEBOOK_BYTES
from claw_runtime.tools._files import check_fresh, record_read, write_atomic

__all__ = ["notebook_edit"]


def _source_lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _new_cell(cell_type: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": cell_type,
        "id": uuid.uuid4().hex[:8],
        "metadata": {},
        "source": _source_lines(source),
    }
    if cell_type == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def _index_of(cells: list[dict[str, Any]], cell_id: str) -> int:
    for index, cell in enumerate(cells):
        if cell.get("id") == cell_id:
            return index
    if cell_id.isdigit() and int(cell_id) < len(cells):
        return int(cell_id)  # notebooks older than nbformat 4.5 have no ids
    known = ", ".join(str(c.get("id", i)) for i, c in enumerate(cells)) or "none"
    raise ToolError(f"No cell with id {cell_id!r}. Cells: {known}.")


@tool(name="NotebookEdit", writes=("notebook_path",))
async def notebook_edit(
    notebook_path: Annotated[str, Param(description="Absolute path of the .ipynb file")],
    new_source: Annotated[str, Param(description="The cell's new source")],
    ctx: ToolContext,
    cell_id: Annotated[
        str | None, Param(description="The cell to change; for insert, the new cell goes after it")
    ] = None,
    cell_type: Annotated[
        Literal["code", "markdown"] | None, Param(description="Required for insert")
    ] = None,
    edit_mode: Annotated[
        Literal["replace", "insert", "delete"], Param(description="What to do with the cell")
    ] = "replace",
) -> str:
    """Replace, insert or delete a cell in a Jupyter notebook that was Read in this session.

    insert puts the new cell after cell_id (or first, without cell_id); delete ignores
    new_source. Replacing a code cell clears its outputs.
    """
    path = ctx.resolve(notebook_path)
    if path.suffix != ".ipynb":
        raise ToolError(f"{path} is not a Jupyter notebook (.ipynb); use Edit for other files.")
    if not path.exists():
        raise ToolError(f"Notebook does not exist: {path}")
    check_fresh(ctx, path)
    size = (await trio.Path(path).stat()).st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ToolError(
            f"{path} is a notebook of {size // 1024**2} MB; NotebookEdit loads notebooks up to "
            f"{MAX_NOTEBOOK_BYTES // 1024**2} MB. Clear its outputs (jupyter nbconvert "
            "--clear-output) in Bash first."
        )
    try:
        notebook = json.loads(await trio.Path(path).read_text(encoding="utf-8"))
        cells: list[dict[str, Any]] = notebook["cells"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ToolError(f"{path} is not a valid notebook: {exc}") from None
    if edit_mode == "insert":
        if cell_type is None:
            raise ToolError("cell_type (code or markdown) is required to insert a cell.")
        position = _index_of(cells, cell_id) + 1 if cell_id else 0
        cell = _new_cell(cell_type, new_source)
        cells.insert(position, cell)
        done = f"Inserted {cell_type} cell {cell['id']} at position {position}."
    elif cell_id is None:
        raise ToolError(f"cell_id is required to {edit_mode} a cell.")
    else:
        index = _index_of(cells, cell_id)
        if edit_mode == "delete":
            del cells[index]
            done = f"Deleted cell {cell_id}."
        else:
            cell = cells[index]
            cell["source"] = _source_lines(new_source)
            if cell_type is not None and cell_type != cell.get("cell_type"):
                cell["cell_type"] = cell_type
            if cell.get("cell_type") == "code":
                cell["outputs"] = []
                cell["execution_count"] = None
            else:
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
            done = f"Replaced the source of cell {cell_id}."
    data = (json.dumps(notebook, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    await trio.to_thread.run_sync(write_atomic, path, data, ctx.session.workspace_roots)
    record_read(ctx, path)
    return done


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(notebook_edit)
