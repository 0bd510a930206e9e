"""Permission rules in Claude Code's syntax, and what each one matches.

::

    Bash                      every Bash command
    Bash(git status)          exactly that command
    Bash(npm run test:*)      commands whose words start with ``npm run test``
    Read(./.env)              a path, relative to the project directory
    Edit(src/**)              gitignore-style globs; ``//abs/path`` and ``~/x`` also work
    WebFetch(domain:example.com)
    mcp__server               every tool of an MCP server; mcp__server__tool one tool
    Task(Explore)             sub-agents of one type (``Agent(...)`` is the same rule)
    WordCount                 any other tool, by name
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from claw_runtime.hooks.decisions import ToolCall
from claw_runtime.permissions.shell import ParsedCommand, parse_command, unwrap_for_deny
from claw_runtime.tooling import TOOL_ALIASES

__all__ = ["Rule", "parse_rule", "rules_match"]

EDIT_RULE_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
READ_RULE_TOOLS = frozenset({"Read", "Glob", "Grep", "LS"})

_RULE = re.compile(r"^(?P<tool>[A-Za-z0-9_\-]+)(?:\((?P<spec>.*)\))?$", re.DOTALL)


@cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-style glob (``*``, ``?``, ``**``) as a regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"(?:/.*)?\Z", re.DOTALL)  # names may hold newlines


@attrs.frozen
class Rule:
    """One parsed rule: a tool name and an optional specifier."""

    text: str
    tool: str
    spec: str | None = None

    def _path_pattern(self, project: Path) -> str:
        assert self.spec is not None
        spec = self.spec
        if spec.startswith("//"):
            return spec[1:]
        if spec.startswith("~/"):
            return str(Path(os.path.realpath(Path.home())) / spec[2:])
        if spec.startswith("/"):
            # Claude Code: /x is relative to the settings' directory; we use the project.
            return str(project / spec[1:])
        if spec.startswith("./"):
            return str(project / spec[2:])
        return f"{project}/**/{spec}" if "/" not in spec.rstrip("/") else str(project / spec)

    def matches_path(self, path: Path, project: Path) -> bool:
        """Whether resolved ``path`` falls under this rule (``project``: its real path)."""
        return bool(_glob_regex(self._path_pattern(project)).match(str(path)))

    def matches_command(self, words: tuple[str, ...]) -> bool:
        """Whether one simple command (words after quote removal) is what this rule names.

        Every spelling Claude Code documents, the same for allow, ask and deny:

        ``git status``
            exactly that command (words compared after quote removal).
        ``npm run test:*``
            legacy prefix: the command's words start with ``npm run test``.
        ``docker *``, ``git push --force *``
            a space, then ``*`` at the end: a prefix on a word boundary. ``ls *``
            matches ``ls -la`` and ``ls`` alone, never ``lsof``.
        ``xcodebuild*``
            ``*`` right after a word: a glob on the command text, no word
            boundary (matches ``xcodebuild -scheme x`` and ``xcodebuildx``).
        ``git * main``
            ``*`` anywhere else: any text (spaces included) in that place.
        """
        assert self.spec is not None
        return _command_spec_matches(self.spec, words)

    def applies_to_tool(self, tool_name: str) -> bool:
        if self.tool == tool_name:
            return True
        if TOOL_ALIASES.get(self.tool) == tool_name or TOOL_ALIASES.get(tool_name) == self.tool:
            return True  # Task(...) and Agent(...) name one tool
        if self.tool.startswith("mcp__") and tool_name.startswith(self.tool + "__"):
            return True
        # Claude Code: an Edit rule covers every file-changing tool, a Read rule every reader.
        if self.spec is not None and self.tool == "Edit" and tool_name in EDIT_RULE_TOOLS:
            return True
        return self.spec is not None and self.tool == "Read" and tool_name in READ_RULE_TOOLS


def _spec_words(text: str) -> tuple[str, ...]:
    """A rule's command words, quotes removed as the shell would."""
    import shlex

    try:
        return tuple(shlex.split(text))
    except ValueError:
        return tuple(text.split())


@cache
def _command_glob(spec: str) -> re.Pattern[str]:
    """A command rule with ``*`` as a regular expression over the words joined by spaces."""
    text = " ".join(_spec_words(spec.replace("*", "\x00")))
    out: list[str] = []
    pieces = text.split("\x00")
    for index, piece in enumerate(pieces):
        if index:
            last = index == len(pieces) - 1
            if last and piece == "" and out and out[-1].endswith("\\ "):
                out[-1] = out[-1][: -len("\\ ")]
                out.append("(?: .*)?")
            else:
                out.append(".*")
        out.append(re.escape(piece))
    return re.compile("".join(out), re.DOTALL)


def _command_spec_matches(spec: str, words: tuple[str, ...]) -> bool:
    spec = spec.strip()
    if spec.endswith(":*") and "*" not in spec[:-2]:
        wanted = _spec_words(spec[:-2])
        return words[: len(wanted)] == wanted
    if "*" not in spec:
        return words == _spec_words(spec)
    if spec.endswith(" *") and "*" not in spec[:-2]:
        wanted = _spec_words(spec[:-2])
        return words[: len(wanted)] == wanted
    return bool(_command_glob(spec).fullmatch(" ".join(words)))


def parse_rule(text: str) -> Rule:
    """``"Bash(npm run test:*)"`` -> ``Rule(tool="Bash", spec="npm run test:*")``.

    Raises:
        ValueError: the text is not a rule.
    """
    match = _RULE.match(text.strip())
    if not match:
        raise ValueError(f"not a permission rule: {text!r} (expected Tool or Tool(specifier))")
    spec = match.group("spec")
    return Rule(text=text.strip(), tool=match.group("tool"), spec=spec if spec else None)


def rules_match(
    rules: Iterable[Rule],
    call: ToolCall,
    project: Path,
    *,
    parsed: ParsedCommand | None,
    for_deny: bool,
) -> Rule | None:
    """The first rule that covers this call, or None.

    Path rules are matched against the call's resolved targets
    (:mod:`claw_runtime.permissions.targets`): a ``Read(...)`` rule against every
    path the call reads, an ``Edit(...)`` rule against every path it writes,
    whatever the tool; a rule naming another tool against that tool's paths.
    A deny rule matches if it covers any path; an allow rule only if it covers
    them all. For Bash, a deny rule matches if it covers any command, wrappers
    included; allow rules are checked command by command in the policy.
    """
    for rule in rules:
        if rule.spec is None:
            if rule.applies_to_tool(call.name):
                return rule
            continue
        if rule.tool == "Bash":
            if call.name != "Bash" or parsed is None:
                continue
            if for_deny:
                candidates = [w for c in parsed.commands for w in unwrap_for_deny(c.words) if w]
                if any(rule.matches_command(words) for words in candidates):
                    return rule
            continue
        if rule.spec.startswith("domain:"):
            if not rule.applies_to_tool(call.name):
                continue
            domain = rule.spec[len("domain:") :].lower()
            hosts = [(urlsplit(url).hostname or "").lower() for url in call.urls]
            matched = [h == domain or h.endswith("." + domain) for h in hosts]
            if matched and (any(matched) if for_deny else all(matched)):
                return rule
            continue
        if rule.tool == "Skill":
            if call.name == "Skill" and _skill_matches(rule.spec, call.input):
                return rule
            continue
        if rule.applies_to_tool("Task") and rule.applies_to_tool(call.name):
            wanted = call.input.get("subagent_type") or "general-purpose"
            if rule.spec.strip() == wanted:  # Task(Explore): one agent type
                return rule
            continue
        if rule.tool == "Read":
            paths = call.reads
        elif rule.tool == "Edit":
            paths = call.writes
        elif rule.applies_to_tool(call.name):
            paths = (*call.reads, *call.writes)
        else:
            continue
        matched = [rule.matches_path(path, project) for path in paths]
        if matched and (any(matched) if for_deny else all(matched)):
            return rule
    return None


def _skill_matches(spec: str, tool_input: dict[str, Any]) -> bool:
    """``Skill(pdf)`` names one skill; ``Skill(acme:*)`` or ``Skill(acme*)`` a prefix."""
    name = tool_input.get("skill") or tool_input.get("command")
    if not isinstance(name, str):
        return False
    name = name.strip().lstrip("/")
    if spec.endswith(":*"):
        return name.startswith(spec[:-1]) or name == spec[:-2]
    if spec.endswith("*"):
        return name.startswith(spec[:-1])
    return name == spec


def bash_parsed(tool_input: dict[str, Any]) -> ParsedCommand | None:
    command = tool_input.get("command")
    return parse_command(command) if isinstance(command, str) else None
