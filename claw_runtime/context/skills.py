"""Skills: folders of instructions the model loads only when a task calls for them.

A skill is a folder with a ``SKILL.md``: YAML frontmatter with a ``name`` and a
``description``, then the instructions, and beside them whatever the
instructions refer to (reference pages, scripts, templates)::

    .claude/skills/pdf/
      SKILL.md          ---
                        name: pdf
                        description: Extract text and tables from PDF files. Use when ...
                        ---
                        To extract text, run scripts/extract.py ...
      scripts/extract.py

Where they are found, the first one of a name winning (Claude Code's order:
your own skills before a project's, so a cloned repository cannot replace them)::

    ~/.claude/skills/<name>/   (CLAUDE_CONFIG_DIR)   user
    ~/.claw/skills/<name>/     (CLAW_CONFIG_DIR)     user
    <project>/.claude/skills/<name>/                 project
    <project>/.claw/skills/<name>/                   project
    folders plugins register (register_skills)       plugin, named "<plugin>:<name>"

Only each skill's name and description reach the model up front (the
``tools.skill`` plugin lists them in the system prompt); the ``Skill`` tool
returns a skill's body and the list of its other files when the model asks for
it, so a skill costs context only when it is used. A project's skills are
listed whether or not the project is trusted: they are text, and loading one
runs nothing. What the text then asks the model to do goes through the
permission rules like everything else the model does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import attrs

from claw_runtime.text import clean_text
from claw_runtime.tooling import SessionState

__all__ = [
    "Skill",
    "SkillCatalog",
    "SkillDirectory",
    "find_skills",
    "skill_catalog",
]

SKILL_FILE = "SKILL.md"
MAX_SKILL_BYTES = 512 * 1024
MAX_DESCRIPTION_CHARS = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
CATALOG_KEY = "skills.catalog"
"""``SessionState.extras`` key of the session's :class:`SkillCatalog` (found once)."""
PLUGIN_DIRS_KEY = "skills.plugin_dirs"
"""``SessionState.extras`` key where a session keeps the plugins' skill folders."""


@attrs.frozen(kw_only=True)
class SkillDirectory:
    """A folder of skills a plugin registered: one skill (it has a ``SKILL.md``) or
    a folder of skill folders."""

    path: Path
    plugin: str | None = None


@attrs.frozen(kw_only=True)
class Skill:
    """One skill: what the model is told up front, and where the rest is."""

    name: str
    description: str
    folder: Path
    scope: Literal["user", "project", "plugin"]
    plugin: str | None = None

    @property
    def path(self) -> Path:
        return self.folder / SKILL_FILE


@attrs.frozen(kw_only=True)
class SkillCatalog:
    """The skills one session can use, by name, and what was wrong with the others."""

    skills: dict[str, Skill] = attrs.field(factory=dict)
    warnings: tuple[str, ...] = ()

    def find(self, name: str) -> Skill | None:
        """The skill ``name`` (a leading ``/`` is ignored); a plugin's by its bare name
        if no other skill has it."""
        name = name.strip().lstrip("/")
        found = self.skills.get(name)
        if found is not None or ":" in name:
            return found
        matches = [s for s in self.skills.values() if s.name.rsplit(":", 1)[-1] == name]
        return matches[0] if len(matches) == 1 else None


def read_skill(folder: Path) -> tuple[dict[str, object], str, list[str]]:
    """``(frontmatter, body, warnings)`` of ``folder/SKILL.md``.

    Raises:
        OSError: the file cannot be read.
    """
    from claw_runtime.commands.markdown import parse_frontmatter

    path = folder / SKILL_FILE
    raw = path.read_bytes()[: MAX_SKILL_BYTES + 1]
    warnings = []
    if len(raw) > MAX_SKILL_BYTES:
        warnings.append(f"{path}: longer than {MAX_SKILL_BYTES // 1024} KB; the rest is cut")
        raw = raw[:MAX_SKILL_BYTES]
    text = clean_text(raw.decode("utf-8", errors="replace")).lstrip("\ufeff")
    meta, body, problems = parse_frontmatter(text, path)
    return meta, body.strip("\n"), warnings + problems


def _skill(
    folder: Path, scope: Literal["user", "project", "plugin"], plugin: str | None
) -> tuple[Skill | None, list[str]]:
    from claw_runtime.commands.markdown import first_line

    path = folder / SKILL_FILE
    try:
        meta, body, warnings = read_skill(folder)
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc.strerror or exc}); skipped"]
    name = meta.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        if name is not None:
            warnings.append(f"{path}: name {name!r} is not a skill name; the folder's is used")
        name = folder.name
    name = name.strip()
    if not _NAME.fullmatch(name):
        return None, [*warnings, f"{path}: {name!r} is not a skill name; skipped"]
    description = meta.get("description")
    if not isinstance(description, str) or not description.strip():
        warnings.append(f"{path}: no description; the model is shown its first line")
        description = first_line(body)
    description = " ".join(description.split())[:MAX_DESCRIPTION_CHARS]
    if plugin is not None:
        name = f"{plugin}:{name}"
    return Skill(
        name=name, description=description, folder=folder, scope=scope, plugin=plugin
    ), warnings


def _skill_folders(root: Path) -> list[Path]:
    if (root / SKILL_FILE).is_file():
        return [root]
    try:
        return sorted(p for p in root.iterdir() if (p / SKILL_FILE).is_file())
    except OSError:
        return []


def find_skills(
    folders: Sequence[tuple[Literal["user", "project"], Path]],
    plugin_dirs: Sequence[SkillDirectory] = (),
) -> SkillCatalog:
    """Every skill in ``folders`` then ``plugin_dirs``; the first of a name wins.

    Blocking file IO: call it in a thread.
    """
    skills: dict[str, Skill] = {}
    warnings: list[str] = []
    sources: list[tuple[Literal["user", "project", "plugin"], Path, str | None]] = [
        (scope, folder, None) for scope, folder in folders
    ]
    sources += [("plugin", d.path, d.plugin) for d in plugin_dirs]
    for scope, root, plugin in sources:
        for folder in _skill_folders(root):
            skill, problems = _skill(folder, scope, plugin)
            warnings += problems
            if skill is None:
                continue
            if skill.name in skills:
                kept = skills[skill.name]
                warnings.append(
                    f"{skill.path}: skill {skill.name!r} is also {kept.path}, which is used"
                )
                continue
            skills[skill.name] = skill
    return SkillCatalog(skills=skills, warnings=tuple(warnings))


def skill_folders(state: SessionState) -> list[tuple[Literal["user", "project"], Path]]:
    """The session's user and project skill folders, in the order they are searched."""
    from claw_runtime.commands.locations import config_dirs

    return [(scope, folder / "skills") for scope, folder in config_dirs(state)]


def skill_catalog(state: SessionState, *, refresh: bool = False) -> SkillCatalog:
    """The session's skills, found once and kept in its extras (``refresh``: look again).

    The plugins' folders are those the session put under :data:`PLUGIN_DIRS_KEY`
    (a :class:`~claw_runtime.sessions.session.Session` does so before each run).
    Blocking file IO: call it in a thread.
    """
    catalog = state.extras.get(CATALOG_KEY)
    if isinstance(catalog, SkillCatalog) and not refresh:
        return catalog
    plugin_dirs: Sequence[SkillDirectory] = state.extras.get(PLUGIN_DIRS_KEY, ())
    catalog = find_skills(skill_folders(state), plugin_dirs)
    state.extras[CATALOG_KEY] = catalog
    return catalog
