"""What a model call costs: a price table matched by model-name prefix.

Prices are USD per million tokens, as the providers publish them; settings may
override or add entries (``"prices": {"my-model": {"input": 1, "output": 2}}``).
An unknown model costs 0.0, and :func:`price_for` returns None for it, so
callers can say "cost unknown" rather than "free".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import attrs

from claw_runtime.models import Usage

__all__ = ["PRICES", "ModelPrice", "cost_usd", "price_for"]


@attrs.frozen(kw_only=True)
class ModelPrice:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float


def _anthropic(input: float, output: float) -> ModelPrice:
    # Anthropic: 5-minute cache writes cost 1.25x input, cache reads 0.1x.
    return ModelPrice(input=input, output=output, cache_write=input * 1.25, cache_read=input * 0.1)


def _openai(input: float, output: float, cached: float) -> ModelPrice:
    # OpenAI bills no separate cache write; cached input is discounted.
    return ModelPrice(input=input, output=output, cache_write=input, cache_read=cached)


PRICES: dict[str, ModelPrice] = {
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4": _anthropic(15.0, 75.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-3-7-sonnet": _anthropic(3.0, 15.0),
    "claude-3-5-sonnet": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.8, 4.0),
    "claude-3-haiku": _anthropic(0.25, 1.25),
    "gpt-5-mini": _openai(0.25, 2.0, 0.025),
    "gpt-5-nano": _openai(0.05, 0.4, 0.005),
    "gpt-5": _openai(1.25, 10.0, 0.125),
    "gpt-4.1-mini": _openai(0.4, 1.6, 0.1),
    "gpt-4.1-nano": _openai(0.1, 0.4, 0.025),
    "gpt-4.1": _openai(2.0, 8.0, 0.5),
    "gpt-4o-mini": _openai(0.15, 0.6, 0.075),
    "gpt-4o": _openai(2.5, 10.0, 1.25),
    "o4-mini": _openai(1.1, 4.4, 0.275),
    "o3-mini": _openai(1.1, 4.4, 0.55),
    "o3": _openai(2.0, 8.0, 0.5),
}
"""Built-in prices, matched by the longest prefix of the model name."""


def price_for(model: str, overrides: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of ``model``: settings first, then the table; longest prefix wins."""
    if overrides:
        found = _longest_prefix(model, overrides)
        if found is not None:
            return found
    return _table_price(model)


def _longest_prefix(model: str, table: Mapping[str, ModelPrice]) -> ModelPrice | None:
    matches = [prefix for prefix in table if model.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


@functools.lru_cache(maxsize=256)
def _table_price(model: str) -> ModelPrice | None:
    """The built-in table's price (looked up once per model name: every turn asks)."""
    return _longest_prefix(model, PRICES)


def cost_usd(model: str, usage: Usage, overrides: Mapping[str, ModelPrice] | None = None) -> float:
    """What ``usage`` of ``model`` cost in USD (0.0 for an unknown model)."""
    price = price_for(model, overrides)
    if price is None:
        return 0.0
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_input_tokens * price.cache_write
        + usage.cache_read_input_tokens * price.cache_read
    ) / 1_000_000
