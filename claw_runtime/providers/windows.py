"""How many tokens each model's context window holds, by model-name prefix.

Auto-compaction and ``/context`` measure the conversation against this. The
table is per model family, matched by the longest prefix of the model name (as
prices are, see :mod:`claw_runtime.providers.pricing`); a model it does not know
gets :data:`DEFAULT_CONTEXT_WINDOW`. The ``compaction.contextWindow`` setting
overrides it for whatever model the session uses (a gateway's model, a 1M-token
beta, or a small window to compact early).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CONTEXT_WINDOWS", "DEFAULT_CONTEXT_WINDOW", "context_window"]

DEFAULT_CONTEXT_WINDOW = 200_000
"""Every current Claude model's window, and a safe guess for an unknown model."""

CONTEXT_WINDOWS: Mapping[str, int] = {
    "claude-": 200_000,
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "o4-mini": 200_000,
    "o3": 200_000,
    "o1": 200_000,
}
"""Built-in windows, matched by the longest prefix of the model name."""


def context_window(model: str, override: int | None = None) -> int:
    """The window of ``model`` in tokens: ``override`` (settings) first, then the table."""
    if override is not None:
        return override
    matches = [prefix for prefix in CONTEXT_WINDOWS if model.startswith(prefix)]
    if not matches:
        return DEFAULT_CONTEXT_WINDOW
    return CONTEXT_WINDOWS[max(matches, key=len)]
