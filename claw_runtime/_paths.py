"""Paths as callers give them: ``str`` or ``PathLike``, ``~`` expanded, resolved."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_path"]


def user_path(value: str | os.PathLike[str]) -> Path:
    """``value`` as an absolute path (``~`` expanded, symlinks and ``..`` resolved).

    A plain function (not inline in async code) because it touches the file
    system: resolving is a blocking call, cheap enough to make once per session.
    """
    return Path(os.path.expanduser(value)).resolve()
