"""Grep without ripgrep: the same files, lines, order and formats, in pure Python.

The Grep tool uses this when ``rg`` is not on PATH (or ``CLAW_GREP_BACKEND=python``).
It reproduces what ``claw_runtime.tools.grep`` asks ripgrep for, so both backends
give the same text for the same query:

* files: the walk of :mod:`claw_runtime.tools._ignore` in ``--sort path`` order,
  ``--glob`` overrides, and ripgrep 13's built-in ``--type`` table (below);
* lines: ``path:N:text`` for matches, ``path-N-text`` for context, ``--`` between
  groups and files, long lines cut like ``--max-columns 500 --max-columns-preview``;
* counts: ``path:count`` as ``rg -c`` prints them (matching lines, or matches when a
  multiline pattern can span lines);
* decoding: a UTF-8 BOM is dropped, UTF-16 with a BOM is transcoded;
* binary files (a NUL byte): skipped when found by the walk, "binary file matches"
  when named explicitly. ripgrep decides per 64 KiB buffer, so for a file whose
  first NUL lies further in, ``files_with_matches`` approximates it; the Grep tool
  drops ripgrep's partial output for such files in content mode.

Patterns use ripgrep's (Rust) syntax and are translated to Python's ``re``; what
cannot be translated faithfully (``\\p{..}`` classes, nested or set-operation
classes, the ``x`` and ``U`` flags) is a clear error, and what Rust rejects
(look-around, backreferences) is rejected here too.
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, NoReturn

import attrs

from claw_runtime.errors import ToolError
from claw_runtime.tools._ignore import Overrides, walk_files

if TYPE_CHECKING:
    from claw_runtime.tools.grep import GrepQuery

__all__ = ["MAX_COLUMNS", "Translation", "search", "translate"]

MAX_COLUMNS = 500
"""Lines longer than this many bytes are cut (ripgrep's ``--max-columns``)."""

_PREVIEW_NOTICE = " [... omitted end of long line]"
_BINARY_CHUNK = 64 * 1024  # ripgrep's buffer: where it notices a NUL byte

# --------------------------------------------------------------------- patterns

_POSIX_CLASSES = {
    # name: (Python class body, contains "\n")
    "alnum": ("0-9A-Za-z", False),
    "alpha": ("A-Za-z", False),
    "ascii": ("\\x00-\\x7f", True),
    "blank": ("\\t ", False),
    "cntrl": ("\\x00-\\x1f\\x7f", True),
    "digit": ("0-9", False),
    "graph": ("!-~", False),
    "lower": ("a-z", False),
    "print": (" -~", False),
    "punct": ("!-/:-@\\[-`{-~", False),
    "space": ("\\t\\n\\x0b\\x0c\\r ", True),
    "upper": ("A-Z", False),
    "word": ("0-9A-Za-z_", False),
    "xdigit": ("0-9A-Fa-f", False),
}
_PERL_CLASSES = {"d": False, "D": True, "w": False, "W": True, "s": True, "S": False}
_CHAR_ESCAPES = {"n": 10, "t": 9, "r": 13, "f": 12, "v": 11, "a": 7}
_HEX = re.compile(
    r"x([0-9A-Fa-f]{2})|[xuU]\{([0-9A-Fa-f]{1,8})\}|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})"
)
_GROUP_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([):])")
_QUANTIFIER = re.compile(r"(?:[*+?]|\{(\d+)(?:(,)(\d*))?\})\??")
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")
_SCOPED_FLAGS = "ims"
_UNDECODABLE = "\\udc80-\\udcff"  # bytes that are not UTF-8, as decoded with surrogateescape
_UNSUPPORTED_GROUPS = (
    ("(?=", "look-around is not supported"),
    ("(?!", "look-around is not supported"),
    ("(?<=", "look-around is not supported"),
    ("(?<!", "look-around is not supported"),
    ("(?P=", "backreferences are not supported"),
    ("(?<", "named groups are written (?P<name>...)"),
    ("(?#", "comments are not supported"),
    ("(?>", "atomic groups are not supported"),
    ("(?(", "conditionals are not supported"),
)


@attrs.frozen
class Translation:
    """A ripgrep pattern in Python's syntax, and what the search needs to know about it."""

    pattern: str
    can_match_newline: bool
    """Some match could contain a line break (ripgrep then counts matches, not lines)."""
    newline_literal: bool
    """The pattern names a line break, which ripgrep refuses outside multiline mode."""
    text_anchors: bool
    """``\\A`` or ``\\z`` appear: they mean line start/end, so search line by line."""
    line_anchors: bool
    """``^`` or ``$`` appear in multi-line mode."""

    @property
    def spans_lines(self) -> bool:
        """ripgrep's test for searching whole files in multiline mode.

        True when a match could include a line break, or the pattern uses line
        anchors; ripgrep then also counts matches rather than matching lines.
        """
        return self.can_match_newline or self.line_anchors


def translate(pattern: str, *, ignore_case: bool = False, dotall: bool = False) -> Translation:
    """Translate a ripgrep (Rust ``regex``) pattern to Python ``re`` syntax.

    Raises:
        ToolError: the pattern is invalid, or uses syntax the fallback cannot run.
    """
    flags = frozenset("m" + ("i" if ignore_case else "") + ("s" if dotall else ""))
    parser = _Translator(pattern)
    text = "|".join(parser.alternatives(flags))
    if parser.pos < len(pattern):
        parser.fail("unopened group")
    return Translation(
        text,
        can_match_newline=parser.can_match_newline,
        newline_literal=parser.newline_literal,
        text_anchors=parser.text_anchors,
        line_anchors=parser.line_anchors,
    )


def _flag_spec(flags: frozenset[str]) -> str:
    on = "".join(f for f in _SCOPED_FLAGS if f in flags)
    off = "".join(f for f in _SCOPED_FLAGS if f not in flags)
    return on + ("-" + off if off else "")


def _scoped(flags: frozenset[str], body: str) -> str:
    return f"(?{_flag_spec(flags)}:{body})"


def _class_char(code: int) -> str:
    char = chr(code)
    if char.isalnum():
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _Translator:
    """A recursive-descent pass over Rust regex syntax that emits Python syntax."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.can_match_newline = False
        self.newline_literal = False
        self.text_anchors = False
        self.line_anchors = False

    def fail(self, problem: str) -> NoReturn:
        raise ToolError(f"regex parse error: {problem} (at offset {self.pos} of {self.src!r})")

    def alternatives(self, flags: frozenset[str]) -> list[str]:
        """Parse up to the ``)`` closing the current group (not consumed) or the end."""
        src = self.src
        done: list[str] = []
        items: list[str] = []
        quantified = False
        while self.pos < len(src):
            char = src[self.pos]
            if char == ")":
                break
            if char == "|":
                done.append("".join(items))
                items, quantified = [], False
                self.pos += 1
            elif char in "*+?{":
                if not items:
                    self.fail("repetition operator missing expression")
                quantifier = self.quantifier()
                if quantified:  # Rust stacks repetitions; Python would read a** or a*+ otherwise
                    items[-1] = f"(?:{items[-1]})"
                items[-1] += quantifier
                quantified = True
            elif char == "(" and (change := self.flag_group(flags, ")")) is not None:
                # (?i) applies to the rest of the enclosing group, across "|" too.
                rest = self.alternatives(change)
                items.append(_scoped(change, rest[0]))
                done.append("".join(items))
                done.extend(_scoped(change, alternative) for alternative in rest[1:])
                return done
            else:
                items.append(self.atom(flags))
                quantified = False
        done.append("".join(items))
        return done

    def flag_group(self, flags: frozenset[str], end: str) -> frozenset[str] | None:
        """Consume ``(?flags)`` or ``(?flags:`` (per ``end``) and return the new flags."""
        found = _GROUP_FLAGS.match(self.src, self.pos)
        if found is None or found.group(3) != end:
            return None
        on, off = found.group(1), found.group(2) or ""
        if end == ")" and not on and not off:
            self.fail("empty flag group")
        for flag in on + off:
            if flag in "xU":
                self.fail(f"the {flag} flag is not supported by the Python fallback")
            if flag not in "imsu":
                self.fail(f"unrecognized flag {flag!r}")
        if "u" in off:
            self.fail("disabling Unicode (?-u) is not supported by the Python fallback")
        self.pos = found.end()
        return (flags | set(on.replace("u", ""))) - set(off)

    def quantifier(self) -> str:
        found = _QUANTIFIER.match(self.src, self.pos)
        if found is None:
            self.fail("invalid repetition (escape a literal '{' as '\\{')")
        low, comma, high = found.groups()
        if low is not None and comma and high and int(high) < int(low):
            self.fail("invalid repetition range")
        self.pos = found.end()
        return found.group(0)

    def atom(self, flags: frozenset[str]) -> str:
        char = self.src[self.pos]
        if char == "(":
            return self.group(flags)
        if char == "[":
            return self.char_class()
        if char == "\\":
            text, _, newline = self.escape(in_class=False)
            if newline:
                self.can_match_newline = True
            return text
        self.pos += 1
        if char == ".":  # any character, but not a byte that is not UTF-8 (as in Rust)
            dotall = "s" in flags
            self.can_match_newline |= dotall
            return f"[^{_UNDECODABLE}]" if dotall else f"[^\\n{_UNDECODABLE}]"
        if char in "^$":
            self.line_anchors |= "m" in flags
            return char
        if char == "\n":
            self.newline_literal = self.can_match_newline = True
        return re.escape(char)

    def group(self, flags: frozenset[str]) -> str:
        src = self.src
        inner = flags
        if src.startswith("(?P<", self.pos):
            end = src.find(">", self.pos)
            name = src[self.pos + 4 : end]
            if end < 0 or not name.isidentifier():
                self.fail("invalid capture group name")
            self.pos = end + 1
            opener = f"(?P<{name}>"
        elif src.startswith("(?", self.pos):
            for prefix, problem in _UNSUPPORTED_GROUPS:
                if src.startswith(prefix, self.pos):
                    self.fail(f"{problem} (ripgrep's regex syntax)")
            changed = self.flag_group(flags, ":")
            if changed is None:
                self.fail("unrecognized group syntax")
            inner = changed
            opener = f"(?{_flag_spec(inner)}:"
        else:
            self.pos += 1
            opener = "("
        body = "|".join(self.alternatives(inner))
        if self.pos >= len(src):
            self.fail("unclosed group")
        self.pos += 1
        return f"{opener}{body})"

    def escape(self, *, in_class: bool) -> tuple[str, int | None, bool]:
        """One escape: (Python text, its code point if a single character, may match \\n)."""
        src = self.src
        self.pos += 1
        if self.pos >= len(src):
            self.fail("incomplete escape sequence")
        char = src[self.pos]
        if char in _PERL_CLASSES:
            self.pos += 1
            if char.isupper() and not in_class:  # negated classes: not undecodable bytes either
                return f"[^\\{char.lower()}{_UNDECODABLE}]", None, True
            return "\\" + char, None, _PERL_CLASSES[char]
        if char in _CHAR_ESCAPES:
            self.pos += 1
            return self.literal(_CHAR_ESCAPES[char], in_class)
        if char in "xuU":
            found = _HEX.match(src, self.pos)
            if found is None:
                self.fail("invalid hexadecimal escape")
            code = int(next(g for g in found.groups() if g), 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                self.fail("invalid Unicode scalar value")
            self.pos = found.end()
            return self.literal(code, in_class)
        if not in_class and char in "AzbB":
            self.pos += 1
            if char in "Az":
                self.text_anchors = True
            return ("\\Z" if char == "z" else "\\" + char), None, False
        if char in "pP":
            self.fail("Unicode classes (\\p, \\P) are not supported by the Python fallback")
        if char.isascii() and char.isalnum():
            self.fail(f"unrecognized escape sequence \\{char}")
        self.pos += 1
        return self.literal(ord(char), in_class)

    def literal(self, code: int, in_class: bool) -> tuple[str, int | None, bool]:
        text = _class_char(code) if in_class else re.escape(chr(code))
        if code == 10 and not in_class:
            self.newline_literal = True
        return text, code, code == 10

    def char_class(self) -> str:
        src = self.src
        self.pos += 1
        negated = src.startswith("^", self.pos)
        if negated:
            self.pos += 1
        parts: list[str] = []
        has_newline = False
        only_newline = True
        first = True
        while True:
            if self.pos >= len(src):
                self.fail("unclosed character class")
            char = src[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "[":
                posix = _POSIX.match(src, self.pos)
                if posix is None or posix.group(1) or posix.group(2) not in _POSIX_CLASSES:
                    self.fail("nested or negated classes are not supported by the Python fallback")
                body, newline = _POSIX_CLASSES[posix.group(2)]
                parts.append(body)
                has_newline |= newline
                only_newline = False
                self.pos = posix.end()
                continue
            if src.startswith(("&&", "--", "~~"), self.pos):
                self.fail("class set operations are not supported by the Python fallback")
            text, low, newline = self.class_item()
            if (
                low is not None
                and src.startswith("-", self.pos)
                and src[self.pos + 1 : self.pos + 2] not in ("]", "")
            ):
                self.pos += 1
                high_text, high, _ = self.class_item()
                if high is None or high < low:
                    self.fail("invalid class range")
                parts.append(f"{text}-{high_text}")
                has_newline |= low <= 10 <= high
                only_newline = False
                continue
            parts.append(text)
            has_newline |= newline
            only_newline &= low == 10
        if has_newline != negated:
            self.can_match_newline = True
        if only_newline and not negated:
            self.newline_literal = True
        if negated:
            parts.append(_UNDECODABLE)
        return "[" + ("^" if negated else "") + "".join(parts) + "]"

    def class_item(self) -> tuple[str, int | None, bool]:
        if self.src[self.pos] == "\\":
            return self.escape(in_class=True)
        code = ord(self.src[self.pos])
        self.pos += 1
        return _class_char(code), code, code == 10


def compile_pattern(query: GrepQuery) -> tuple[re.Pattern[str], Translation]:
    """The compiled pattern for a query, with ripgrep's refusals reproduced."""
    translation = translate(query.pattern, ignore_case=query.ignore_case, dotall=query.multiline)
    if translation.newline_literal and not query.multiline:
        raise ToolError(
            "the literal '\\n' is not allowed in a regex outside multiline mode; "
            "set multiline: true to match across lines"
        )
    flags = re.MULTILINE | (re.IGNORECASE if query.ignore_case else 0)
    flags |= re.DOTALL if query.multiline else 0
    try:
        return re.compile(translation.pattern, flags), translation
    except re.error as exc:
        raise ToolError(f"regex parse error: {exc} in {query.pattern!r}") from exc


# ------------------------------------------------------------------ file types

# ripgrep 13's built-in table (`rg --type-list`): "name: glob glob ...", a name may repeat.
_RG_TYPES = """
agda: *.agda *.lagda
aidl: *.aidl
amake: *.bp *.mk
asciidoc: *.adoc *.asc *.asciidoc
asm: *.S *.asm *.s
asp: *.ascx *.ascx.cs *.ascx.vb *.aspx *.aspx.cs *.aspx.vb
ats: *.ats *.dats *.hats *.sats
avro: *.avdl *.avpr *.avsc
awk: *.awk
bazel: *.BUILD *.bazel *.bazelrc *.bzl BUILD WORKSPACE
bitbake: *.bb *.bbappend *.bbclass *.conf *.inc
brotli: *.br
buildstream: *.bst
bzip2: *.bz2 *.tbz2
c: *.[chH] *.[chH].in *.cats
cabal: *.cabal
cbor: *.cbor
ceylon: *.ceylon
clojure: *.clj *.cljc *.cljs *.cljx
cmake: *.cmake CMakeLists.txt
coffeescript: *.coffee
config: *.cfg *.conf *.config *.ini
coq: *.v
cpp: *.[ChH] *.[ChH].in *.[ch]pp *.[ch]pp.in *.[ch]xx *.[ch]xx.in *.cc *.cc.in *.hh *.hh.in
cpp: *.inl
creole: *.creole
crystal: *.cr Projectfile
cs: *.cs
csharp: *.cs
cshtml: *.cshtml
css: *.css *.scss
csv: *.csv
cython: *.pxd *.pxi *.pyx
d: *.d
dart: *.dart
dhall: *.dhall
diff: *.diff *.patch
docker: *Dockerfile*
dvc: *.dvc Dvcfile
ebuild: *.ebuild
edn: *.edn
elisp: *.el
elixir: *.eex *.ex *.exs
elm: *.elm
erb: *.erb
erlang: *.erl *.hrl
fidl: *.fidl
fish: *.fish
flatbuffers: *.fbs
fortran: *.F *.F77 *.F90 *.F95 *.f *.f77 *.f90 *.f95 *.pfo
fsharp: *.fs *.fsi *.fsx
fut: .fut
gap: *.g *.gap *.gd *.gi *.tst
gn: *.gn *.gni
go: *.go
gradle: *.gradle
groovy: *.gradle *.groovy
gzip: *.gz *.tgz
h: *.h *.hpp
haml: *.haml
haskell: *.c2hs *.cpphs *.hs *.hsc *.lhs
hbs: *.hbs
hs: *.hs *.lhs
html: *.ejs *.htm *.html
idris: *.idr *.lidr
java: *.java *.jsp *.jspx *.properties
jinja: *.j2 *.jinja *.jinja2
jl: *.jl
js: *.js *.jsx *.vue
json: *.json composer.lock
jsonl: *.jsonl
julia: *.jl
jupyter: *.ipynb *.jpynb
k: *.k
kotlin: *.kt *.kts
less: *.less
license: *[.-]LICEN[CS]E* AGPL-*[0-9]* APACHE-*[0-9]* BSD-*[0-9]* CC-BY-* COPYING COPYING[.-]*
license: COPYRIGHT COPYRIGHT[.-]* EULA EULA[.-]* GFDL-*[0-9]* GNU-*[0-9]* GPL-*[0-9]*
license: LGPL-*[0-9]* LICEN[CS]E LICEN[CS]E[.-]* MIT-*[0-9]* MPL-*[0-9]* NOTICE NOTICE[.-]*
license: OFL-*[0-9]* PATENTS PATENTS[.-]* UNLICEN[CS]E UNLICEN[CS]E[.-]* agpl[.-]* gpl[.-]*
license: lgpl[.-]* licen[cs]e licen[cs]e.*
lisp: *.el *.jl *.lisp *.lsp *.sc *.scm
lock: *.lock package-lock.json
log: *.log
lua: *.lua
lz4: *.lz4
lzma: *.lzma
m4: *.ac *.m4
make: *.mak *.mk [Gg][Nn][Uu]makefile [Gg][Nn][Uu]makefile.am [Gg][Nn][Uu]makefile.in
make: [Mm]akefile [Mm]akefile.am [Mm]akefile.in
mako: *.mako *.mao
man: *.[0-9][cEFMmpSx] *.[0-9lnpx]
markdown: *.markdown *.md *.mdown *.mkdn
matlab: *.m
md: *.markdown *.md *.mdown *.mkdn
meson: meson.build meson_options.txt
minified: *.min.css *.min.html *.min.js
mint: *.mint
mk: mkfile
ml: *.ml
msbuild: *.csproj *.fsproj *.proj *.props *.targets *.vcxproj
nim: *.nim *.nimble *.nimf *.nims
nix: *.nix
objc: *.h *.m
objcpp: *.h *.mm
ocaml: *.ml *.mli *.mll *.mly
org: *.org *.org_archive
pascal: *.dpr *.inc *.lpr *.pas *.pp
pdf: *.pdf
perl: *.PL *.perl *.pl *.plh *.plx *.pm *.t
php: *.php *.php3 *.php4 *.php5 *.phtml
po: *.po
pod: *.pod
postscript: *.eps *.ps
protobuf: *.proto
ps: *.cdxml *.ps1 *.ps1xml *.psd1 *.psm1
puppet: *.erb *.pp *.rb
purs: *.purs
py: *.py
qmake: *.prf *.pri *.pro
qml: *.qml
r: *.R *.Rmd *.Rnw *.r
racket: *.rkt
rdoc: *.rdoc
readme: *README README*
red: *.r *.red *.reds
robot: *.robot
rst: *.rst
ruby: *.gemspec *.rb *.rbw .irbrc Gemfile Rakefile config.ru
rust: *.rs
sass: *.sass *.scss
scala: *.sbt *.scala
sh: *.bash *.bashrc *.csh *.cshrc *.ksh *.kshrc *.sh *.tcsh *.zsh .bash_login .bash_logout
sh: .bash_profile .bashrc .cshrc .kshrc .login .logout .profile .tcshrc .zlogin .zlogout
sh: .zprofile .zshenv .zshrc bash_login bash_logout bash_profile bashrc profile zlogin zlogout
sh: zprofile zshenv zshrc
slim: *.skim *.slim *.slime
smarty: *.tpl
sml: *.sig *.sml
soy: *.soy
spark: *.spark
spec: *.spec
sql: *.psql *.sql
stylus: *.styl
sv: *.h *.sv *.svh *.v *.vg
svg: *.svg
swift: *.swift
swig: *.def *.i
systemd: *.automount *.conf *.device *.link *.mount *.path *.scope *.service *.slice *.socket
systemd: *.swap *.target *.timer
taskpaper: *.taskpaper
tcl: *.tcl
tex: *.bib *.cls *.dtx *.ins *.ltx *.sty *.tex
textile: *.textile
tf: *.tf
thrift: *.thrift
toml: *.toml Cargo.lock
ts: *.ts *.tsx
twig: *.twig
txt: *.txt
typoscript: *.ts *.typoscript
vala: *.vala
vb: *.vb
vcl: *.vcl
verilog: *.sv *.svh *.v *.vh
vhdl: *.vhd *.vhdl
vim: *.vim
vimscript: *.vim
webidl: *.idl *.webidl *.widl
wiki: *.mediawiki *.wiki
xml: *.dtd *.rng *.sch *.xhtml *.xjb *.xml *.xml.dist *.xsd *.xsl *.xslt
xz: *.txz *.xz
yacc: *.y
yaml: *.yaml *.yml
yang: *.yang
z: *.Z
zig: *.zig
zsh: *.zsh .zlogin .zlogout .zprofile .zshenv .zshrc zlogin zlogout zprofile zshenv zshrc
zstd: *.zst *.zstd
"""


@cache
def _type_table() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for line in _RG_TYPES.strip().splitlines():
        name, globs = line.split(":", 1)
        table[name] = table.get(name, ()) + tuple(globs.split())
    return table


@cache
def type_filter(name: str) -> Callable[[str], bool]:
    """A file-name test for one of ripgrep's types (``py``, ``js``, ``rust``...)."""
    globs = _type_table().get(name)
    if name == "all":
        globs = tuple(g for group in _type_table().values() for g in group)
    if not globs:
        raise ToolError(f"unrecognized file type: {name}")
    regex = re.compile("|".join(fnmatch.translate(g) for g in globs))
    return lambda file_name: regex.match(file_name) is not None


# ----------------------------------------------------------------------- search


def _clean(text: str) -> str:
    """Undecodable bytes as U+FFFD, as the rg backend gets them when decoding rg's output."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _decode(data: bytes) -> tuple[str, int | None]:
    """The text ripgrep searches, and the offset of its first NUL byte (None if text)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", "replace")
        at = text.find("\x00")
        return text, (None if at < 0 else len(text[:at].encode("utf-8")))
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    at = data.find(b"\x00")
    return data.decode("utf-8", "surrogateescape"), (None if at < 0 else at)


class _Document:
    """A file's text split into lines the way ripgrep counts them."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n") if text else []
        self.ends_with_newline = text.endswith("\n")
        if self.ends_with_newline:
            self.lines.pop()
        self.starts = [0]
        position = 0
        for line in self.lines:
            position += len(line) + 1
            self.starts.append(position)

    def line_of(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1

    def nul_in(self, first: int, last: int) -> int | None:
        """Byte offset of the first NUL in lines ``first..last``, if any."""
        at = self.text.find("\x00", self.starts[first], self.starts[last + 1])
        if at < 0:
            return None
        return len(self.text[:at].encode("utf-8", "surrogateescape"))

    def render(self, path: str, index: int, *, matched: bool, numbers: bool) -> str:
        text = self.lines[index]
        terminated = index < len(self.lines) - 1 or self.ends_with_newline
        if len(text) + terminated > MAX_COLUMNS // 4:  # may be too long in bytes
            size = len(text.encode("utf-8", "surrogateescape")) + terminated
            if size > MAX_COLUMNS:
                text = text[:MAX_COLUMNS] + _PREVIEW_NOTICE
        mark = ":" if matched else "-"
        prefix = f"{path}{mark}{index + 1}{mark}" if numbers else f"{path}{mark}"
        return _clean(prefix + text)


Unit = tuple[int, int]
"""A run of matched lines ripgrep handles at once: (first, last) line indices."""


def _line_units(regex: re.Pattern[str], doc: _Document, per_line: bool) -> list[Unit]:
    """One unit per line with a match, searching line by line as ripgrep does."""
    first = regex.search(doc.text)
    if not per_line:
        if first is None:
            return []
        hits: list[int] = []
        for found in regex.finditer(doc.text, first.start()):
            if "\n" in found.group():  # spans lines in the whole text: check each line
                break
            line = doc.line_of(found.start())
            if line < len(doc.lines) and (not hits or hits[-1] != line):
                hits.append(line)
        else:
            return [(hit, hit) for hit in hits]
    start = doc.line_of(first.start()) if first is not None and not per_line else 0
    lines = doc.lines
    return [(i, i) for i in range(start, len(lines)) if regex.search(lines[i])]


def _region_units(regex: re.Pattern[str], doc: _Document) -> tuple[list[Unit], int]:
    """The line ranges of multiline matches (merged when they overlap), and the match count."""
    units: list[Unit] = []
    count = 0
    for found in regex.finditer(doc.text):
        start, end = found.span()
        first = doc.line_of(start)
        if first >= len(doc.lines):
            continue  # an empty match after the final line break is on no line
        count += 1
        last = doc.line_of(max(start, end - 1))
        if units and units[-1][1] >= first:
            units[-1] = (units[-1][0], max(units[-1][1], last))
        else:
            units.append((first, last))
    return units, count


@attrs.define
class _Search:
    """The state of one search: the query, the compiled pattern, the lines so far."""

    query: GrepQuery
    regex: re.Pattern[str]
    translation: Translation
    lines: list[str] = attrs.field(factory=list)
    printed: bool = False

    @property
    def whole_file(self) -> bool:
        """ripgrep reads whole files (not line buffers) for multiline patterns that need it."""
        return self.query.multiline and self.translation.spans_lines

    @property
    def full(self) -> bool:
        return self.query.mode == "content" and len(self.lines) > self.query.max_lines

    def units(self, text: str) -> tuple[_Document, list[Unit], int] | None:
        """The matched units of ``text`` and its count as ``rg -c`` reports it."""
        per_line = self.translation.text_anchors and not self.query.multiline
        if not per_line and self.regex.search(text) is None:
            return None
        doc = _Document(text)
        if self.whole_file:
            units, count = _region_units(self.regex, doc)
        else:
            units = _line_units(self.regex, doc, per_line)
            count = sum(last - first + 1 for first, last in units)
        return (doc, units, count) if units else None

    def has_match(self, text: str) -> bool:
        if not self.query.multiline and not self.translation.text_anchors:
            found = self.regex.search(text)
            if found is None:
                return False
            on_a_line = found.start() < len(text) or not text.endswith("\n")
            if "\n" not in found.group() and on_a_line and text:
                return True  # (a match after the final line break is on no line)
        return self.units(text) is not None

    def file(self, path: str, data: bytes, *, explicit: bool) -> None:
        """Search one file, appending what ripgrep would print for it."""
        text, nul = _decode(data)
        mode = self.query.mode
        if nul is not None and not explicit and not self.whole_file:
            # Read in buffers, the file is abandoned at its first NUL byte.
            if mode == "files_with_matches" and self.buffers_before_match(data, nul):
                self.lines.append(_clean(path))
            return
        if nul is not None and nul < _BINARY_CHUNK and not explicit:
            return  # binary from its first buffer
        found = self.units(text)
        if found is None:
            return
        doc, units, count = found
        # Past the first buffer, ripgrep notices NUL bytes only in the lines it prints.
        late_nul = nul is not None and nul >= _BINARY_CHUNK
        if late_nul and not explicit and self.printed_nul(doc, units) is not None:
            return  # ripgrep notices the NUL and gives up on the file (rg backend drops it)
        if mode == "files_with_matches":
            self.lines.append(_clean(path))
        elif mode == "count":
            self.lines.append(_clean(f"{path}:{count}"))
        elif nul is not None and not late_nul:
            self.binary_message(path, nul)
        else:
            self.content(path, doc, units, stop_at_nul=late_nul)

    def buffers_before_match(self, data: bytes, nul: int) -> bool:
        """Whether a match lies in the buffers ripgrep reads before the one with the NUL."""
        boundary = (nul // _BINARY_CHUNK) * _BINARY_CHUNK
        prefix = data[: data.rfind(b"\n", 0, boundary) + 1] if boundary else b""
        return bool(prefix) and self.has_match(_decode(prefix)[0])

    def binary_message(self, path: str, offset: int) -> None:
        self.lines.append(
            _clean(f'{path}: binary file matches (found "\\0" byte around offset {offset})')
        )

    def printed_nul(self, doc: _Document, units: list[Unit]) -> tuple[Unit, bool] | None:
        """The first printed unit holding a NUL byte, and whether it is a match (not context)."""
        before, after = (
            (self.query.before, self.query.after) if self.query.mode == "content" else (0, 0)
        )
        position = doc.text.find("\x00")
        while position >= 0:
            line = doc.line_of(position)
            for first, last in units:
                if first <= line <= last:
                    return (first, last), True
            if any(first - before <= line <= last + after for first, last in units):
                return (line, line), False
            position = doc.text.find("\x00", doc.starts[line + 1])
        return None

    def content(self, path: str, doc: _Document, units: list[Unit], *, stop_at_nul: bool) -> None:
        """Print units with context, as far as a line with a NUL byte (then a notice)."""
        before, after = self.query.before, self.query.after
        with_context = before > 0 or after > 0
        numbers = self.query.line_numbers
        previous = -2  # no line of this file printed yet: the first one starts a group
        any_match = False
        if stop_at_nul and self.whole_file:
            found = self.printed_nul(doc, units)
            if found is not None and found[1]:  # ripgrep then shows only the notice
                self.binary_message(path, doc.nul_in(*found[0]) or 0)
                return

        def emit(first: int, last: int, *, matched: bool) -> bool:
            nonlocal previous, any_match
            if stop_at_nul and (offset := doc.nul_in(first, last)) is not None:
                if matched or any_match:  # ripgrep reports it only once something matched
                    self.binary_message(path, offset)
                return False
            any_match |= matched
            for index in range(first, last + 1):
                if with_context and self.printed and index != previous + 1:
                    self.lines.append("--")
                    if self.full:
                        return False
                self.lines.append(doc.render(path, index, matched=matched, numbers=numbers))
                self.printed = True
                previous = index
                if self.full:
                    return False
            return True

        for position, (first, last) in enumerate(units):
            for index in range(max(0, first - before, previous + 1), first):
                if not emit(index, index, matched=False):
                    return
            if not emit(max(first, previous + 1), last, matched=True):
                return
            following = units[position + 1][0] if position + 1 < len(units) else len(doc.lines)
            for index in range(last + 1, min(last + after + 1, following)):
                if not emit(index, index, matched=False):
                    return


def _files(query: GrepQuery, accept: Callable[[str], bool] | None) -> Iterator[tuple[str, bool]]:
    if query.root_is_file:
        yield query.root, True
        return
    overrides = Overrides.from_globs(query.globs)
    for path, _ in walk_files(query.root, sort=True, overrides=overrides, accept_name=accept):
        yield path, False


def search(query: GrepQuery) -> list[str]:
    """Run ``query`` (blocking): the lines ``rg`` prints for it, in its order.

    In content mode it stops once it has ``query.max_lines + 1`` lines.

    Raises:
        ToolError: a bad or unsupported pattern, or an unknown file type.
    """
    regex, translation = compile_pattern(query)
    accept = type_filter(query.file_type) if query.file_type else None
    state = _Search(query, regex, translation)
    for path, explicit in _files(query, accept):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        state.file(path, data, explicit=explicit)
        if state.full:
            break
    return state.lines
