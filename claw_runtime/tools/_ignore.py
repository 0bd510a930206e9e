"""Which files the search tools may see, and a fast walk over them.

Glob, LS and the pure-Python Grep share these rules so that they agree with
each other and with ripgrep, which the Grep tool runs with ``--hidden
--no-require-git --no-ignore-global`` and a ``!.git`` glob. The rules are those
of ripgrep's ``ignore`` crate:

* Ignore files in every directory: ``.rgignore`` beats ``.ignore`` beats
  ``.gitignore`` beats ``.git/info/exclude``. Within one kind the deepest
  directory with a matching rule decides; within one file, the last matching
  rule (``!rule`` re-includes).
* The ignore files of the directories above the search root count too, but
  ``.gitignore`` and ``exclude`` rules stop at the first directory holding
  ``.git`` (a repository root). No git repository is needed for them to apply.
* A rule matches the path itself: ``build/`` matches the directory ``build``,
  and its contents disappear because ignored directories are not entered.
* Hidden files are seen; ``.git`` is never entered; symbolic links are not
  followed (the walk skips them, as ripgrep does).

The gitignore syntax itself is compiled by ``pathspec``; this module adds only
ripgrep's "match this path" evaluation and the walk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs
from pathspec import GitIgnoreSpec

__all__ = [
    "IgnoreStack",
    "Overrides",
    "RuleSet",
    "expand_braces",
    "list_dir",
    "name_key",
    "walk_files",
]

_IGNORE_FILES = (".rgignore", ".ignore", ".gitignore")
"""Ignore file names in ripgrep's order of precedence (``exclude`` comes last)."""

_DIR_GROUP = "ps_d"  # pathspec's name for the group matching a directory's trailing "/"


@attrs.frozen
class _Rule:
    regex: re.Pattern[str]
    ignore: bool  # False for a "!rule" that re-includes
    self_only: bool  # True when the regex also matches descendants (needs fullmatch)

    def matches(self, rel: str) -> bool:
        if self.self_only:
            return self.regex.fullmatch(rel) is not None
        return self.regex.match(rel) is not None


@attrs.frozen
class RuleSet:
    """The rules of one ignore file (or a list of globs), relative to its directory."""

    rules: tuple[_Rule, ...]
    any_rule: re.Pattern[str]

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> RuleSet | None:
        """Compile gitignore-syntax lines; None when there is no rule in them."""
        rules: list[_Rule] = []
        for pattern in GitIgnoreSpec.from_lines(lines).patterns:
            if pattern.include is None or pattern.regex is None:
                continue  # a comment or a blank line
            regex = pattern.regex
            rules.append(_Rule(regex, pattern.include, _DIR_GROUP in regex.groupindex))
        if not rules:
            return None
        plain = "|".join(f"(?:{r.regex.pattern})" for r in rules).replace(f"?P<{_DIR_GROUP}>", "?:")
        return cls(tuple(rules), re.compile(plain))

    def match(self, rel: str) -> bool | None:
        """True if ``rel`` is ignored, False if re-included, None if no rule matches.

        ``rel`` is relative to the rule set's directory and ends in ``/`` for a
        directory (which is how ``build/`` rules tell directories apart).
        """
        if self.any_rule.match(rel) is None:
            return None
        for rule in reversed(self.rules):
            if rule.matches(rel):
                return rule.ignore
        return None


@attrs.frozen
class Overrides:
    """ripgrep's ``--glob`` rules: gitignore syntax, inverted, rooted at the search root.

    A plain glob includes what it matches even if an ignore file excludes it;
    ``!glob`` excludes. When any plain glob exists, files matching none are
    excluded (directories are still entered).
    """

    rules: RuleSet
    has_include: bool

    @classmethod
    def from_globs(cls, globs: Sequence[str]) -> Overrides | None:
        lines = [g for glob in globs for g in expand_braces(glob)]
        rules = RuleSet.from_lines(lines)
        if rules is None:
            return None
        return cls(rules, any(not line.startswith("!") for line in lines))

    def decide(self, rel: str, is_dir: bool) -> bool | None:
        """True: include (skip other rules); False: exclude; None: no opinion."""
        matched = self.rules.match(rel + "/" if is_dir else rel)
        if matched is None:
            return False if self.has_include and not is_dir else None
        return matched


def expand_braces(pattern: str) -> list[str]:
    """``*.{ts,tsx}`` -> ``*.ts``, ``*.tsx`` (nested braces too), as ripgrep's globs allow."""
    depth, start, i = 0, -1, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2  # an escaped character is never a brace
            continue
        if char == "{":
            if depth == 0:
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                head, body, tail = pattern[:start], pattern[start + 1 : i], pattern[i + 1 :]
                return [
                    expanded
                    for option in _split_top_level(body)
                    for expanded in expand_braces(head + option + tail)
                ]
        i += 1
    return [pattern]


def _split_top_level(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in body:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        current.append(char)
    parts.append("".join(current))
    return parts


@attrs.frozen
class _Level:
    """The ignore rules of one directory."""

    prefix_len: int  # slicing a full path by this gives the path relative to the directory
    kinds: tuple[RuleSet | None, RuleSet | None, RuleSet | None, RuleSet | None]
    has_git: bool


def _read_rules(path: str) -> RuleSet | None:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return RuleSet.from_lines(text.splitlines())


def _load_level(directory: str, names: Iterable[str]) -> _Level | None:
    present = set(names)
    has_git = ".git" in present
    if not has_git and present.isdisjoint(_IGNORE_FILES):
        return None
    rgignore, ignore, gitignore = (
        _read_rules(os.path.join(directory, n)) if n in present else None for n in _IGNORE_FILES
    )
    exclude = _read_rules(os.path.join(directory, ".git", "info", "exclude")) if has_git else None
    prefix_len = len(directory) if directory.endswith(os.sep) else len(directory) + 1
    return _Level(prefix_len, (rgignore, ignore, gitignore, exclude), has_git)


@attrs.frozen
class IgnoreStack:
    """The ignore rules in force in one directory: its own and its ancestors'."""

    levels: tuple[_Level, ...] = ()  # outermost first
    chain: tuple[tuple[int, RuleSet], ...] = ()  # (prefix_len, rules) in order of precedence

    @classmethod
    def for_root(cls, root: str) -> IgnoreStack:
        """The rules that the directories above ``root`` impose on it."""
        stack = cls()
        parents: list[str] = []
        current = os.path.dirname(root)
        while True:
            parents.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for directory in reversed(parents):
            names = [
                n for n in (*_IGNORE_FILES, ".git") if os.path.lexists(os.path.join(directory, n))
            ]
            stack = stack.enter(directory, names)
        return stack

    def enter(self, directory: str, names: Iterable[str]) -> IgnoreStack:
        """The stack inside ``directory``, whose entries are named ``names``."""
        level = _load_level(directory, names)
        if level is None:
            return self
        levels = (*self.levels, level)
        chain: list[tuple[int, RuleSet]] = []
        for kind in range(4):
            for lvl in reversed(levels):  # deepest first
                rules = lvl.kinds[kind]
                if rules is not None:
                    chain.append((lvl.prefix_len, rules))
                if kind >= 2 and lvl.has_git:
                    break  # git rules stop at the repository root
        return IgnoreStack(levels, tuple(chain))

    def is_ignored(self, path: str, is_dir: bool) -> bool:
        """Whether the rules exclude ``path`` (absolute, as the walk builds it)."""
        for prefix_len, rules in self.chain:
            rel = path[prefix_len:]
            matched = rules.match(rel + "/" if is_dir else rel)
            if matched is not None:
                return matched
        return False


def name_key(name: str) -> bytes:
    """Sort key giving ripgrep's ``--sort path`` order (bytes of the file name)."""
    return name.encode("utf-8", "surrogateescape")


def _entry_key(entry: os.DirEntry[str]) -> bytes:
    return name_key(entry.name)


def list_dir(directory: str, stack: IgnoreStack) -> tuple[IgnoreStack, list[os.DirEntry[str]]]:
    """The visible entries of one directory (any kind, symlinks too) and its stack.

    Raises:
        OSError: the directory cannot be read.
    """
    with os.scandir(directory) as it:
        entries = list(it)
    stack = stack.enter(directory, (e.name for e in entries))
    visible = []
    for entry in entries:
        if entry.name == ".git":
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if not stack.is_ignored(entry.path, is_dir):
            visible.append(entry)
    return stack, visible


@attrs.frozen(kw_only=True)
class _Walk:
    root_len: int
    sort: bool
    overrides: Overrides | None
    accept_name: Callable[[str], bool] | None
    enter_dir: Callable[[str], bool] | None
    max_depth: int | None

    def files(
        self, directory: str, stack: IgnoreStack, depth: int
    ) -> Iterator[tuple[str, os.DirEntry[str]]]:
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError:
            return
        stack = stack.enter(directory, (e.name for e in entries))
        if self.sort:
            entries.sort(key=_entry_key)
        overrides, accept_name = self.overrides, self.accept_name
        for entry in entries:
            name = entry.name
            if name == ".git":
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                if not is_dir and not entry.is_file(follow_symlinks=False):
                    continue  # symbolic links, sockets, fifos
            except OSError:
                continue
            path = entry.path
            decided = overrides.decide(path[self.root_len :], is_dir) if overrides else None
            if decided is False:
                continue
            if decided is None:
                if stack.chain and stack.is_ignored(path, is_dir):
                    continue
                if not is_dir and accept_name is not None and not accept_name(name):
                    continue
            if not is_dir:
                yield path, entry
            elif (self.max_depth is None or depth < self.max_depth) and (
                self.enter_dir is None or self.enter_dir(path[self.root_len :])
            ):
                yield from self.files(path, stack, depth + 1)


def walk_files(
    root: str,
    *,
    sort: bool = False,
    overrides: Overrides | None = None,
    accept_name: Callable[[str], bool] | None = None,
    enter_dir: Callable[[str], bool] | None = None,
    max_depth: int | None = None,
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every visible regular file under ``root``, as ``(path, entry)``; blocking.

    Args:
        root: an absolute, normalised directory; yielded paths start with it.
        sort: ripgrep's ``--sort path`` order (depth first, names bytewise).
        overrides: ``--glob`` rules, checked before the ignore files.
        accept_name: file-name filter applied after the ignore rules (``--type``).
        enter_dir: called with a directory's path relative to ``root``; False prunes it.
        max_depth: how many directory levels below ``root`` to enter (0: root only).
    """
    root_len = len(root) if root.endswith(os.sep) else len(root) + 1
    walk = _Walk(
        root_len=root_len,
        sort=sort,
        overrides=overrides,
        accept_name=accept_name,
        enter_dir=enter_dir,
        max_depth=max_depth,
    )
    return walk.files(root, IgnoreStack.for_root(root), 0)
