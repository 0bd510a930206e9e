"""``tool_response`` as Claude Code shapes it, per tool, for hooks that read it.

Real hook scripts read ``tool_response.filePath`` after a Write, or
``tool_response.stdout`` after a Bash call; a generic ``{"content": ...}``
breaks them. This builds Claude Code's shape from the call's input and the
result claw's tool returned. Tools claw does not know get the generic shape
(``content`` text and ``is_error``), which is also what a plugin tool's own
hooks receive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.models import ToolResultBlock

__all__ = ["tool_response"]


def _file_path(call: ToolCall) -> str:
    target = call.writes[0] if call.writes else call.reads[0] if call.reads else None
    return str(target) if target is not None else str(call.input.get("file_path", ""))


def _bash(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    text = result.text
    return {
        "stdout": text,
        "stderr": "",
        "interrupted": "timed out after" in text and result.is_error,
        "isImage": False,
    }


def _write(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    return {
        "type": "update" if result.text.startswith("Overwrote") else "create",
        "filePath": _file_path(call),
        "content": call.input.get("content", ""),
        "structuredPatch": [],
    }


def _edit(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    edits = call.input.get("edits")
    first = edits[0] if isinstance(edits, list) and edits and isinstance(edits[0], dict) else {}
    return {
        "filePath": _file_path(call),
        "oldString": call.input.get("old_string", first.get("old_string", "")),
        "newString": call.input.get("new_string", first.get("new_string", "")),
        "replaceAll": bool(call.input.get("replace_all", first.get("replace_all", False))),
        "userModified": False,
        "structuredPatch": [],
        **({"edits": edits} if isinstance(edits, list) else {}),
    }


def _read(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    content = result.text
    offset = call.input.get("offset")
    return {
        "type": "text",
        "file": {
            "filePath": _file_path(call),
            "content": content,
            "numLines": content.count("\n") + 1 if content else 0,
            "startLine": offset if isinstance(offset, int) else 1,
        },
    }


def _listing(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    names = [line for line in result.text.splitlines() if line and not line.startswith("(")]
    return {"filenames": names, "numFiles": len(names), "truncated": False}


_SHAPES: dict[str, Callable[[ToolCall, ToolResultBlock], dict[str, Any]]] = {
    "Bash": _bash,
    "Write": _write,
    "Edit": _edit,
    "MultiEdit": _edit,
    "NotebookEdit": _write,
    "Read": _read,
    "Glob": _listing,
}


def tool_response(call: ToolCall, result: ToolResultBlock) -> dict[str, Any]:
    """The ``tool_response`` a PostToolUse hook receives for ``call``."""
    shape = _SHAPES.get(call.name)
    if shape is None or (result.is_error and call.name != "Bash"):
        return {"content": result.text, "is_error": result.is_error}
    return shape(call, result)
