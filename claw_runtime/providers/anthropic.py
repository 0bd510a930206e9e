"""The Anthropic Messages API, streamed over the runtime's httpx client.

Registered as the ``providers.anthropic`` built-in plugin. Reads
``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``, sent as a bearer token),
``ANTHROPIC_BASE_URL`` and ``ANTHROPIC_MODEL``.

Every block the model returns goes back unchanged in the next request:
``thinking`` with its ``signature``, ``redacted_thinking``, server-side tool
blocks (``server_tool_use``, ``web_search_tool_result``...), ``citations`` on
text, and block types added to the API later (kept as :class:`RawBlock`). The
API rejects a tool-use turn whose thinking went missing, so nothing is dropped
except a tool call ``max_tokens`` cut off (see ``StreamComplete.truncated_tool_calls``).

Prompt caching (on unless ``DISABLE_PROMPT_CACHING=1`` or
``ProviderOverrides.prompt_caching=False``): ``cache_control`` breakpoints on the
last tool definition, the system prompt and the last two user messages, four
at most, so each turn reads the previous turn's prefix from the cache and
writes only what is new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
import orjson
import trio

from claw_runtime.errors import ProviderConfigError, ProviderStreamError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.models import (
    ContentBlock,
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolSpec,
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
from claw_runtime.providers.retry import classify_http_error

__all__ = ["ANTHROPIC", "DEFAULT_MODEL", "AnthropicProvider", "to_wire_messages"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-5"
API_VERSION = "2023-06-01"
_CACHE = {"type": "ephemeral"}
MAX_CACHE_BREAKPOINTS = 4
"""The API rejects a request with more ``cache_control`` markers than this."""
_UNCACHEABLE = frozenset({"thinking", "redacted_thinking"})


def _block_to_wire(block: ContentBlock) -> dict[str, Any] | None:
    """A block in the API's shape; None for one that must not be sent."""
    if isinstance(block, TextBlock):
        if block.citations is not None:
            return {"type": "text", "text": block.text, "citations": list(block.citations)}
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        return {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": [w for b in block.content if (w := _block_to_wire(b)) is not None],
            "is_error": block.is_error,
        }
    if isinstance(block, ThinkingBlock):
        if not block.signature:
            # Unsigned thinking (another provider's reasoning, or thinking cut off by
            # max_tokens before its signature) would be rejected: leave it out.
            return None
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, RawBlock):
        # Sent back exactly as received; another provider's raw blocks mean nothing here.
        return dict(block.data) if block.provider == "anthropic" else None
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
    }


def message_to_wire(message: Message) -> dict[str, Any]:
    content = [w for b in message.content if (w := _block_to_wire(b)) is not None]
    return {"role": message.role, "content": content}


def to_wire_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our messages in the Messages API's shape (messages left with no content are skipped).

    An assistant message can be empty when max_tokens cut off its only block, a
    tool call; the API combines the consecutive user turns that leaves.
    """
    return [w for m in messages if (w := message_to_wire(m))["content"]]


def _sendable(wire: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """A converted message as the items a request carries: none if it has no content."""
    return (wire,) if wire["content"] else ()


def _with_breakpoint(message: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of ``message`` whose last cacheable block carries ``cache_control``."""
    content = message["content"]
    for i in range(len(content) - 1, -1, -1):
        block = content[i]
        if block.get("type") in _UNCACHEABLE:
            continue
        if block.get("type") == "text" and not block.get("text"):
            continue  # the API refuses cache_control on empty text
        marked = [*content[:i], {**block, "cache_control": _CACHE}, *content[i + 1 :]]
        return {**message, "content": marked}
    return None


def _breakpoints(messages: list[dict[str, Any]], budget: int) -> list[tuple[int, dict[str, Any]]]:
    """Which of the newest user messages (at most ``budget``) get a breakpoint: index and copy."""
    found = []
    for i in range(len(messages) - 1, -1, -1):
        if budget <= 0:
            break
        if messages[i]["role"] != "user":
            continue
        marked = _with_breakpoint(messages[i])
        if marked is not None:
            found.append((i, marked))
            budget -= 1
    return found


def add_message_breakpoints(messages: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Mark the newest user messages (at most ``budget``, newest first) as cache breakpoints.

    The newest one makes this request's whole prefix a cache write; the one
    before it was the newest of the previous request, so its prefix is read
    from the cache. Converted messages are shared (see ``WireCache``), so marked
    ones are copies.
    """
    out = list(messages)
    for i, marked in _breakpoints(out, budget):
        out[i] = marked
    return out


def _around_messages(
    request: ModelRequest, prompt_caching: bool
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The body's fields before ``messages`` and after it, and the breakpoints left."""
    budget = MAX_CACHE_BREAKPOINTS
    head: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": True,
    }
    if request.system:
        system: dict[str, Any] = {"type": "text", "text": request.system}
        if prompt_caching:
            system["cache_control"] = _CACHE
            budget -= 1
        head["system"] = [system]
    if request.tools:
        tools = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
        if prompt_caching:
            tools[-1]["cache_control"] = _CACHE
            budget -= 1
        head["tools"] = tools
    tail: dict[str, Any] = {}
    if request.thinking_budget:
        tail["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
    if request.temperature is not None:
        tail["temperature"] = request.temperature
    return head, tail, budget


def build_body(
    request: ModelRequest,
    cache: WireCache[dict[str, Any]] | None = None,
    *,
    prompt_caching: bool = True,
) -> dict[str, Any]:
    """The request body; with ``prompt_caching``, up to four cache breakpoints.

    Breakpoints, in prefix order: the last tool definition, the system prompt,
    and the last two user messages (this turn's and the previous turn's).
    """
    if cache is not None:
        messages = cache.conversation(request.messages, _sendable)
    else:
        messages = to_wire_messages(request.messages)
    head, tail, budget = _around_messages(request, prompt_caching)
    if prompt_caching:
        messages = add_message_breakpoints(messages, min(2, budget))
    return {**head, "messages": messages, **tail}


class EncodedHead:
    """The JSON of the body before ``messages`` (model, system prompt, the tool
    definitions: about 20 KB), kept from one request to the next while it is
    the same: a conversation's turns repeat it, and building and encoding it
    again cost about as much as the rest of the body."""

    __slots__ = ("budget", "json", "key", "tail", "tools")

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.tools: tuple[ToolSpec, ...] | None = None
        self.json = b""
        self.tail = b""
        self.budget = 0

    def of(self, request: ModelRequest, prompt_caching: bool) -> tuple[bytes, bytes, int]:
        """The head's JSON without its closing brace, the tail's fields, breakpoints left."""
        key = (
            request.model,
            request.max_tokens,
            request.system,
            request.thinking_budget,
            request.temperature,
            prompt_caching,
        )
        # The tools by identity: the loop keeps one tuple of specs per agent.
        if request.tools is not self.tools or key != self.key:
            head, tail, self.budget = _around_messages(request, prompt_caching)
            self.json = orjson.dumps(head)[:-1]
            self.tail = orjson.dumps(tail)[1:-1] if tail else b""
            self.key, self.tools = key, request.tools
        return self.json, self.tail, self.budget


def encode_body(
    request: ModelRequest,
    cache: WireCache[dict[str, Any]],
    *,
    prompt_caching: bool = True,
    heads: EncodedHead | None = None,
) -> bytes:
    """``orjson.dumps(build_body(...))`` byte for byte, joined from each message's JSON.

    The JSON of a message is made once (``WireCache.encoded_conversation``), so
    a turn encodes its new messages and the few marked as breakpoints, not the
    whole conversation again; with ``heads``, the fields before the messages
    are encoded again only when they change.
    """
    messages, encoded = cache.encoded_conversation(request.messages, _sendable)
    head, tail, budget = (heads or EncodedHead()).of(request, prompt_caching)
    if prompt_caching:
        for i, marked in _breakpoints(messages, min(2, budget)):
            encoded[i] = orjson.dumps(marked)
    # One join of every piece, commas between the messages: late in a long
    # conversation the body is 200 KB, and each buffer that size is fresh memory
    # from the system (page faults) as the body grows past the last one.
    messages_json = [b","] * (2 * len(encoded) - 1) if encoded else []
    messages_json[::2] = encoded
    parts = [head, b',"messages":[', *messages_json, b"]"]
    if tail:
        parts += [b",", tail]
    parts.append(b"}")
    return b"".join(parts)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


@attrs.define(eq=False)
class _Assembly:
    """The message being streamed: blocks by index (as the API sent them), usage, stop reason.

    Each block is the ``content_block_start`` object with its deltas applied, so
    a block of a type this module does not know is still whole at the end.
    """

    blocks: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    json: dict[int, list[str]] = attrs.field(factory=dict)
    usage: dict[str, Any] = attrs.field(factory=dict)
    stop_reason: Any = None
    model: str = ""
    finished: bool = False

    def message(self) -> tuple[Message, tuple[str, ...]]:
        """The message, and the names of tool calls max_tokens cut off (left out of it)."""
        content: list[ContentBlock] = []
        truncated: list[str] = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if index in self.json:
                value = _parse_input(block, "".join(self.json[index]))
                if value is None:
                    if self.stop_reason != "max_tokens":
                        raise ProviderStreamError(
                            f"tool call {block.get('name')} has invalid JSON input"
                        )
                    truncated.append(str(block.get("name", "")))
                    continue
                block = {**block, "input": value}
            kind = block.get("type")
            if kind == "text":
                content.append(TextBlock(text=block["text"], citations=block.get("citations")))
            elif kind == "thinking":
                content.append(
                    ThinkingBlock(
                        thinking=block.get("thinking", ""), signature=block.get("signature", "")
                    )
                )
            elif kind == "tool_use":
                content.append(
                    ToolUseBlock(id=block["id"], name=block["name"], input=block.get("input", {}))
                )
            else:
                content.append(RawBlock(data=block, provider="anthropic"))
        return Message(role="assistant", content=tuple(content)), tuple(truncated)

    def complete(self) -> StreamComplete:
        if not self.finished:
            raise ProviderStreamError("the model stream ended before message_stop")
        message, truncated = self.message()
        return StreamComplete(
            message=message,
            stop_reason=self.stop_reason,
            usage=self.usage_value(),
            model=self.model,
            truncated_tool_calls=truncated,
        )

    def usage_value(self) -> Usage:
        return Usage(
            input_tokens=_int(self.usage.get("input_tokens")),
            output_tokens=_int(self.usage.get("output_tokens")),
            cache_read_input_tokens=_int(self.usage.get("cache_read_input_tokens")),
            cache_creation_input_tokens=_int(self.usage.get("cache_creation_input_tokens")),
        )


def _parse_input(block: dict[str, Any], raw: str) -> dict[str, Any] | None:
    """The tool input the deltas spelled; None if they stopped part way."""
    if not raw:
        start = block.get("input")
        return dict(start) if isinstance(start, dict) else {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        raise ProviderStreamError(f"tool call {block.get('name')} input is not a JSON object")
    return value


def _apply_delta(block: dict[str, Any], delta: dict[str, Any]) -> None:
    """Fold a delta of a kind this module has no special case for into its block.

    Strings are appended to strings and lists extended, as every documented
    delta works; anything else replaces the field.
    """
    for key, value in delta.items():
        if key == "type":
            continue
        current = block.get(key)
        if isinstance(current, str) and isinstance(value, str):
            block[key] = current + value
        elif isinstance(current, list) and isinstance(value, list):
            block[key] = [*current, *value]
        else:
            block[key] = value


@attrs.define(eq=False)
class AnthropicProvider(StreamingProvider[_Assembly]):
    """Streams from ``POST {base}/v1/messages``."""

    name = "anthropic"
    key_hint = "ANTHROPIC_API_KEY"
    _wire: WireCache[dict[str, Any]] = attrs.field(factory=lambda: WireCache(message_to_wire))
    _heads: EncodedHead = attrs.field(factory=EncodedHead)

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
        return build_body(request, self._wire, prompt_caching=self.settings.prompt_caching)

    def encode_body(self, request: ModelRequest) -> bytes:
        return encode_body(
            request, self._wire, prompt_caching=self.settings.prompt_caching, heads=self._heads
        )

    def new_state(self, request: ModelRequest) -> _Assembly:
        return _Assembly(model=request.model)

    async def count_tokens(self, request: ModelRequest) -> int:
        """The request's input tokens, exactly: ``POST /v1/messages/count_tokens``.

        One round trip, no retries (``/context`` asks; the loop never does).

        Raises:
            ProviderError: the endpoint answered with an error or something unreadable.
        """
        body = build_body(request, prompt_caching=False)
        for key in ("max_tokens", "stream", "temperature"):
            body.pop(key, None)
        headers = {**self.headers(), "accept": "application/json"}
        try:
            with trio.fail_after(self.settings.retry.connect_timeout_s + 30):
                r = await self.http.post(
                    f"{self.endpoint()}/count_tokens", json=body, headers=headers
                )
        except (httpx.HTTPError, trio.TooSlowError) as exc:
            raise ProviderStreamError(
                f"counting tokens failed: {exc or type(exc).__name__}"
            ) from exc
        if r.status_code != 200:
            raise classify_http_error(
                r.status_code, r.text, r.headers, provider=self.name, key_hint=self.key_hint
            )
        try:
            count = orjson.loads(r.content).get("input_tokens")
        except (orjson.JSONDecodeError, AttributeError):
            count = None
        if not isinstance(count, int):
            raise ProviderStreamError("counting tokens: the answer has no input_tokens")
        return count

    def handle(self, data: str, state: _Assembly) -> list[StreamEvent]:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProviderStreamError(f"invalid JSON in the model stream: {data[:80]!r}") from None
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "content_block_delta":
            index = event.get("index", -1)
            block = state.blocks.get(index)
            delta = event.get("delta") or {}
            if block is None:
                raise ProviderStreamError("a delta arrived for a block that never started")
            dtype = delta.get("type")
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
                return [StreamTextDelta(text=delta["text"])]
            if dtype == "input_json_delta":
                state.json.setdefault(index, []).append(delta.get("partial_json", ""))
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
                return [StreamThinkingDelta(text=delta["thinking"])]
            elif dtype == "signature_delta":
                block["signature"] = block.get("signature", "") + delta["signature"]
            elif dtype == "citations_delta":
                block["citations"] = [*(block.get("citations") or ()), delta["citation"]]
            else:
                _apply_delta(block, delta)
            return []
        if kind == "content_block_start":
            # Kept as sent: nothing is added, so an unknown block goes back as it came.
            state.blocks[event["index"]] = dict(event["content_block"])
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
            state.finished = True
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderStreamError(
                f"the model stream reported {error.get('type', 'an error')}: "
                f"{error.get('message', '')}"
            )
        elif kind is None:
            raise ProviderStreamError(f"unexpected data in the model stream: {data[:80]!r}")
        # content_block_stop, ping and event types added to the API later need nothing.
        return []


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


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
        prompt_caching=(
            overrides.prompt_caching
            if overrides.prompt_caching is not None
            else not _truthy(environ.get("DISABLE_PROMPT_CACHING"))
        ),
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
