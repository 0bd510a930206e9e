"""The @tool decorator: schemas from signatures, strict input validation, clean errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import attrs
import pytest
import trio

from claw_runtime import Param, ToolContext, ToolError, tool
from claw_runtime.models import ImageBlock, TextBlock
from claw_runtime.tooling import SessionState


@attrs.frozen
class Edit:
    old_string: str
    new_string: str
    replace_all: bool = False


@tool(name="Search", read_only=True)
async def search(
    pattern: str,
    ctx: ToolContext,
    after: Annotated[int | None, Param("-A", "Lines after each match")] = None,
    mode: Literal["content", "count"] = "content",
    globs: list[str] | None = None,
) -> str:
    """Search files for a pattern.

    Args:
        pattern: The regular expression to look for.
        globs: Only files matching these globs.
    """
    return f"{pattern}|{after}|{mode}|{globs}|{ctx.cwd.name}"


@tool
async def multi(file_path: str, edits: list[Edit]) -> str:
    """Apply edits."""
    return ";".join(f"{e.old_string}->{e.new_string}:{e.replace_all}" for e in edits)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(session=SessionState(session_id="s", cwd=tmp_path), tool_use_id="tu_1")


def test_schema_is_derived_from_the_signature_and_docstring() -> None:
    schema = search.input_schema
    assert schema["required"] == ["pattern"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["pattern", "-A", "mode", "globs"]  # ctx is not the model's business
    assert props["pattern"] == {
        "type": "string",
        "description": "The regular expression to look for.",
    }
    assert props["-A"] == {"type": "integer", "description": "Lines after each match"}
    assert props["mode"] == {"type": "string", "enum": ["content", "count"]}
    assert props["globs"]["type"] == "array"
    assert search.description == "Search files for a pattern."
    assert search.read_only and not multi.read_only
    assert multi.name == "multi"


def test_nested_attrs_classes_become_object_schemas() -> None:
    items = multi.input_schema["properties"]["edits"]["items"]
    assert items["required"] == ["old_string", "new_string"]
    assert items["properties"]["replace_all"] == {"type": "boolean"}


async def test_valid_input_runs_with_context_and_wire_names(
    ctx: ToolContext, tmp_path: Path
) -> None:
    result = await search.invoke({"pattern": "x", "-A": 2, "globs": ["*.py"]}, ctx)
    assert not result.is_error
    assert result.tool_use_id == "tu_1"
    assert result.text == f"x|2|content|['*.py']|{tmp_path.name}"


async def test_nested_input_is_structured(ctx: ToolContext) -> None:
    result = await multi.invoke(
        {
            "file_path": "f",
            "edits": [
                {"old_string": "a", "new_string": "b"},
                {"old_string": "c", "new_string": "d", "replace_all": True},
            ],
        },
        ctx,
    )
    assert result.text == "a->b:False;c->d:True"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, "required field missing @ input.pattern"),
        ({"pattern": 5}, "expected a string, got int 5 @ input.pattern"),
        ({"pattern": "x", "-A": "3"}, "expected an integer, got str '3' @ input.-A"),
        ({"pattern": "x", "-A": True}, "expected an integer, got bool True @ input.-A"),
        ({"pattern": "x", "mode": "lines"}, "@ input.mode"),
        ({"pattern": "x", "bogus": 1}, "unknown field(s) bogus"),
    ],
)
async def test_bad_input_is_a_readable_error_result(
    ctx: ToolContext, raw: dict[str, object], expected: str
) -> None:
    result = await search.invoke(raw, ctx)
    assert result.is_error
    assert result.text.startswith("Invalid input for tool Search: ")
    assert expected in result.text
    assert "Traceback" not in result.text


async def test_non_object_input_is_rejected(ctx: ToolContext) -> None:
    result = await search.invoke(["x"], ctx)  # type: ignore[arg-type]
    assert result.is_error and "expected a JSON object" in result.text


async def test_tool_error_and_crashes_become_error_results(ctx: ToolContext) -> None:
    @tool
    async def refuses() -> str:
        raise ToolError("File not found: /nope")

    @tool
    async def crashes() -> str:
        return str(1 / 0)

    refused = await refuses.invoke({}, ctx)
    assert refused.is_error and refused.text == "File not found: /nope"
    crashed = await crashes.invoke({}, ctx)
    assert (
        crashed.is_error
        and crashed.text == "Tool crashes crashed: ZeroDivisionError: division by zero"
    )


async def test_long_text_is_truncated_with_a_notice(ctx: ToolContext) -> None:
    @tool(max_output_chars=10)
    async def chatty() -> str:
        return "x" * 25

    result = await chatty.invoke({}, ctx)
    assert result.text.startswith("x" * 10)
    assert "[output truncated: 15 more characters not shown]" in result.text


async def test_block_outputs_pass_through(ctx: ToolContext) -> None:
    @tool
    async def picture() -> list[TextBlock | ImageBlock]:
        return [TextBlock(text="look:"), ImageBlock(media_type="image/png", data="AAAA")]

    result = await picture.invoke({}, ctx)
    assert [b.type for b in result.content] == ["text", "image"]


async def test_cancellation_is_not_swallowed(
    ctx: ToolContext, autojump_clock: trio.abc.Clock
) -> None:
    @tool
    async def slow() -> str:
        await trio.sleep(100)
        return "never"

    with trio.move_on_after(1) as scope:
        await slow.invoke({}, ctx)
    assert scope.cancelled_caught


def test_sync_functions_and_star_args_are_refused() -> None:
    def sync(x: str) -> str:
        return x

    async def star(*args: str) -> str:
        return ""

    with pytest.raises(TypeError, match="async"):
        tool(sync)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\*args"):
        tool(star)


def test_resolve_makes_paths_absolute_against_the_session_cwd(
    ctx: ToolContext, tmp_path: Path
) -> None:
    assert ctx.resolve("a/b.txt") == tmp_path / "a" / "b.txt"
    assert ctx.resolve("/etc/hosts") == Path("/etc/hosts")


async def test_a_tool_returning_an_unusable_value_is_one_clear_error() -> None:
    from claw_runtime.tooling import SessionState, ToolContext, tool

    @tool
    async def broken() -> int:  # type: ignore[type-var]
        """Returns a number, which is not a tool result."""
        return 42

    ctx = ToolContext(session=SessionState(session_id="s", cwd=Path.cwd()), tool_use_id="t")
    result = await broken.invoke({}, ctx)
    assert result.is_error and "ran but returned int" in result.text
