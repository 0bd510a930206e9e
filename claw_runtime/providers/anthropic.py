"""The Anthropic Messages API, streamed over the runtime's httpx client.

Registered as the ``providers.anthropic`` built-in plugin. Reads
``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``, sent as a bearer token),
``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_MODEL``. Prompt caching: the system
prompt and the last tool definition carry ``cache_control`` breakpoints, so a
long session pays for its stable prefix once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import orjson

from claw_runtime.errors import ProviderConfigError, ProviderStreamError
from claw_runtime.hookspecs import hookimpl
from claw_runtime.models import (
    ContentBlock,
    Message,
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

__all__ = ["ANTHROPIC", "DEFAULT_MODEL", "AnthropicProvider", "to_wire_messages"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-5"
API_VERSION = "2023-06-01"
_CACHE = {"type": "ephemeral"}


def _block_to_wire(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        return {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": [_block_to_wire(b) for b in block.content],
            "is_error": block.is_error,
        }
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
    }


def message_to_wire(message: Message) -> dict[str, Any]:
    return {"role": message.role, "content": [_block_to_wire(b) for b in message.content]}


def to_wire_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our messages in the Messages API's shape."""
    return [message_to_wire(m) for m in messages]


def build_body(
    request: ModelRequest, cache: WireCache[dict[str, Any]] | None = None
) -> dict[str, Any]:
    convert = cache.get if cache is not None else message_to_wire
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": True,
        "messages": [convert(m) for m in request.messages],
    }
    if request.system:
        body["system"] = [{"type": "text", "text": request.system, "cache_control": _CACHE}]
    if request.tools:
        tools = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
        tools[-1]["cache_control"] = _CACHE
        body["tools"] = tools
    if request.thinking_budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body


@attrs.define(eq=False)
class _Assembly:
    """The message being streamed: blocks by index, usage, stop reason."""

    blocks: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    usage: dict[str, int] = attrs.field(factory=dict)
    stop_reason: Any = None
    model: str = ""
    finished: bool = False

    def message(self) -> Message:
        content: list[ContentBlock] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            kind = block["type"]
            if kind == "text":
                content.append(TextBlock(text=block["text"]))
            elif kind == "thinking":
                content.append(
                    ThinkingBlock(thinking=block["thinking"], signature=block["signature"])
                )
            elif kind == "tool_use":
                content.append(
                    ToolUseBlock(id=block["id"], name=block["name"], input=block["input"])
                )
        return Message(role="assistant", content=tuple(content))

    def complete(self) -> StreamComplete:
        if not self.finished:
            raise ProviderStreamError("the model stream ended before message_stop")
        return StreamComplete(
            message=self.message(),
            stop_reason=self.stop_reason,
            usage=self.usage_value(),
            model=self.model,
        )

    def usage_value(self) -> Usage:
        return Usage(
            input_tokens=self.usage.get("input_tokens", 0) or 0,
            output_tokens=self.usage.get("output_tokens", 0) or 0,
            cache_read_input_tokens=self.usage.get("cache_read_input_tokens", 0) or 0,
            cache_creation_input_tokens=self.usage.get("cache_creation_input_tokens", 0) or 0,
        )


def _finish_tool_json(block: dict[str, Any], truncated_ok: bool) -> None:
    raw = block.pop("json", "")
    if not raw:
        block["input"] = {}
        return
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if truncated_ok:
            block["input"] = {}
            return
        raise ProviderStreamError(
            f"tool call {block['name']} has invalid JSON input: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise ProviderStreamError(f"tool call {block['name']} input is not a JSON object")
    block["input"] = value


@attrs.define(eq=False)
class AnthropicProvider(StreamingProvider[_Assembly]):
    """Streams from ``POST {base}/v1/messages``."""

    name = "anthropic"
    key_hint = "ANTHROPIC_API_KEY"
    _wire: WireCache[dict[str, Any]] = attrs.field(factory=lambda: WireCache(message_to_wire))

    def endpoint(self) -> str:
        return f"{(self.settings.base_url or DEFAULT_BASE_URL).rstrip('/')}/v1/messages"

    def headers(self) -> dict[str, str]:
        headers = {
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream",
        }
        if self.settings.auth_token:
            headers["authorization"] = f"Bearer {self.settings.auth_token}"
        elif self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        headers.update(dict(self.settings.extra_headers))
        return headers

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        return build_body(request, self._wire)

    def new_state(self, request: ModelRequest) -> _Assembly:
        return _Assembly(model=request.model)

    def handle(self, data: str, state: _Assembly) -> list[StreamEvent]:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProviderStreamError(f"invalid JSON in the model stream: {data[:80]!r}") from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "content_block_delta":
            block = state.blocks.get(event.get("index", -1))
            delta = event.get("delta") or {}
            if block is None:
                raise ProviderStreamError("a delta arrived for a block that never started")
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] += delta["text"]
                return [StreamTextDelta(text=delta["text"])]
            if dtype == "input_json_delta":
                block["json"] = block.get("json", "") + delta["partial_json"]
            elif dtype == "thinking_delta":
                block["thinking"] += delta["thinking"]
                return [StreamThinkingDelta(text=delta["thinking"])]
            elif dtype == "signature_delta":
                block["signature"] += delta["signature"]
            return []
        if kind == "content_block_start":
            start = dict(event["content_block"])
            if start.get("type") == "tool_use":
                start["input"] = {}
            start.setdefault("text", "")
            start.setdefault("thinking", "")
            start.setdefault("signature", "")
            state.blocks[event["index"]] = start
        elif kind == "content_block_stop":
            block = state.blocks.get(event.get("index", -1))
            if block is not None and block.get("type") == "tool_use":
                _finish_tool_json(block, truncated_ok=False)
        elif kind == "message_start":
            message = event.get("message") or {}
            state.model = message.get("model") or state.model
            state.usage.update(message.get("usage") or {})
        elif kind == "message_delta":
            state.stop_reason = (event.get("delta") or {}).get("stop_reason")
            state.usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
        elif kind == "message_stop":
            for block in state.blocks.values():  # cut off by max_tokens mid tool call
                if block.get("type") == "tool_use" and "json" in block:
                    _finish_tool_json(block, truncated_ok=state.stop_reason == "max_tokens")
            state.finished = True
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderStreamError(
                f"the model stream reported {error.get('type', 'an error')}: "
                f"{error.get('message', '')}"
            )
        elif kind is None:
            raise ProviderStreamError(f"unexpected data in the model stream: {data[:80]!r}")
        # ping and event types added to the API later are ignored, as the API asks.
        return []


def resolve_settings(overrides: ProviderOverrides, environ: Mapping[str, str]) -> ProviderSettings:
    api_key = overrides.api_key or environ.get("ANTHROPIC_API_KEY")
    auth_token = environ.get("ANTHROPIC_AUTH_TOKEN")
    if not api_key and not auth_token:
        raise ProviderConfigError(
            "no Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN for a "
            "bearer token), or use another provider, e.g. --provider openai with OPENAI_API_KEY"
        )
    settings = ProviderSettings(
        model=overrides.model or environ.get("ANTHROPIC_MODEL") or DEFAULT_MODEL,
        api_key=api_key,
        auth_token=auth_token,
        base_url=overrides.base_url or environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
    )
    if overrides.retry is not None:
        settings = attrs.evolve(settings, retry=overrides.retry)
    return settings


def _create(settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return AnthropicProvider(settings, http)


ANTHROPIC = ProviderFactory(
    name="anthropic",
    create=_create,
    resolve_settings=resolve_settings,
    description="Anthropic Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)",
)


@hookimpl
def register_providers(register: Callable[[ProviderFactory], None]) -> None:
    register(ANTHROPIC)
