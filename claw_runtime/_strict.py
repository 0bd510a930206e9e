"""A cattrs converter that refuses what a lenient one would coerce.

cattrs by default calls ``int("5")`` and ``bool("false")`` (which is True) and
turns the string ``"Bash"`` into the list ``["B", "a", "s", "h"]``. Input from
a model or a settings file should be told it has the wrong type instead. Tool
inputs and settings both build their converter here.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import cattrs

__all__ = ["make_strict_converter"]

_LABELS = {str: "a string", int: "an integer", float: "a number"}


def _strict(kind: type, label: str, show: Callable[[Any], str]) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise TypeError(f"expected {label}, got {show(value)}")
        return value

    return structure


def _is_list(hint: Any) -> bool:
    origin: Any = typing.get_origin(hint)
    return origin is list


def _strict_list(conv: cattrs.Converter, hint: Any) -> Any:
    (item,) = typing.get_args(hint) or (Any,)

    def structure(value: Any, _: Any) -> list[Any]:
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return [conv.structure(v, item) for v in value]

    return structure


def make_strict_converter(*, show: Callable[[Any], str], bool_label: str) -> cattrs.Converter:
    """A converter with strict primitives and lists, forbidding unknown keys.

    Args:
        show: how a wrong value appears in the error (JSON for settings, repr for tools).
        bool_label: what a boolean is called in the error.
    """
    conv = cattrs.Converter(forbid_extra_keys=True)
    for kind, label in _LABELS.items():
        conv.register_structure_hook(kind, _strict(kind, label, show))
    conv.register_structure_hook(bool, _strict(bool, bool_label, show))
    conv.register_structure_hook_factory(_is_list, lambda hint: _strict_list(conv, hint))
    return conv
