"""Which project directories the user trusts, and what an untrusted project may not say.

Users point claw at repositories they did not write. A repository's own
settings files (``.claude/settings*.json`` and ``.claw/settings*.json`` in the
project) are read either way, but until the user trusts the directory
everything in them that would *widen* what claw may do is dropped, with one
warning per file naming what was ignored. Deny and ask rules, and anything
else that narrows, always apply.

Trust is the user's word, never the project's: it is given per directory with
``--trust``, ``claw trust [DIR]``, the question claw asks at a terminal, or the
``trustedDirectories`` list in *user* settings, and it is remembered in
``~/.claw/trusted-projects.json`` (0600). Trusting a directory trusts what is
below it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from claw_runtime.errors import ConfigError

__all__ = ["TrustStore", "restrict_untrusted", "trust_file"]


def trust_file(home: Path, environ: Mapping[str, str]) -> Path:
    """Where trust is remembered: user-level state, never inside a project."""
    return Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw") / "trusted-projects.json"


def _covers(root: Path, directory: Path) -> bool:
    return directory == root or root in directory.parents


def _covers_safely(root: Path, directory: Path) -> bool:
    """:func:`_covers` for a root from a file; one that cannot be resolved covers nothing."""
    try:
        return _covers(root.expanduser().resolve(), directory)
    except (OSError, RuntimeError, ValueError):  # unknown ~user, a NUL byte, a symlink loop
        return False


@attrs.define(eq=False)
class TrustStore:
    """The remembered list of trusted directories (a JSON list of absolute paths)."""

    path: Path

    def roots(self) -> list[Path]:
        """The trusted roots; a missing file is an empty list.

        Raises:
            ConfigError: the file exists but is not a JSON list of paths (it is
                not guessed at: a corrupt trust file trusts nothing).
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return []  # no file, or a file where its directory should be: nothing trusted yet
        except UnicodeDecodeError:
            text = "\x00"  # not UTF-8: reported below as not a list
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot be read ({exc.strerror or exc}); trusting nothing"
            ) from None
        try:
            data = json.loads(text) if text.strip() else []
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, list) or not all(isinstance(p, str) for p in data):
            raise ConfigError(
                f"{self.path}: not a JSON list of directories; trusting nothing. "
                "Fix or delete the file, then run claw trust DIR."
            )
        return [Path(p) for p in data]

    def is_trusted(self, directory: Path, extra_roots: Iterable[Path] = ()) -> bool:
        """Whether ``directory`` or a directory above it is trusted."""
        resolved = directory.resolve()
        try:
            roots = self.roots()
        except ConfigError:
            roots = []
        return any(_covers_safely(root, resolved) for root in [*roots, *extra_roots])

    def trust(self, directory: Path) -> None:
        """Remember ``directory`` as trusted.

        Raises:
            ConfigError: the file cannot be written (one line, with the reason).
        """
        roots = {str(p) for p in self._roots_or_empty()}
        roots.add(str(directory.resolve()))
        self._write(sorted(roots))

    def revoke(self, directory: Path) -> bool:
        """Forget ``directory``; True if it was in the list."""
        resolved = str(directory.resolve())
        roots = [str(p) for p in self._roots_or_empty()]
        if resolved not in roots:
            return False
        self._write([p for p in roots if p != resolved])
        return True

    def _roots_or_empty(self) -> list[Path]:
        try:
            return self.roots()
        except ConfigError:
            return []

    def _write(self, roots: list[str]) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(roots, indent=2) + "\n")
            os.replace(temporary, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise ConfigError(
                f"cannot remember trust in {self.path}: {exc.strerror or exc}; "
                "make that path a writable file, or list the directory under "
                "trustedDirectories in your user settings"
            ) from None


# --------------------------------------------------------------------------- what is dropped

_WIDENING_TOP_KEYS = {
    "env": "env",
    "hooks": "hooks",
    "providers": "providers",
    "provider": "provider",
    "apiKeyHelper": "apiKeyHelper",
    "awsAuthRefresh": "awsAuthRefresh",
    "awsCredentialExport": "awsCredentialExport",
    "otelHeadersHelper": "otelHeadersHelper",
    "statusLine": "statusLine",
    "mcpServers": "mcpServers",
    "enableAllProjectMcpServers": "enableAllProjectMcpServers",
    "enabledMcpjsonServers": "enabledMcpjsonServers",
    "enabledPlugins": "enabledPlugins",
    "trustedDirectories": "trustedDirectories",
}
"""Top-level keys an untrusted project may not set at all: each runs a command,
sends traffic or credentials somewhere, or turns on code."""

_NARROWING_MODES = ("default", "plan")


def restrict_untrusted(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A project settings object with everything that widens power removed.

    Returns:
        The narrowed object and the key paths that were dropped, in file order.
    """
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in data.items():
        if key in _WIDENING_TOP_KEYS:
            dropped.append(_WIDENING_TOP_KEYS[key])
        elif key == "permissions" and isinstance(value, dict):
            kept[key] = _narrow_permissions(value, dropped)
        elif key == "sandbox" and isinstance(value, dict):
            kept[key] = _narrow_sandbox(value, dropped)
        elif key == "hookFailure" and value != "closed":
            dropped.append("hookFailure")
        elif key == "logging" and isinstance(value, dict) and "jsonFile" in value:
            dropped.append("logging.jsonFile")
            kept[key] = {k: v for k, v in value.items() if k != "jsonFile"}
        else:
            kept[key] = value
    return kept, dropped


def _narrow_permissions(value: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    kept = dict(value)
    for key in ("allow", "additionalDirectories"):
        if kept.get(key):
            dropped.append(f"permissions.{key}")
        kept.pop(key, None)
    mode = kept.get("defaultMode")
    if mode is not None and mode not in _NARROWING_MODES:
        dropped.append(f"permissions.defaultMode ({mode})")
        kept.pop("defaultMode")
    return kept


def _narrow_sandbox(value: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """Only ``enabled: true`` survives: a project may turn the sandbox on, never relax it."""
    kept: dict[str, Any] = {}
    for key, setting in value.items():
        if key == "enabled" and setting is True:
            kept[key] = True
        elif key == "network" and setting is False:
            kept[key] = False
        else:
            dropped.append(f"sandbox.{key}")
    return kept
