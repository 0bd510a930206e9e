"""Tools: the ``@tool`` decorator, the ``Tool`` object, and the context a tool runs in.

A tool is an async function with typed parameters. The decorator reads the
signature once, at import time, and derives three things from it:

* the JSON schema the model is shown (``Tool.spec``),
* an attrs class that cattrs validates the model's input against, strictly
  (no ``"5"`` for an int, no unknown keys), so a bad input becomes a message the
  model can act on instead of a traceback,
* which parameter, if any, receives the :class:`ToolContext`.

Parameter names that are not Python identifiers (Grep's ``-A``) and
descriptions come from ``Annotated[..., Param(...)]``::

    @tool(read_only=True)
    async def grep(
        pattern: str,
        after: Annotated[int | None, Param("-A", "Lines of context after a match")] = None,
    ) -> str: ...
"""

from __future__ import annotations

import enum
import inspect
import os
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from claw_runtime._strict import make_strict_converter
from claw_runtime.errors import ToolError, ToolInputError
from claw_runtime.models import ImageBlock, TextBlock, ToolResultBlock, ToolSpec
from claw_runtime.text import clean_text

if typing.TYPE_CHECKING:
    import httpx

    from claw_runtime.agents.subagent import SubagentService
    from claw_runtime.events import Event
    from claw_runtime.scheduler import Scheduler, TaskHandle

__all__ = [
    "DEFAULT_MAX_OUTPUT_CHARS",
    "TOOL_ALIASES",
    "FileStamp",
    "Param",
    "SessionState",
    "Todo",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "tool",
]

DEFAULT_MAX_OUTPUT_CHARS = 50_000
"""Results longer than this are cut, with a notice, before the model sees them."""

TOOL_ALIASES: Mapping[str, str] = types.MappingProxyType({"Agent": "Task"})
"""Other names a tool answers to: newer Claude Code calls its ``Task`` tool ``Agent``.

The executor runs a call of ``Agent`` as ``Task``; permission rules and hook
matchers naming either one match both. The model is offered the tool once."""

ToolOutput: TypeAlias = (
    str | ToolResultBlock | TextBlock | ImageBlock | Sequence[TextBlock | ImageBlock]
)
"""What a tool function may return; ``Tool.invoke`` turns it into a ``ToolResultBlock``."""


@attrs.frozen
class Param:
    """Metadata for one tool parameter, used inside ``Annotated``.

    Args:
        name: the name the model uses, when it differs from the Python name.
        description: shown to the model in the schema.
    """

    name: str | None = None
    description: str | None = None


@attrs.frozen(kw_only=True)
class FileStamp:
    """What a file looked like when a tool last read it (for stale-write checks)."""

    mtime_ns: int
    size: int


@attrs.define(kw_only=True)
class Todo:
    """One item of the session's todo list (Claude Code's TodoWrite shape)."""

    content: str
    status: Literal["pending", "in_progress", "completed"]
    activeForm: str


@attrs.define(eq=False, kw_only=True)
class SessionState:
    """State that lives as long as a session and that tools share.

    ``cwd`` is where Bash runs next (it persists between calls); ``file_reads``
    remembers what Read saw, so Write and Edit can refuse to clobber a file
    that changed on disk since. ``extras`` is for plugins: key it by your
    plugin's name.
    """

    session_id: str
    cwd: Path
    workspace_roots: list[Path] = attrs.field(factory=list)
    file_reads: dict[Path, FileStamp] = attrs.field(factory=dict)
    todos: list[Todo] = attrs.field(factory=list)
    permission_mode: str = "default"
    """The mode the current run uses (hooks receive it as ``permission_mode``)."""
    env: dict[str, str] = attrs.field(factory=lambda: dict(os.environ))
    """The whole environment of the processes the session starts (Bash, command hooks)
    and what the session's context reads (``CLAUDE_CONFIG_DIR``).

    :meth:`Runtime.new_session` always fills it: a copy of the environment the runtime
    was opened with, settings' ``env`` applied. A session built by hand (tests,
    ``claw tools call`` helpers, benchmarks) gets a snapshot of ``os.environ`` taken
    when it is constructed. A snapshot rather than "empty means the process's own":
    with the latter every consumer had to repeat the fallback and read ``os.environ``
    at each use, so a change to it by anyone in the process (another runtime, an
    embedder's thread, a test's monkeypatch) leaked into sessions already running.
    Now tools and hooks read this and nothing else; an empty dict means an empty
    environment."""
    extras: dict[str, Any] = attrs.field(factory=dict)
    notices: list[str] = attrs.field(factory=list)
    """Things the model must be told at its next message (a background sub-agent
    finished): the agent loop adds each as a ``<system-reminder>`` text block to
    the next user or tool-result message it sends, then clears the list."""

    def __attrs_post_init__(self) -> None:
        if not self.workspace_roots:
            self.workspace_roots.append(self.cwd)


async def _discard_event(event: Event) -> None:
    return None


def _nothing_denied(path: Path) -> bool:
    return False


@attrs.define(eq=False, kw_only=True)
class ToolContext:
    """Everything a running tool may use besides its input.

    A tool asks for it by annotating one parameter with ``ToolContext``; that
    parameter is not part of the schema the model sees.
    """

    session: SessionState
    tool_use_id: str = ""
    http: httpx.AsyncClient | None = None
    scheduler: Scheduler | None = None
    parent_task: TaskHandle[Any] | None = None
    publish: Callable[[Event], Awaitable[None]] = _discard_event
    read_denied: Callable[[Path], bool] = _nothing_denied
    """Whether a read deny rule covers this absolute, resolved path.

    Tools that list or search many files (Grep, Glob, LS) must leave out every
    path for which this is true, so a denied file's name or content never
    reaches the model through a search of its directory.
    """
    agents: SubagentService | None = None
    """Starts sub-agents for the ``Task`` tool (None where there is no session:
    ``claw tools call``). Set by the executor; see :mod:`claw_runtime.agents`."""

    @property
    def cwd(self) -> Path:
        return self.session.cwd

    def resolve(self, path: str) -> Path:
        """A path from the model, made absolute against the session's cwd."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.session.cwd / p

    def spawn_background(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, name: str
    ) -> TaskHandle[Any]:
        """Run ``fn`` beyond this tool call, for as long as the session lives.

        Background work is a scheduler task under the session, so ending the
        session cancels it; a tool never holds a nursery of its own past return.
        """
        if self.scheduler is None:
            raise ToolError("background work needs a running session")
        return self.scheduler.spawn(fn, *args, name=name, parent=self.parent_task)


# --------------------------------------------------------------------------- schema


def _unwrap_annotated(hint: Any) -> tuple[Any, Param]:
    if get_origin(hint) is typing.Annotated:
        base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Param):
                return base, extra
        return base, Param()
    return hint, Param()


def _is_optional(hint: Any) -> tuple[bool, Any]:
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) < len(get_args(hint)):
            rest = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return True, rest
    return False, hint


def json_schema_for(hint: Any) -> dict[str, Any]:
    """The JSON schema for a Python type hint (the subset tools use)."""
    hint, param = _unwrap_annotated(hint)
    schema = _schema_for_bare(hint)
    if param.description:
        schema = {**schema, "description": param.description}
    return schema


def _schema_for_bare(hint: Any) -> dict[str, Any]:
    optional, inner = _is_optional(hint)
    if optional:
        return json_schema_for(inner)
    origin = get_origin(hint)
    if hint is Any:
        return {}
    if hint is str or hint is Path:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if origin is Literal:
        values = list(get_args(hint))
        kinds = {type(v) for v in values}
        schema: dict[str, Any] = {"enum": values}
        if kinds == {str}:
            schema["type"] = "string"
        elif kinds <= {int}:
            schema["type"] = "integer"
        return schema
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [m.value for m in hint]}
    if origin in (list, tuple, Sequence, set, frozenset) or hint in (list, tuple):
        args = get_args(hint)
        item = args[0] if args else Any
        return {"type": "array", "items": json_schema_for(item)}
    if origin in (dict, Mapping) or hint is dict:
        args = get_args(hint)
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": json_schema_for(value)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [json_schema_for(a) for a in get_args(hint)]}
    if attrs.has(hint):
        return _object_schema_for_attrs(hint)
    raise TypeError(f"cannot derive a JSON schema for {hint!r}")


def _object_schema_for_attrs(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        hint = hints.get(field.name, field.type)
        base, param = _unwrap_annotated(hint)
        param = field.metadata.get("param", param)
        wire = param.name or field.name
        prop = json_schema_for(base)
        if param.description:
            prop = {**prop, "description": param.description}
        properties[wire] = prop
        if field.default is attrs.NOTHING:
            required.append(wire)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


_ARGS_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$", re.MULTILINE)


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and ``Args:`` entries."""
    doc = inspect.cleandoc(doc)
    match = _ARGS_SECTION.search(doc)
    if not match:
        return doc.strip(), {}
    description = doc[: match.start()].strip()
    params: dict[str, str] = {}
    current: str | None = None
    for line in doc[match.end() :].splitlines():
        if line and not line.startswith(" "):
            break  # next section (Returns:, Raises:, ...)
        entry = re.match(r"^\s{2,8}([\w-]+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if entry:
            current = entry.group(1)
            params[current] = entry.group(2).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    return description, params


# ------------------------------------------------------------------ validation


_CONVERTER = make_strict_converter(
    show=lambda value: f"{type(value).__name__} {value!r}", bool_label="a boolean (true or false)"
)
"""Strict structuring for what tool inputs contain, shared by every tool and only ever read.

No hook is registered on it after import: each :class:`Tool` keeps the structure
function for its own input class (:func:`_input_structure_fn`), so defining a tool
(when a plugin loads, in any thread) changes nothing another runtime uses.
"""


def _input_structure_fn(input_class: type) -> Callable[[Mapping[str, Any], Any], Any]:
    """The strict structure function for a tool's input class, built from its fields.

    The wire names come from each field's ``Param`` (Grep's ``-A``); nested attrs
    classes, lists and primitives are structured by the shared converter's hooks.
    """
    renames: dict[str, Any] = {  # field name -> override(rename=wire name)
        field.name: override(rename=field.metadata["param"].name)
        for field in attrs.fields(input_class)
        if field.metadata["param"].name != field.name
    }
    return make_dict_structure_fn(
        input_class, _CONVERTER, _cattrs_forbid_extra_keys=True, **renames
    )


def _describe_problem(exc: BaseException, expected: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, TypeError | ValueError):
        return str(exc)
    return f"invalid value ({exc})"


def _format_input_errors(tool_name: str, exc: Exception, input_class: type) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        problems = cattrs.transform_error(exc, path="input", format_exception=_describe_problem)
    else:
        problems = [str(exc)]
    for field in attrs.fields(input_class):  # report the names the model used
        wire = field.metadata["param"].name
        if wire != field.name:
            problems = [p.replace(f"@ input.{field.name}", f"@ input.{wire}") for p in problems]
    return f"Invalid input for tool {tool_name}: " + "; ".join(problems)


# ------------------------------------------------------------------------- Tool


@attrs.define(eq=False, kw_only=True)
class Tool:
    """A named, validated, awaitable capability the model can call.

    Build one with :func:`tool`; call :meth:`invoke` with the model's raw input.
    Calling the object directly calls the wrapped function (handy in tests).
    """

    name: str
    description: str
    read_only: bool
    function: Callable[..., Awaitable[ToolOutput]]
    input_schema: dict[str, Any]
    input_class: type
    context_param: str | None = None
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    plugin: str | None = None
    reads: tuple[str, ...] = ()
    """Input fields holding paths the tool reads (resolved like ``ToolContext.resolve``)."""
    writes: tuple[str, ...] = ()
    """Input fields holding paths the tool creates or changes."""
    urls: tuple[str, ...] = ()
    """Input fields holding network addresses the tool contacts."""
    _structure_input: Callable[[Mapping[str, Any], Any], Any] | None = attrs.field(
        init=False, repr=False, default=None
    )
    """Builds ``input_class`` from the model's input; built at the tool's first call (most
    runs call few of the tools they load), held here, not registered on the shared
    converter."""

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name, description=self.description, input_schema=self.input_schema
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Awaitable[ToolOutput]:
        return self.function(*args, **kwargs)

    def validate(self, raw_input: Mapping[str, Any]) -> dict[str, Any]:
        """The model's input as Python keyword arguments, or ToolInputError."""
        if not isinstance(raw_input, Mapping):
            raise ToolInputError(
                f"Invalid input for tool {self.name}: expected a JSON object, "
                f"got {type(raw_input).__name__}"
            )
        structure = self._structure_input
        if structure is None:
            structure = self._structure_input = _input_structure_fn(self.input_class)
        try:
            value: Any = structure(dict(raw_input), self.input_class)
        except Exception as exc:  # cattrs raises several kinds; all mean bad input
            raise ToolInputError(_format_input_errors(self.name, exc, self.input_class)) from exc
        return {f.name: getattr(value, f.name) for f in attrs.fields(self.input_class)}

    async def invoke(self, raw_input: Mapping[str, Any], ctx: ToolContext) -> ToolResultBlock:
        """Validate, run and normalise: always a ``ToolResultBlock``, never a traceback.

        ``trio.Cancelled`` (a BaseException) passes through untouched; the loop
        turns it into an "aborted" result.
        """
        try:
            kwargs = self.validate(raw_input)
            if self.context_param:
                kwargs[self.context_param] = ctx
            output = await self.function(**kwargs)
        except ToolError as exc:
            return _error_result(ctx.tool_use_id, str(exc))
        except Exception as exc:
            return _error_result(
                ctx.tool_use_id,
                f"Tool {self.name} crashed: {type(exc).__name__}: {exc}",
            )
        try:
            return _normalise(ctx.tool_use_id, output, self.max_output_chars)
        except (TypeError, ValueError) as exc:  # it ran, but returned something unusable
            return _error_result(
                ctx.tool_use_id,
                f"Tool {self.name} ran but returned {type(output).__name__}, which is not a "
                f"tool result (str, TextBlock, ImageBlock or a list of them): {exc}",
            )


def _error_result(tool_use_id: str, message: str) -> ToolResultBlock:
    return ToolResultBlock(
        tool_use_id=tool_use_id, content=(TextBlock(text=clean_text(message)),), is_error=True
    )


def truncate_text(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters with a notice saying how much was dropped."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}\n\n[output truncated: {dropped} more characters not shown]"


def _normalise(tool_use_id: str, output: ToolOutput, limit: int) -> ToolResultBlock:
    if isinstance(output, ToolResultBlock):
        blocks: tuple[TextBlock | ImageBlock, ...] = output.content
        is_error = output.is_error
    elif isinstance(output, str):
        blocks, is_error = (TextBlock(text=output),), False
    elif isinstance(output, TextBlock | ImageBlock):
        blocks, is_error = (output,), False
    else:
        blocks, is_error = tuple(output), False
    # Text enters the conversation here: names that are not UTF-8 become escapes
    # (claw_runtime.text), so the transcript and the request always serialise.
    blocks = tuple(
        TextBlock(text=clean_text(truncate_text(b.text, limit))) if isinstance(b, TextBlock) else b
        for b in blocks
    )
    return ToolResultBlock(tool_use_id=tool_use_id, content=blocks, is_error=is_error)


def _is_context_hint(hint: Any) -> bool:
    return hint is ToolContext or hint == "ToolContext"


def _build_tool(
    fn: Callable[..., Awaitable[ToolOutput]],
    *,
    name: str | None,
    description: str | None,
    read_only: bool,
    max_output_chars: int,
    reads: tuple[str, ...] = (),
    writes: tuple[str, ...] = (),
    urls: tuple[str, ...] = (),
) -> Tool:
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@tool needs an async function; {fn.__qualname__} is not")
    doc_description, doc_params = _split_docstring(fn.__doc__ or "")
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    context_param: str | None = None
    attribs: dict[str, Any] = {}
    for pname, parameter in signature.parameters.items():
        hint = hints.get(pname, Any)
        if _is_context_hint(hint):
            context_param = pname
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"@tool does not support *args/**kwargs ({fn.__qualname__})")
        base, param = _unwrap_annotated(hint)
        wire = param.name or pname
        desc = param.description or doc_params.get(wire) or doc_params.get(pname)
        default = attrs.NOTHING if parameter.default is parameter.empty else parameter.default
        attribs[pname] = attrs.field(
            default=default, type=base, metadata={"param": Param(name=wire, description=desc)}
        )
    input_class = attrs.make_class(f"{fn.__name__}_input", attribs, frozen=True, kw_only=True)
    return Tool(
        name=name or fn.__name__,
        description=description or doc_description or fn.__name__,
        read_only=read_only,
        function=fn,
        input_schema=_object_schema_for_attrs(input_class),
        input_class=input_class,
        context_param=context_param,
        max_output_chars=max_output_chars,
        reads=reads,
        writes=writes,
        urls=urls,
    )


def _check_declared(fn: Callable[..., Any], tool: Tool) -> None:
    wire_names = {f.metadata["param"].name for f in attrs.fields(tool.input_class)}
    unknown = [n for n in (*tool.reads, *tool.writes, *tool.urls) if n not in wire_names]
    if unknown:
        raise TypeError(f"@tool({fn.__qualname__}): no input named {', '.join(unknown)}")


@typing.overload
def tool(fn: Callable[..., Awaitable[ToolOutput]], /) -> Tool: ...


@typing.overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    reads: Sequence[str] = (),
    writes: Sequence[str] = (),
    urls: Sequence[str] = (),
) -> Callable[[Callable[..., Awaitable[ToolOutput]]], Tool]: ...


def tool(
    fn: Callable[..., Awaitable[ToolOutput]] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    reads: Sequence[str] = (),
    writes: Sequence[str] = (),
    urls: Sequence[str] = (),
) -> Tool | Callable[[Callable[..., Awaitable[ToolOutput]]], Tool]:
    """Turn an async function into a :class:`Tool`.

    Args:
        name: the tool's name as the model sees it (default: the function's name).
        description: what the model is told (default: the docstring before ``Args:``).
        read_only: True if the tool never changes anything; the agent loop runs
            read-only calls from one model message concurrently.
        max_output_chars: longer text results are cut with a notice.
        reads: names of inputs that are paths the tool reads. Permission rules
            (``Read(...)`` deny rules above all) are matched against these paths
            resolved exactly as :meth:`ToolContext.resolve` and the OS will:
            against the session's cwd, after ``~`` and symlinks.
        writes: names of inputs that are paths the tool creates or changes:
            ``Edit(...)`` rules, the workspace edge and protected paths apply.
        urls: names of inputs that are network addresses (``WebFetch(domain:...)``).
    """

    def decorate(f: Callable[..., Awaitable[ToolOutput]]) -> Tool:
        built = _build_tool(
            f,
            name=name,
            description=description,
            read_only=read_only,
            max_output_chars=max_output_chars,
            reads=tuple(reads),
            writes=tuple(writes),
            urls=tuple(urls),
        )
        _check_declared(f, built)
        return built

    return decorate(fn) if fn is not None else decorate
