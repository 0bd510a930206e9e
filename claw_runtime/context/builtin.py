"""Built-in context processors: the environment and the memory files.

Registered as the ``builtin.context`` plugin, so a user can disable it
(``CLAW_DISABLE_PLUGINS=builtin.context``) and bring their own.

Memory files are the ones Claude Code users already have: ``CLAUDE.md`` and
``CLAW.md`` in the user's config dir, in every directory from the filesystem
root down to the working directory, and ``CLAUDE.local.md`` beside them. They are
read once per session (the prompt is rebuilt every turn; the disk is not). The
user's config dirs come from the session's environment (``SessionState.env``:
the runtime's, not this process's ``os.environ``), so two runtimes in one process
each read their own user's files.
"""

from __future__ import annotations

import datetime
import platform
from collections.abc import Callable, Mapping
from pathlib import Path

from claw_runtime.context.processors import ContextProcessor, PromptContext
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.text import clean_text

__all__ = ["ENVIRONMENT", "MEMORY", "memory_files"]

_MEMORY_NAMES = ("CLAUDE.md", "CLAW.md", "CLAUDE.local.md")
_MEMORY_KEY = "builtin.context.memory"
_ENVIRONMENT_KEY = "builtin.context.environment"


def _user_config_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Claude Code's and claw's user dirs, as ``config.settings_files`` finds them."""
    home = Path(environ.get("HOME") or Path.home())
    claude = Path(environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    claw = Path(environ.get("CLAW_CONFIG_DIR") or home / ".claw")
    return [claude, claw]


def memory_files(cwd: Path, environ: Mapping[str, str]) -> list[Path]:
    """The memory files that apply in ``cwd``, most general first.

    Args:
        environ: the session's environment; ``CLAUDE_CONFIG_DIR``,
            ``CLAW_CONFIG_DIR`` and ``HOME`` there locate the user's own files.
    """
    found: list[Path] = []
    for directory in _user_config_dirs(environ):
        found.extend(directory / n for n in ("CLAUDE.md", "CLAW.md") if (directory / n).is_file())
    for directory in reversed([cwd, *cwd.parents]):
        found.extend(directory / n for n in _MEMORY_NAMES if (directory / n).is_file())
    return found


def _read_memory(cwd: Path, environ: Mapping[str, str]) -> str:
    parts = []
    for path in memory_files(cwd, environ):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if text:
            parts.append(clean_text(f"Contents of {path}:\n\n{text}"))
    if not parts:
        return ""
    return "# Memory (instructions from the user's CLAUDE.md / CLAW.md files)\n\n" + "\n\n".join(
        parts
    )


async def _add_memory(context: PromptContext) -> None:
    extras = context.session.extras
    if _MEMORY_KEY not in extras:
        extras[_MEMORY_KEY] = _read_memory(context.session.cwd, context.session.env)
    context.system_sections.append(extras[_MEMORY_KEY])


def _describe_environment(cwd: Path) -> str:
    is_git = any((d / ".git").exists() for d in (cwd, *cwd.parents))
    return (
        "# Environment\n"
        f"Working directory: {clean_text(str(cwd))}\n"
        f"Is a git repository: {'yes' if is_git else 'no'}\n"
        f"Platform: {platform.system().lower()}\n"
        f"Today's date: {datetime.date.today().isoformat()}"
    )


async def _add_environment(context: PromptContext) -> None:
    # Keyed by cwd: Bash may change directory, and the model should know.
    cwd = context.session.cwd
    cached = context.session.extras.get(_ENVIRONMENT_KEY)
    if cached is None or cached[0] != cwd:
        cached = (cwd, _describe_environment(cwd))
        context.session.extras[_ENVIRONMENT_KEY] = cached
    context.system_sections.append(cached[1])


ENVIRONMENT = ContextProcessor(name="environment", process=_add_environment, order=10)
MEMORY = ContextProcessor(name="memory", process=_add_memory, order=20)


@hookimpl
def register_context_processors(register: Callable[[ContextProcessor], None]) -> None:
    register(ENVIRONMENT)
    register(MEMORY)
