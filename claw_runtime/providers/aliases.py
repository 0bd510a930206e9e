"""Model aliases as Claude Code accepts them: ``opus``, ``sonnet``, ``haiku``...

``claw --model sonnet`` and ``"model": "opus"`` in settings people already have
resolve to a current full model name from :data:`MODEL_ALIASES`, which the
``modelAliases`` settings key extends or overrides (for a newer model, or a
gateway's own names). A name that is not an alias passes through unchanged, so
full names, dated snapshots and other providers' models work as given.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MODEL_ALIASES", "resolve_model_alias"]

MODEL_ALIASES: Mapping[str, str] = {
    "opus": "claude-opus-4-5",
    "sonnet": "claude-sonnet-4-5",
    "haiku": "claude-haiku-4-5",
    "default": "claude-sonnet-4-5",
    # Claude Code's "opus in plan mode, sonnet otherwise": claw has one model per
    # run, and a run that plans and edits is better served by the stronger one.
    "opusplan": "claude-opus-4-5",
    "sonnet[1m]": "claude-sonnet-4-5",
}


def resolve_model_alias(name: str, overrides: Mapping[str, str] | None = None) -> str:
    """The full model name for ``name`` (``overrides`` first), or ``name`` itself."""
    key = name.strip()
    if overrides and key in overrides:
        return overrides[key]
    return MODEL_ALIASES.get(key.lower(), key)
