"""The ``Skill`` tool, the list of skills the model sees, and skills typed as ``/name``.

Skills are found by :mod:`claw_runtime.context.skills`. This built-in plugin
(``tools.skill``) registers three things, so blocking it removes skills whole:

* the ``skills`` context processor: a short "Skills" section in the system
  prompt with each skill's name and description, and nothing else;
* the ``Skill`` tool (read-only, Claude Code's name and inputs): the model
  calls it with a name and gets the skill's ``SKILL.md`` body and the list of
  the other files in its folder, which it can then Read;
* a command loader, so a person can type ``/pdf report.pdf`` to use a skill
  directly (its body, with ``$ARGUMENTS``, becomes the prompt, as a Markdown
  command's does).

Why the list is in the system prompt rather than in the tool's description
(Claude Code 2.0 put it in the description; current versions send it as a
reminder message in the conversation): a tool's description is registered once
per runtime and shared by every session, while skills depend on each session's
project and user folders. A system prompt section is per session, stays the
same from turn to turn (so it stays in the prompt cache), and costs a line per
skill; the body is loaded only when used.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import trio

from claw_runtime.commands import Command, CommandLoader
from claw_runtime.context.processors import ContextProcessor, PromptContext
from claw_runtime.context.skills import (
    CATALOG_KEY,
    PLUGIN_DIRS_KEY,
    SKILL_FILE,
    Skill,
    SkillCatalog,
    read_skill,
    skill_catalog,
)
from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool

if TYPE_CHECKING:
    from claw_runtime.sessions.session import Session

__all__ = ["SKILLS", "SKILL_COMMANDS", "load_skill", "render_skill_list", "session_skills"]

MAX_LISTED_SKILLS = 100
MAX_LISTED_CHARS = 12_000
MAX_LISTED_FILES = 100
_LISTING_KEY = "tools.skill.listing"


def render_skill_list(catalog: SkillCatalog) -> str:
    """The system prompt section: one line per skill ("" when there are none)."""
    if not catalog.skills:
        return ""
    lines = []
    used = 0
    skills = list(catalog.skills.values())
    for skill in skills[:MAX_LISTED_SKILLS]:
        line = f"- {skill.name}: {skill.description}"
        if used + len(line) > MAX_LISTED_CHARS:
            break
        lines.append(line)
        used += len(line)
    left = len(skills) - len(lines)
    if left:
        lines.append(f"({left} more skills not listed; the Skill tool loads any of them by name)")
    return (
        "# Skills\n"
        "Skills are folders of instructions for particular tasks. When a task matches a "
        "skill's description, call the Skill tool with that skill's name before you start "
        "it, then follow what it returns. Do not load skills that do not apply.\n\n"
        + "\n".join(lines)
    )


async def _list_skills(context: PromptContext) -> None:
    extras = context.session.extras
    listing = extras.get(_LISTING_KEY)
    if listing is None or extras.get(CATALOG_KEY) is None:
        ahead = extras.get(CATALOG_KEY)  # found by ``prepare`` (skill_catalog)
        catalog: SkillCatalog = (
            ahead
            if isinstance(ahead, SkillCatalog)
            else await trio.to_thread.run_sync(skill_catalog, context.session)
        )
        listing = extras[_LISTING_KEY] = render_skill_list(catalog)
    if listing:
        context.system_sections.append(listing)


SKILLS = ContextProcessor(name="skills", process=_list_skills, order=30, prepare=skill_catalog)


def _other_files(folder: Path, denied: Callable[[Path], bool]) -> list[str]:
    """The folder's files besides SKILL.md (hidden ones and caches left out), relative."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or path == folder / SKILL_FILE:
                continue
            if denied(Path(os.path.realpath(path))):
                continue
            found.append(str(path.relative_to(folder)))
            if len(found) > MAX_LISTED_FILES:
                return found
    return found


def _load(ctx: ToolContext, name: str, args: str) -> str:
    from claw_runtime.commands.expand import substitute_arguments

    catalog = skill_catalog(ctx.session)
    found = catalog.find(name)
    if found is None:
        known = ", ".join(catalog.skills) or "none"
        raise ToolError(f"No skill named {name!r}. Available skills: {known}.")
    if ctx.read_denied(Path(os.path.realpath(found.path))):
        raise ToolError(f"Reading {found.path} is denied by a Read rule.")
    try:
        _meta, body, _warnings = read_skill(found.folder)
    except OSError as exc:
        raise ToolError(f"Cannot read {found.path}: {exc.strerror or exc}") from None
    if args.strip():
        body = substitute_arguments(body, args)
    files = _other_files(found.folder, ctx.read_denied)
    text = f"Base directory for this skill: {found.folder}\n\n{body}"
    if files:
        shown = files[:MAX_LISTED_FILES]
        more = "\n- ..." if len(files) > MAX_LISTED_FILES else ""
        text += (
            "\n\nOther files in this skill's folder (paths relative to the base directory; "
            "read them when the instructions call for them):\n"
            + "\n".join(f"- {f}" for f in shown)
            + more
        )
    return text


@tool(name="Skill", read_only=True)
async def load_skill(
    ctx: ToolContext,
    skill: Annotated[
        str | None,
        Param(description='The name of a skill from the Skills list, e.g. "pdf" (no slash)'),
    ] = None,
    args: Annotated[str | None, Param(description="Optional arguments for the skill")] = None,
    command: Annotated[
        str | None, Param(description="The skill's name (an older spelling of skill)")
    ] = None,
) -> str:
    """Load a skill: its instructions and the list of its other files.

    Call this when the user's task matches a skill in the Skills section of the
    system prompt, before doing the task, then follow the instructions it
    returns. Do not call it for skills that are not listed, and do not load a
    skill again when its instructions are already in the conversation.
    """
    name = skill or command
    if not name or not name.strip():
        raise ToolError('Give the skill\'s name in skill (for example skill: "pdf").')
    return await trio.to_thread.run_sync(_load, ctx, name.strip(), args or "")


async def session_skills(session: Session, *, refresh: bool = False) -> SkillCatalog:
    """The session's skills, plugins' included (found in a thread; kept for the session)."""
    session.state.extras.setdefault(PLUGIN_DIRS_KEY, tuple(session.runtime.registry.skill_dirs))
    return await trio.to_thread.run_sync(lambda: skill_catalog(session.state, refresh=refresh))


def _skill_command(found: Skill, trusted: bool) -> Command | None:
    from claw_runtime.commands.markdown import (
        MarkdownCommand,
        make_prompt_command,
        rules_of,
    )

    try:
        meta, body, _warnings = read_skill(found.folder)
    except OSError:
        return None
    allowed, _problems = rules_of(meta.get("allowed-tools"), found.path)
    model = meta.get("model")
    hint = meta.get("argument-hint")
    spec = MarkdownCommand(
        name=found.name,
        path=found.path,
        scope="project" if found.scope == "project" else "user",
        body=f"Base directory for this skill: {found.folder}\n\n{body}",
        description=found.description,
        argument_hint=hint if isinstance(hint, str) else "",
        allowed_tools=tuple(allowed),
        model=model if isinstance(model, str) and model.strip() else None,
    )
    label = f"{found.plugin} skill" if found.plugin else f"{found.scope} skill"
    return make_prompt_command(spec, trusted=trusted, source=label)


async def _skills_as_commands(session: Session) -> Sequence[Command]:
    from claw_runtime.commands.locations import project_trusted

    catalog = await session_skills(session)
    if not catalog.skills:
        return []

    def build() -> list[Command]:
        trusted = project_trusted(session.state, session.runtime.settings.trusted_directories)
        made = (_skill_command(s, trusted) for s in catalog.skills.values())
        return [c for c in made if c is not None]

    return await trio.to_thread.run_sync(build)


SKILL_COMMANDS = CommandLoader(name="skills", load=_skills_as_commands, order=50)


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(load_skill)


@hookimpl
def register_context_processors(register: Callable[[ContextProcessor], None]) -> None:
    register(SKILLS)


@hookimpl
def register_commands(register: Callable[[Any], None]) -> None:
    register(SKILL_COMMANDS)
