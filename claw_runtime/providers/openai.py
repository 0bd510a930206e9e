"""OpenAI Chat Completions, and every server that speaks it.

Ollama, vLLM, llama.cpp's server, LM Studio and OpenRouter all accept this
protocol: point ``OPENAI_BASE_URL`` (or ``providers.openai.baseUrl`` in
settings) at them. A key (``OPENAI_API_KEY``) is required only for the default
OpenAI endpoint; local servers usually need none.

Streaming: ``tool_calls`` arrive as deltas keyed by ``index`` (id and name in
the first piece, arguments concatenated); ``[DONE]`` ends the stream; usage
comes in a last chunk because we ask for ``stream_options.include_usage``.
``reasoning_content`` / ``reasoning`` deltas, which several servers send,
become thinking.

Deliberate choices, for servers that bend the protocol:

* ``finish_reason: "stop"`` with tool calls in the stream (vLLM, Ollama and
  llama.cpp send it) counts as ``tool_use``: the calls are complete, so they run.
* ``delta.refusal`` (structured refusals) becomes the answer's text, and the
  stop reason is ``refusal``; so is ``finish_reason: "content_filter"``.
* ``finish_reason: "length"`` cuts a tool call off part way: a call whose
  arguments are not whole JSON is left out of the message and named in
  ``StreamComplete.truncated_tool_calls``; the text before it stays.
* Reasoning model families (``o1``, ``o3``, ``o4``, ``gpt-5``) reject
  ``max_tokens``; they get ``max_completion_tokens`` instead.
* Blocks only Anthropic understands (``RawBlock``: redacted thinking, server
  tool results) and thinking are not sent: Chat Completions has no place for
  them. Citations' text stays; the citations do not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import orjson

from claw_runtime.errors import ProviderConfigError, ProviderStreamError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.models import (
    ContentBlock,
    ImageBlock,
    Message,
    StopReason,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)
from claw_runtime.providers._http import StreamingProvider
from claw_runtime.providers._wire_cache import WireCache
from claw_runtime.providers.base import (
    ModelRequest,
    Provider,
    ProviderFactory,
    ProviderOverrides,
    ProviderSettings,
    StreamComplete,
    StreamEvent,
    StreamTextDelta,
    StreamThinkingDelta,
)

__all__ = ["DEFAULT_MODEL", "OPENAI", "OpenAIProvider", "to_wire_messages"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4.1"
_COMPLETION_TOKENS_FAMILIES = ("o1", "o3", "o4", "gpt-5")
"""Model names (after any ``vendor/`` prefix) that take ``max_completion_tokens``."""


def uses_max_completion_tokens(model: str) -> bool:
    """True for the reasoning families, which reject ``max_tokens``."""
    name = model.rsplit("/", 1)[-1].lower()
    return any(
        name == family or name.startswith((f"{family}-", f"{family}."))
        for family in _COMPLETION_TOKENS_FAMILIES
    )


_STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def _image_url(block: ImageBlock) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": f"data:{block.media_type};base64,{block.data}"},
    }


def _user_content(blocks: list[TextBlock | ImageBlock]) -> str | list[dict[str, Any]]:
    if all(isinstance(b, TextBlock) for b in blocks):
        return "".join(b.text for b in blocks if isinstance(b, TextBlock))
    return [
        {"type": "text", "text": b.text} if isinstance(b, TextBlock) else _image_url(b)
        for b in blocks
    ]


def message_to_wire(message: Message) -> list[dict[str, Any]]:
    """One of our messages as Chat Completions messages (tool results become ``role: tool``)."""
    if message.role == "assistant":
        text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
        entry: dict[str, Any] = {"role": "assistant", "content": text or None}
        calls = [
            {
                "id": b.id,
                "type": "function",
                "function": {"name": b.name, "arguments": orjson.dumps(b.input).decode()},
            }
            for b in message.content
            if isinstance(b, ToolUseBlock)
        ]
        if calls:
            entry["tool_calls"] = calls
        elif not text:
            return []  # nothing this protocol can carry (only thinking or Anthropic raw blocks)
        return [entry]
    wire: list[dict[str, Any]] = []
    pending: list[TextBlock | ImageBlock] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            text = block.text or ("(error)" if block.is_error else "(no output)")
            wire.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": text})
            images = [b for b in block.content if isinstance(b, ImageBlock)]
            pending.extend(images)  # tool messages cannot carry images; the user turn can
        elif isinstance(block, TextBlock | ImageBlock):
            pending.append(block)
    if pending:
        wire.append({"role": "user", "content": _user_content(pending)})
    return wire


def to_wire_messages(
    system: str,
    messages: tuple[Message, ...],
    convert: Callable[[Message], list[dict[str, Any]]] = message_to_wire,
) -> list[dict[str, Any]]:
    """Our conversation in Chat Completions' shape, system prompt first."""
    wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        wire.extend(convert(message))
    return wire


def _each(wire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return wire


def build_body(
    request: ModelRequest, cache: WireCache[list[dict[str, Any]]] | None = None
) -> dict[str, Any]:
    if cache is not None:
        system = [{"role": "system", "content": request.system}] if request.system else []
        messages = [*system, *cache.conversation(request.messages, _each)]
    else:
        messages = to_wire_messages(request.system, request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if uses_max_completion_tokens(request.model):
        body["max_completion_tokens"] = request.max_tokens
    else:
        body["max_tokens"] = request.max_tokens
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                },
            }
            for t in request.tools
        ]
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


@attrs.define(eq=False)
class _Assembly:
    text: list[str] = attrs.field(factory=list)
    refusal: list[str] = attrs.field(factory=list)
    thinking: list[str] = attrs.field(factory=list)
    calls: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    finish_reason: str | None = None
    usage: Usage = Usage()
    model: str = ""
    finished: bool = False

    def complete(self) -> StreamComplete:
        if not self.finished:
            raise ProviderStreamError("the model stream ended before [DONE]")
        if self.finish_reason is None:
            raise ProviderStreamError("the model stream finished without a finish_reason")
        message, truncated = self.message()
        stop_reason = _STOP_REASONS.get(self.finish_reason, "end_turn")
        if self.refusal:
            stop_reason = "refusal"
        elif stop_reason == "end_turn" and message.tool_uses:
            stop_reason = "tool_use"  # "stop" with tool calls: vLLM, Ollama, llama.cpp
        return StreamComplete(
            message=message,
            stop_reason=stop_reason,
            usage=self.usage,
            model=self.model,
            truncated_tool_calls=truncated,
        )

    def message(self) -> tuple[Message, tuple[str, ...]]:
        content: list[ContentBlock] = []
        if self.thinking:
            content.append(ThinkingBlock(thinking="".join(self.thinking)))
        text = "".join(self.text) + "".join(self.refusal)
        if text:
            content.append(TextBlock(text=text))
        truncated: list[str] = []
        for index in sorted(self.calls):
            call = self.calls[index]
            raw = "".join(call["arguments"]) or "{}"
            try:
                arguments = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                if self.finish_reason == "length":
                    truncated.append(call["name"])
                    continue
                raise ProviderStreamError(
                    f"tool call {call['name']} has invalid JSON arguments: {exc}"
                ) from None
            if not isinstance(arguments, dict):
                raise ProviderStreamError(f"tool call {call['name']} arguments are not an object")
            content.append(ToolUseBlock(id=call["id"], name=call["name"], input=arguments))
        return Message(role="assistant", content=tuple(content)), tuple(truncated)


@attrs.define(eq=False)
class OpenAIProvider(StreamingProvider[_Assembly]):
    """Streams from ``POST {base}/chat/completions``."""

    name = "openai"
    key_hint = "OPENAI_API_KEY"
    _wire: WireCache[list[dict[str, Any]]] = attrs.field(factory=lambda: WireCache(message_to_wire))

    def endpoint(self) -> str:
        return f"{(self.settings.base_url or DEFAULT_BASE_URL).rstrip('/')}/chat/completions"

    def headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "text/event-stream"}
        if self.settings.api_key:
            headers["authorization"] = f"Bearer {self.settings.api_key}"
        headers.update(dict(self.settings.extra_headers))
        return headers

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        return build_body(request, self._wire)

    def new_state(self, request: ModelRequest) -> _Assembly:
        return _Assembly(model=request.model)

    def handle(self, data: str, state: _Assembly) -> list[StreamEvent]:
        if data.strip() == "[DONE]":
            state.finished = True
            return []
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProviderStreamError(f"invalid JSON in the model stream: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise ProviderStreamError(f"unexpected data in the model stream: {data[:80]!r}")
        if "error" in chunk:
            error = (
                chunk["error"] if isinstance(chunk["error"], dict) else {"message": chunk["error"]}
            )
            raise ProviderStreamError(
                f"the model stream reported {error.get('type', 'an error')}: "
                f"{error.get('message', '')}"
            )
        state.model = chunk.get("model") or state.model
        usage = chunk.get("usage")
        if usage:
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
            state.usage = Usage(
                input_tokens=(usage.get("prompt_tokens") or 0) - cached,
                output_tokens=usage.get("completion_tokens") or 0,
                cache_read_input_tokens=cached,
            )
        out: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                state.thinking.append(reasoning)
                out.append(StreamThinkingDelta(text=reasoning))
            text = delta.get("content")
            if text:
                state.text.append(text)
                out.append(StreamTextDelta(text=text))
            refusal = delta.get("refusal")
            if refusal:
                state.refusal.append(refusal)
                out.append(StreamTextDelta(text=refusal))
            for piece in delta.get("tool_calls") or ():
                call = state.calls.setdefault(
                    piece.get("index", 0), {"id": "", "name": "", "arguments": []}
                )
                function = piece.get("function") or {}
                call["id"] = piece.get("id") or call["id"]
                call["name"] = function.get("name") or call["name"]
                if function.get("arguments"):
                    call["arguments"].append(function["arguments"])
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]
        return out


def resolve_settings(overrides: ProviderOverrides, environ: Mapping[str, str]) -> ProviderSettings:
    base_url = overrides.base_url or environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    api_key = overrides.api_key or environ.get("OPENAI_API_KEY")
    if not api_key and base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise ProviderConfigError(
            "no OpenAI credentials: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local "
            "OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio)"
        )
    settings = ProviderSettings(
        model=overrides.model or environ.get("OPENAI_MODEL") or DEFAULT_MODEL,
        api_key=api_key,
        base_url=base_url,
    )
    if overrides.retry is not None:
        settings = attrs.evolve(settings, retry=overrides.retry)
    return settings


def _create(settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return OpenAIProvider(settings, http)


OPENAI = ProviderFactory(
    name="openai",
    create=_create,
    resolve_settings=resolve_settings,
    description="OpenAI Chat Completions and compatible servers (OPENAI_API_KEY, OPENAI_BASE_URL)",
)


@hookimpl
def register_providers(register: Callable[[ProviderFactory], None]) -> None:
    register(OPENAI)
