"""MCP tools as claw :class:`~claw_runtime.tooling.Tool` objects, and their results as blocks.

``@tool`` derives a schema from a Python signature; an MCP server hands over the
schema itself. :func:`schema_tool` builds a ``Tool`` from a raw JSON Schema: the
model sees the schema as the server wrote it, the input is checked for the
basics (an object, its required keys), and the server checks the rest.

Every MCP tool goes through the same :class:`~claw_runtime.executor.ToolExecutor`
as a built-in one, so ``pre_tool_use`` hooks (``mcp__github__.*`` matchers),
permission rules (``mcp__github``, ``mcp__github__create_issue``) and the
approver apply. A server's ``readOnlyHint`` is a hint from a program claw does
not control: it is not used to skip a permission check, so MCP tools are never
``read_only`` here (in the default mode they ask unless a rule allows them).
It only makes the tool :attr:`SchemaTool.concurrent`: the agent loop may run it
alongside the other read-only calls of the same message (their questions, if
any, are asked one at a time by the executor).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from claw_runtime.errors import ToolInputError
from claw_runtime.models import ImageBlock, TextBlock, ToolResultBlock
from claw_runtime.tooling import DEFAULT_MAX_OUTPUT_CHARS, Tool, ToolContext

__all__ = [
    "MCP_TOOL_PREFIX",
    "SchemaTool",
    "mcp_tool_name",
    "resource_text",
    "result_blocks",
    "schema_tool",
]

MCP_TOOL_PREFIX = "mcp__"

MAX_TOOL_NAME = 64
"""The longest tool name the model APIs accept."""

_NO_FIELDS = attrs.make_class("schema_tool_input", {}, frozen=True)

SchemaFunction = Callable[[dict[str, Any], ToolContext], Awaitable[Any]]


def mcp_tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, with characters the model APIs refuse replaced by ``_``."""
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in tool)
    return f"{MCP_TOOL_PREFIX}{server}__{safe}"[:MAX_TOOL_NAME]


@attrs.define(eq=False, kw_only=True)
class SchemaTool(Tool):
    """A tool described by a raw JSON Schema rather than a Python signature.

    Its function is called as ``function(arguments=<the input object>, ctx=<ToolContext>)``.
    """

    concurrent: bool = False
    """May run alongside read-only calls of the same message (an MCP ``readOnlyHint``),
    without being ``read_only``: the permission check is the same as for any tool."""

    def validate(self, raw_input: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(raw_input, Mapping):
            raise ToolInputError(
                f"Invalid input for tool {self.name}: expected a JSON object, "
                f"got {type(raw_input).__name__}"
            )
        required = self.input_schema.get("required")
        if isinstance(required, list):
            missing = [k for k in required if isinstance(k, str) and k not in raw_input]
            if missing:
                raise ToolInputError(
                    f"Invalid input for tool {self.name}: required field(s) missing: "
                    + ", ".join(missing)
                )
        return {"arguments": _thaw(raw_input)}


def _thaw(value: Any) -> Any:
    """The model's input as plain JSON values (messages hold read-only mappings)."""
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def schema_tool(
    *,
    name: str,
    description: str,
    input_schema: Mapping[str, Any],
    function: SchemaFunction,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    plugin: str | None = None,
    concurrent: bool = False,
) -> SchemaTool:
    """A :class:`Tool` from a JSON Schema and ``async def function(arguments, ctx)``."""
    schema = dict(input_schema) if isinstance(input_schema, Mapping) else {}
    schema.setdefault("type", "object")
    if schema.get("type") == "object":
        schema.setdefault("properties", {})
    return SchemaTool(
        name=name,
        description=description,
        read_only=False,
        function=function,
        input_schema=schema,
        input_class=_NO_FIELDS,
        context_param="ctx",
        max_output_chars=max_output_chars,
        plugin=plugin,
        concurrent=concurrent,
    )


def result_blocks(
    tool_use_id: str, content: list[Any], structured: Any, is_error: bool
) -> ToolResultBlock:
    """An MCP ``CallToolResult``'s content as one tool result.

    Text, embedded text resources and resource links become one text block (so
    ``Tool.invoke`` cuts a result of thousands of small blocks as a whole, with a
    notice, at the tool's ``max_output_chars``);
    images stay images; audio and binary resources are named, not inlined.
    """
    texts: list[str] = []
    images: list[ImageBlock] = []
    for item in content:
        kind = getattr(item, "type", None)
        if kind == "text":
            texts.append(str(item.text))
        elif kind == "image":
            images.append(ImageBlock(media_type=str(item.mime_type), data=str(item.data)))
        elif kind == "audio":
            texts.append(f"[audio ({item.mime_type}) not shown]")
        elif kind == "resource_link":
            texts.append(f"[resource {item.uri}" + (f": {item.name}]" if item.name else "]"))
        elif kind == "resource":
            resource = item.resource
            text = getattr(resource, "text", None)
            if text is not None:
                texts.append(f"[resource {resource.uri}]\n{text}")
            else:
                mime = getattr(resource, "mime_type", None) or "binary"
                texts.append(f"[resource {resource.uri} ({mime}) not shown]")
        else:
            texts.append(f"[{kind or 'unknown'} content not shown]")
    if not texts and not images and structured is not None:
        texts.append(json.dumps(structured, ensure_ascii=False, indent=2))
    blocks: list[TextBlock | ImageBlock] = []
    if texts or not images:
        joined = "\n".join(texts) if texts else "(no output)"
        blocks.append(TextBlock(text=joined))
    blocks.extend(images)
    return ToolResultBlock(tool_use_id=tool_use_id, content=tuple(blocks), is_error=is_error)


def resource_text(contents: list[Any]) -> str:
    """What ``resources/read`` returned, as text: text contents whole, binary ones named."""
    parts: list[str] = []
    for item in contents:
        text = getattr(item, "text", None)
        if text is not None:
            parts.append(str(text))
        else:
            mime = getattr(item, "mime_type", None) or "binary"
            parts.append(f"[{item.uri}: {mime} content not shown]")
    return "\n".join(parts) or "(empty resource)"
