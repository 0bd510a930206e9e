"""How full the context window is: a fast estimate per request, an exact count on demand.

Auto-compaction asks before every request, so the answer must cost next to
nothing. The choice: the model's own last answer already says how big the
conversation was. Its ``usage`` (input tokens, plus cache reads and writes,
plus the tokens it produced, which are now part of the conversation) is the
exact size of everything up to and including that answer, as the provider's
tokenizer counts it. What was appended since (tool results, the next prompt)
is estimated at four characters a token. :class:`TokenGauge` keeps that anchor,
so a turn's estimate walks only the messages added since the last answer.

Without an anchor (the first request of a session, a resumed or just compacted
conversation, a provider that reports no usage) everything is estimated: the
system prompt, the tools' schemas and every message, at four characters a
token. That is a rough count (code and non-English text take more tokens per
character) but it is corrected by the next answer's usage.

An exact count (Anthropic's ``POST /v1/messages/count_tokens``) costs a round
trip, so only ``/context`` asks for it: see :func:`exact_tokens`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import attrs
import orjson

from claw_runtime.models import (
    ContentBlock,
    ImageBlock,
    Message,
    RawBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from claw_runtime.providers.base import ModelRequest

__all__ = [
    "CHARS_PER_TOKEN",
    "TokenCounter",
    "TokenGauge",
    "context_tokens",
    "estimate_message_tokens",
    "estimate_messages_tokens",
    "estimate_text_tokens",
    "estimate_tools_tokens",
    "exact_tokens",
]

CHARS_PER_TOKEN = 4
"""The usual rule of thumb for English prose and code with Claude's and GPT's tokenizers."""

IMAGE_TOKENS = 1_600
"""What an image costs, whatever its bytes: about a 1092x1092 picture (width*height/750)."""

MESSAGE_OVERHEAD = 4
"""Role and framing tokens each message adds."""


def estimate_text_tokens(text: str) -> int:
    """Tokens in ``text``: characters / 4, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


def _block_chars(block: ContentBlock) -> int:
    if isinstance(block, TextBlock):
        return len(block.text)
    if isinstance(block, ToolResultBlock):
        return 16 + sum(
            len(part.text) if isinstance(part, TextBlock) else IMAGE_TOKENS * CHARS_PER_TOKEN
            for part in block.content
        )
    if isinstance(block, ToolUseBlock):
        return 16 + len(block.name) + len(orjson.dumps(block.input))
    if isinstance(block, ThinkingBlock):
        return len(block.thinking)
    if isinstance(block, ImageBlock):
        return IMAGE_TOKENS * CHARS_PER_TOKEN
    if isinstance(block, RawBlock):
        return len(orjson.dumps(block.data))
    return 0


def estimate_message_tokens(message: Message) -> int:
    """Tokens one message adds to a request (its blocks, plus framing)."""
    chars = sum(_block_chars(block) for block in message.content)
    return MESSAGE_OVERHEAD + -(-chars // CHARS_PER_TOKEN)


def estimate_messages_tokens(messages: Iterable[Message]) -> int:
    return sum(estimate_message_tokens(m) for m in messages)


def estimate_tools_tokens(tools: Sequence[ToolSpec]) -> int:
    """Tokens the tools' names, descriptions and JSON schemas take in every request."""
    chars = sum(len(t.name) + len(t.description) + len(orjson.dumps(t.input_schema)) for t in tools)
    return -(-chars // CHARS_PER_TOKEN)


def context_tokens(usage: Usage) -> int:
    """The size of a conversation after the answer whose ``usage`` this is."""
    return (
        usage.input_tokens
        + usage.cache_read_input_tokens
        + usage.cache_creation_input_tokens
        + usage.output_tokens
    )


@attrs.define(eq=False)
class TokenGauge:
    """The conversation's size as of the model's last answer, and what came after it.

    The anchor holds while the message list still starts with the messages it
    was measured on (checked by identity of the last one, since messages are
    immutable values); :meth:`reset` drops it when the conversation is replaced.
    """

    _tokens: int | None = None
    _count: int = 0
    _last: Message | None = None

    def observe(self, messages: Sequence[Message], usage: Usage) -> None:
        """Anchor on ``usage``, the answer just appended to ``messages``."""
        tokens = context_tokens(usage)
        if not messages or tokens - usage.output_tokens <= 0:
            self.reset()  # a provider that reports no usage: estimate everything
            return
        self._tokens, self._count, self._last = tokens, len(messages), messages[-1]

    def reset(self) -> None:
        self._tokens, self._count, self._last = None, 0, None

    def anchored(self, messages: Sequence[Message]) -> bool:
        count = self._count
        return (
            self._tokens is not None
            and 0 < count <= len(messages)
            and messages[count - 1] is self._last
        )

    def estimate(self, messages: Sequence[Message], *, fixed: int) -> int:
        """Tokens the next request holds: the anchor plus the messages added since it,
        or, without an anchor, ``fixed`` (system prompt and tools) plus every message."""
        if self._tokens is not None and self.anchored(messages):
            return self._tokens + estimate_messages_tokens(messages[self._count :])
        return fixed + estimate_messages_tokens(messages)


@runtime_checkable
class TokenCounter(Protocol):
    """A provider that can count a request's input tokens exactly (an API endpoint)."""

    async def count_tokens(self, request: ModelRequest) -> int:
        """The request's input tokens as the model would bill them.

        Raises:
            ProviderError: the endpoint failed or is missing.
        """
        ...


async def exact_tokens(provider: object, request: ModelRequest) -> int | None:
    """The provider's exact count for ``request``, or None when it has no way to count.

    Raises:
        ProviderError: the provider has an endpoint and it failed.
    """
    if not isinstance(provider, TokenCounter):
        return None
    return await provider.count_tokens(request)
