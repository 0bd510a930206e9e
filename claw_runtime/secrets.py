"""Secret redaction for everything claw itself writes: transcripts and logs.

A secret that reaches the model is the user's choice; one written to claw's own
files is a defect. :func:`redact` masks every secret it recognises in free
text, keeping a short recognisable prefix (``sk-ant-***``, ``ghp_***``,
``DB_PASSWORD=***``) so the transcript stays readable; :func:`redact_json`
walks decoded JSON, masking values under secret-looking key names and running
:func:`redact` on every string; :func:`known_secrets` registers literal values
(claw's own credentials) that are always masked.

Detection has three layers, all cheap until text contains a keyword:

* claw's own rules for the common classes (model-provider, GitHub, Slack, AWS,
  Google, Stripe, npm keys, JWTs, Authorization headers, PEM private-key
  blocks, credentials in URLs);
* an assignment scanner: ``NAME=value``, ``name: value``, ``"name": "value"``
  where *NAME* looks like a secret (``*_PASSWORD``, ``*_SECRET``, ``*_TOKEN``,
  ``*_KEY``, ``api_key``, ``client_secret``, ``authorization`` ...), at the
  start of a line, after ``export``, in ``.env``, shell, YAML, TOML and JSON;
* the gitleaks rule set (``_data/gitleaks.toml``, MIT, vendored as data: see
  ``_data/README.md``) for ~200 vendor-specific token formats, each rule run
  only when one of its keywords occurs in the text, with its entropy threshold
  and allowlists.

Nothing heavy happens at import: the prebuilt rule data
(``_data/gitleaks-rules.json``) is read and each regex compiled the first time
it is needed. No function here raises.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["MASK", "is_secret_key", "known_secrets", "redact", "redact_json"]

MASK = "***"
"""What replaces a secret (its recognisable prefix, if any, is kept before it)."""

_WITHHELD = "[claw: redaction failed; text withheld]"
_DATA = Path(__file__).with_name("_data") / "gitleaks.toml"
_RULE_DATA = _DATA.with_name("gitleaks-rules.json")


class _Lazy:
    """A regex compiled on first use: importing this module compiles nothing."""

    __slots__ = ("_args", "_pattern")

    def __init__(self, *args: Any) -> None:
        self._args = args
        self._pattern: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._pattern is None:
            self._pattern = re.compile(*self._args)
        return getattr(self._pattern, name)


# --- key names ---------------------------------------------------------------------

_WORDS = _Lazy(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SECRET_WORDS = frozenset(
    [
        "password",
        "passwd",
        "passwords",
        "passphrase",
        "pass",
        "pwd",
        "secret",
        "secrets",
        "token",
        "apikey",
        "apitoken",
        "authorization",
        "auth",
        "authtoken",
        "accesstoken",
        "refreshtoken",
        "credential",
        "credentials",
        "creds",
        "cookie",
        "privatekey",
        "secretkey",
        "accesskey",
        "sessionkey",
    ]
)
_SECRET_ENDINGS = ("password", "passwd", "pwd", "secret", "token", "apikey")
_KEY_QUALIFIERS = frozenset(
    [
        "api",
        "access",
        "secret",
        "private",
        "signing",
        "encryption",
        "master",
        "account",
        "client",
        "auth",
        "license",
        "service",
        "ssh",
        "deploy",
        "session",
        "app",
        "webhook",
    ]
)
_NOT_SECRET_TAIL = frozenset(
    [
        "count",
        "counts",
        "type",
        "types",
        "url",
        "uri",
        "urls",
        "endpoint",
        "file",
        "files",
        "path",
        "paths",
        "dir",
        "name",
        "names",
        "id",
        "ids",
        "length",
        "len",
        "size",
        "limit",
        "limits",
        "max",
        "min",
        "expiry",
        "expires",
        "expiration",
        "ttl",
        "env",
        "var",
        "vars",
        "field",
        "fields",
        "header",
        "headers",
        "prefix",
        "suffix",
        "hint",
        "policy",
        "required",
        "enabled",
        "mode",
        "format",
        "version",
        "label",
        "placeholder",
        "pattern",
        "regex",
        "index",
        "kind",
        "provider",
        "source",
        "ref",
        "helper",
        "command",
        "cmd",
        "prompt",
        "usage",
        "budget",
    ]
)
_NOT_SECRET_ENV_KEY = frozenset(
    ["public", "primary", "foreign", "sort", "partition", "cache", "hot"]
)


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(name)]


def is_secret_key(name: str, *, env_style: bool = False) -> bool:
    """Whether a key, field or variable called ``name`` holds a secret.

    ``password``, ``DB_PASSWORD``, ``apiKey``, ``x-api-key``, ``client_secret``,
    ``GITHUB_TOKEN``, ``Authorization``, ``SecretAccessKey``: yes.
    ``max_tokens``, ``token_count``, ``secret_name``, ``public_key``: no.
    With ``env_style`` (an ``UPPER_CASE=`` assignment) any ``*_KEY`` counts.
    """
    words = _words(name)
    if not words or words[-1] in _NOT_SECRET_TAIL:
        return False
    if any(w in _SECRET_WORDS for w in words) or words[-1].endswith(_SECRET_ENDINGS):
        return True
    for i, word in enumerate(words):
        if word == "key":
            before = words[i - 1] if i else ""
            if before in _KEY_QUALIFIERS:
                return True
            if env_style and i == len(words) - 1 and before not in _NOT_SECRET_ENV_KEY:
                return True
    return "".join(words).endswith(("apikey", "secretkey", "privatekey", "accesskey"))


# --- rules -------------------------------------------------------------------------

Validator = Callable[[str], bool]


class _Rule:
    """One regex; the secret is the named group ``s``, or group 1, or the whole match."""

    __slots__ = ("_compiled", "allow", "entropy", "flags", "group", "keywords", "name", "source")
    allow: list[tuple[str, list[_Lazy], tuple[str, ...]]]

    def __init__(
        self,
        name: str,
        source: str,
        keywords: Iterable[str],
        *,
        flags: int = 0,
        entropy: float = 0.0,
        group: int | str | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.keywords = tuple(k.lower() for k in keywords)
        self.flags = flags
        self.entropy = entropy
        self.group = group
        self.allow = []
        self._compiled: re.Pattern[str] | bool | None = None

    def pattern(self) -> re.Pattern[str] | None:
        if self._compiled is None:
            import warnings

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._compiled = re.compile(self.source, self.flags)
            except (re.error, OverflowError, RecursionError):
                self._compiled = False
        return self._compiled if isinstance(self._compiled, re.Pattern) else None

    def secret_span(self, match: re.Match[str]) -> tuple[int, int]:
        if self.group is not None:
            return match.span(self.group)
        if "s" in match.re.groupindex:
            return match.span("s")
        for index in range(1, (match.re.groups or 0) + 1):
            if match.group(index):
                return match.span(index)
        return match.span()


def _own_rules() -> list[tuple[_Rule, Validator | None]]:
    def basic_credentials(value: str) -> bool:
        import base64
        import binascii

        try:
            return b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return False

    def not_a_word(value: str) -> bool:
        return len(value) >= 20 or not value.isalpha()

    not_after = r"(?<![A-Za-z0-9_\-])"
    rules: list[tuple[_Rule, Validator | None]] = [
        (_Rule("anthropic", rf"{not_after}sk-ant-(?P<s>[A-Za-z0-9_\-]{{8,}})", ["sk-ant-"]), None),
        (
            _Rule(
                "openai",
                rf"{not_after}sk-(?!ant-)(?:proj-|svcacct-|admin-)?(?P<s>[A-Za-z0-9_\-]{{16,}})",
                ["sk-"],
            ),
            None,
        ),
        (_Rule("github", r"gh[pousr]_(?P<s>[A-Za-z0-9]{16,})", ["gh"]), None),
        (_Rule("github-pat", r"github_pat_(?P<s>[A-Za-z0-9_]{16,})", ["github_pat_"]), None),
        (
            _Rule(
                "slack",
                r"(?<![A-Za-z0-9])(?:xox[abeoprs]|xapp)-(?P<s>[A-Za-z0-9\-]{10,})",
                ["xox", "xapp-"],
            ),
            None,
        ),
        (
            _Rule(
                "aws-access-key-id",
                r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])(?P<s>[A-Z0-9]{16})(?![A-Za-z0-9])",
                ["akia", "asia", "abia", "acca", "a3t"],
            ),
            None,
        ),
        (_Rule("google", r"(?<![A-Za-z0-9])AIza(?P<s>[0-9A-Za-z_\-]{35})", ["aiza"]), None),
        (
            _Rule(
                "stripe",
                r"(?<![A-Za-z0-9])(?:sk|rk)_(?:live|test|prod)_(?P<s>[A-Za-z0-9]{10,})",
                ["sk_", "rk_"],
            ),
            None,
        ),
        (_Rule("npm", r"(?<![A-Za-z0-9])npm_(?P<s>[A-Za-z0-9]{36})", ["npm_"]), None),
        (
            _Rule(
                "jwt",
                r"(?<![A-Za-z0-9_\-])eyJ(?P<s>[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*)",
                ["eyj"],
            ),
            None,
        ),
        (
            _Rule(
                "bearer",
                r"(?:[Bb]earer|BEARER)\s+(?P<s>[A-Za-z0-9._~+/\-]{8,}=*)",
                ["bearer"],
            ),
            not_a_word,
        ),
        (
            _Rule("basic", r"(?:[Bb]asic|BASIC)\s+(?P<s>[A-Za-z0-9+/]{6,}={0,2})", ["basic"]),
            basic_credentials,
        ),
        (
            _Rule(
                "private-key",
                r"-----BEGIN[ A-Z0-9_\-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
                r"(?P<s>[\s\S]*?(?=-----END[ A-Z0-9_\-]{0,100}PRIVATE KEY)"
                r"|(?:[A-Za-z0-9+/=\s:,.\-]|\\[nrt])+)",
                ["private key"],
            ),
            None,
        ),
        (
            _Rule(
                "url-credentials",
                r"://[^\s:@/'\"<>]{1,100}:(?P<s>[^\s@/'\"<>]{1,200})@",
                ["://"],
            ),
            None,
        ),
    ]
    return rules


# --- the gitleaks rule set -----------------------------------------------------------

# Rules claw's own rules and assignment scanner replace (a generic rule this wide is
# slow in Python's regex engine and mangles ordinary code).
_SKIPPED_GITLEAKS = frozenset({"generic-api-key", "pkcs12-file", "private-key"})


def _go_to_python(pattern: str) -> str:
    """Translate the RE2 features gitleaks uses that Python's ``re`` spells differently.

    A flag group in the middle, ``x(?i)y``, becomes ``x(?i:y)`` up to the end of
    its enclosing group; ``\\z`` becomes ``\\Z``; a ``[`` inside a class is
    escaped; a leading ``[\\w.-]{0,50}?`` (context before a keyword, never part
    of the secret) is dropped, since it costs Python a scan at every position.
    """
    pattern = pattern.replace(r"\z", r"\Z")
    out: list[str] = []
    closers = [0]  # per open group (the pattern itself first): ")" owed when it closes
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[":
                char = r"\["
            elif char in "&~|" and pattern[i + 1 : i + 2] == char:
                char = "\\" + char
            out.append(char)
            i += 1
            continue
        if char == "[":
            in_class = True
            opening = "[^" if pattern.startswith("[^", i) else "["
            i += len(opening)
            if pattern[i : i + 1] == "]":
                opening += "]"
                i += 1
            out.append(opening)
            continue
        flag = _INLINE_FLAG.match(pattern, i)
        if flag and out:
            out.append(f"(?{flag.group(1)}:")
            closers[-1] += 1
            i = flag.end()
            continue
        if char == "(":
            closers.append(0)
        elif char == ")" and len(closers) > 1:
            out.append(")" * closers.pop())
        out.append(char)
        i += 1
    out.append(")" * closers[0])
    text = "".join(out)
    while True:
        stripped = _LEADING_CONTEXT.sub(r"\1", text, count=1)
        if stripped == text:
            return text
        text = stripped


_INLINE_FLAG = _Lazy(r"\(\?([a-z]+)\)")
_LEADING_CONTEXT = _Lazy(r"^((?:\(\?i\)|\(\?i:)*)\[\\w\.-\]\{0,50\}\?")


def build_rule_data(toml_text: str) -> dict[str, Any]:
    """The gitleaks rule set as claw uses it: filtered, translated to Python's ``re``,
    every regex checked to compile. ``_data/gitleaks-rules.json`` is this, prebuilt,
    so a process reads 100 KB of JSON instead of parsing TOML and translating
    250 regexes at its first redaction (see :func:`write_rule_data`)."""
    import tomllib
    import warnings

    def python_regex(source: str) -> str | None:
        translated = _go_to_python(source)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                re.compile(translated)
        except (re.error, OverflowError, RecursionError):
            return None
        return translated

    data = tomllib.loads(toml_text)
    rules = []
    for entry in data.get("rules", []):
        if entry.get("id") in _SKIPPED_GITLEAKS or "regex" not in entry or entry.get("path"):
            continue
        keywords = entry.get("keywords") or []
        regex = python_regex(entry["regex"])
        if not keywords or regex is None:
            continue
        allows = []
        for allow in entry.get("allowlists", []):
            if allow.get("paths") or allow.get("commits"):
                continue  # a path or commit criterion never holds for free text
            regexes = [r for r in map(python_regex, allow.get("regexes", [])) if r is not None]
            stopwords = [w.lower() for w in allow.get("stopwords", [])]
            allows.append([allow.get("regexTarget", "secret"), regexes, stopwords])
        rules.append(
            {
                "id": entry["id"],
                "regex": regex,
                "keywords": [k.lower() for k in keywords],
                "entropy": float(entry.get("entropy", 0.0)),
                "group": entry.get("secretGroup") or None,
                "allow": allows,
            }
        )
    allowlist = data.get("allowlist", {})
    return {
        "rules": rules,
        "allow": [r for r in map(python_regex, allowlist.get("regexes", [])) if r is not None],
        "stopwords": [w.lower() for w in allowlist.get("stopwords", [])],
    }


def write_rule_data() -> None:
    """Rebuild ``_data/gitleaks-rules.json`` from ``_data/gitleaks.toml`` (after an update)."""
    import orjson

    data = build_rule_data(_DATA.read_text(encoding="utf-8"))
    _RULE_DATA.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def _gitleaks_rules() -> tuple[list[_Rule], list[_Lazy], tuple[str, ...]]:
    import orjson

    try:
        data = orjson.loads(_RULE_DATA.read_bytes())
    except (OSError, ValueError):
        return [], [], ()
    rules = []
    for entry in data["rules"]:
        rule = _Rule(
            entry["id"],
            entry["regex"],
            entry["keywords"],
            entropy=entry["entropy"],
            group=entry["group"],
        )
        for target, regexes, stopwords in entry["allow"]:
            rule.allow.append((target, [_Lazy(r) for r in regexes], tuple(stopwords)))
        rules.append(rule)
    return rules, [_Lazy(r) for r in data["allow"]], tuple(data["stopwords"])


def _entropy(value: str) -> float:
    if not value:
        return 0.0
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


# --- the assignment scanner ----------------------------------------------------------

_NAME_HINT = _Lazy(r"pass|pwd|secret|token|key|auth|cred|cookie", re.I)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_ASSIGNMENT = _Lazy(
    r"""(?P<q>["']?)[ \t]*(?P<sep>:=|=>|=(?!=)|:(?!:))[ \t]*"""
    r"""(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"'`,;(){}\[\]<>]+))"""
)
_HEADER_VALUE = _Lazy(
    r"""["']?[ \t]*[:=][ \t]*["']?(?:(?i:bearer|basic|token|digest|negotiate|apikey)[ \t]+)?"""
    r"""(?P<s>[^\s"'\\,]+)"""
)
_COOKIE_VALUE = _Lazy(r"""["']?[ \t]*[:=][ \t]*["']?(?P<s>[^"'\r\n\\]+)""")
_PLACEHOLDER = _Lazy(
    r"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|%[A-Za-z_]+%|<[^>]*>|\*+|x+|\.\.\.|…)$"
)
_CAMEL_WORDS = _Lazy(r"^(?:[A-Z][a-z]+){2,}$")
_DOTTED = _Lazy(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_STOPWORDS = frozenset(
    [
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "yes",
        "no",
        "str",
        "string",
        "int",
        "bool",
        "bytes",
        "any",
        "object",
        "optional",
        "secretstr",
        "list",
        "dict",
        "required",
        "changeme",
        "redacted",
        "hidden",
    ]
)
_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key"})
_COOKIES = frozenset({"cookie", "set-cookie"})


def _assignment_spans(text: str, spans: list[tuple[int, int]]) -> None:
    last_end = -1
    size = len(text)
    for hint in _NAME_HINT.finditer(text):
        start, end = hint.span()
        if start < last_end:
            continue
        while start > 0 and text[start - 1] in _NAME_CHARS:
            start -= 1
        while end < size and text[end] in _NAME_CHARS:
            end += 1
        last_end = end
        name = text[start:end].strip(".-")
        lowered = name.lower()
        if lowered in _HEADERS or lowered in _COOKIES:
            regex = _COOKIE_VALUE if lowered in _COOKIES else _HEADER_VALUE
            header = regex.match(text, end)
            if header and ":" in text[end : header.start("s")]:  # a header, not code
                spans.append(header.span("s"))
                continue
        env_style = name.isupper()
        if not is_secret_key(name, env_style=env_style):
            continue
        match = _ASSIGNMENT.match(text, end)
        if match is None:
            continue
        for group in ("dq", "sq", "bare"):
            value = match.group(group)
            if value is not None:
                break
        assert value is not None
        if (
            not value.strip()
            or value.startswith("$")
            or _PLACEHOLDER.match(value)
            or value.lower() in _STOPWORDS
        ):
            continue
        if group == "bare":
            after = text[match.end() : match.end() + 1]
            spaced_equals = "=" in match.group("sep") and not env_style
            if (
                after in ("(", "[", ".")
                or (not env_style and (_DOTTED.match(value) or _CAMEL_WORDS.match(value)))
                or (spaced_equals and re.fullmatch(r"[A-Za-z_]+", value))
            ):
                continue
            if value.isdigit() and len(value) < 6 and not env_style:
                continue
            if env_style:  # NAME=value runs to the end of the shell word
                stop = end = match.end("bare")
                while end < size and not text[end].isspace() and text[end] not in "\"'`":
                    end += 1
                spans.append((match.start("bare"), max(stop, end)))
                continue
        spans.append(match.span(group))


# --- state ---------------------------------------------------------------------------

_state: dict[str, Any] = {}


def _loaded() -> dict[str, Any]:
    if not _state:
        own = _own_rules()
        rules, global_allow, global_stop = _gitleaks_rules()
        _state.update(
            own=own,
            gitleaks=rules,
            keywords=_keyword_index(rules),
            allow=global_allow,
            stop=global_stop,
        )
        _state.setdefault("literals", None)
    return _state


def _keyword_index(rules: Sequence[_Rule]) -> Any:
    """Every rule's keywords in one Aho-Corasick automaton (``pyahocorasick``).

    Finding which of ~200 rules have a keyword in a text is then one pass over
    the text, instead of one substring search per keyword (400 searches of
    every tool result: most of the cost of writing a session record).
    """
    import ahocorasick

    owners: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        for keyword in rule.keywords:
            owners.setdefault(keyword, []).append(index)
    automaton = ahocorasick.Automaton()
    for keyword, indices in owners.items():
        automaton.add_word(keyword, tuple(indices))
    automaton.make_automaton()
    return automaton


def _rules_with_keywords(state: dict[str, Any], lowered: str) -> list[_Rule]:
    """The gitleaks rules one of whose keywords occurs in ``lowered``, in rule order."""
    automaton = state["keywords"]
    if not len(automaton):
        return []
    hit = {index for _end, indices in automaton.iter(lowered) for index in indices}
    rules: list[_Rule] = state["gitleaks"]
    return [rules[index] for index in sorted(hit)]


_AWS_SECRET = _Lazy(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_KEEP_PREFIX = _Lazy(r"^(?:sk-ant-|sk-proj-|sk-|gh[pousr]_|github_pat_|xox[a-z]-|AKIA|AIza)")
_known: set[str] = set()


def known_secrets(values: Iterable[str | None]) -> None:
    """Always mask these literal values (claw's own credentials) from now on.

    Values shorter than 8 characters are ignored: masking them would mangle
    ordinary text. Calling again adds to the set.
    """
    try:
        fresh = {v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= 8}
        if fresh - _known:
            _known.update(fresh)
            ordered = sorted(_known, key=len, reverse=True)
            _state["literals"] = re.compile("|".join(re.escape(v) for v in ordered))
            _redacted.cache_clear()
    except Exception:  # never raise from a redaction helper
        return


def _allowed(rule: _Rule, secret: str, match: re.Match[str], text: str, state: Any) -> bool:
    lowered = secret.lower()
    if any(r.search(secret) for r in state["allow"]) or any(s in lowered for s in state["stop"]):
        return True
    for target, regexes, stopwords in rule.allow:
        if stopwords and any(s in lowered for s in stopwords):
            return True
        if target == "match":
            subject = match.group()
        elif target == "line":
            line_start = text.rfind("\n", 0, match.start()) + 1
            line_end = text.find("\n", match.end())
            subject = text[line_start : line_end if line_end >= 0 else len(text)]
        else:
            subject = secret
        if any(r.search(subject) for r in regexes):
            return True
    return False


def _spans(text: str, lowered: str, *, full: bool = True) -> list[tuple[int, int]]:
    state = _loaded()
    spans: list[tuple[int, int]] = []
    literals = state.get("literals")
    if literals is not None:
        for match in literals.finditer(text):
            keep = _KEEP_PREFIX.match(match.group())
            spans.append((match.start() + (keep.end() if keep else 0), match.end()))
    aws_ids: list[int] = []
    for rule, validator in state["own"]:
        if not any(k in lowered for k in rule.keywords):
            continue
        pattern = rule.pattern()
        if pattern is None:
            continue
        for match in pattern.finditer(text):
            start, end = rule.secret_span(match)
            if end <= start or (validator is not None and not validator(text[start:end])):
                continue
            spans.append((start, end))
            if rule.name == "aws-access-key-id":
                aws_ids.append(start)
    for position in aws_ids:  # a 40-character secret access key next to its key id
        window = _AWS_SECRET.finditer(text, max(0, position - 300), position + 300)
        for match in window:
            value = match.group()
            if (
                any(c.isupper() for c in value)
                and any(c.islower() for c in value)
                and any(c.isdigit() for c in value)
            ):
                spans.append(match.span())
    if not full:
        return spans
    _assignment_spans(text, spans)
    for rule in _rules_with_keywords(state, lowered):
        pattern = rule.pattern()
        if pattern is None:
            continue
        for match in pattern.finditer(text):
            start, end = rule.secret_span(match)
            if end <= start:
                continue
            secret = text[start:end]
            if rule.entropy and _entropy(secret) < rule.entropy:
                continue
            if _allowed(rule, secret, match, text, state):
                continue
            prefix = next(
                (len(k) for k in rule.keywords if secret.lower().startswith(k) and len(k) <= 16),
                0,
            )
            if prefix and secret[prefix : prefix + 1] in ("-", "_", "."):
                prefix += 1
            if prefix * 2 < len(secret):
                start += prefix
            spans.append((start, end))
    return spans


def _apply(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    spans.sort()
    out = []
    position = 0
    current_start, current_end = spans[0]
    for start, end in spans[1:]:
        if start <= current_end:
            current_end = max(current_end, end)
            continue
        out += [text[position:current_start], MASK]
        position = current_end
        current_start, current_end = start, end
    out += [text[position:current_start], MASK, text[current_end:]]
    return "".join(out)


@functools.lru_cache(maxsize=256)
def _redacted(text: str) -> str:
    return _apply(text, _spans(text, text.lower()))


def redact(text: str) -> str:
    """``text`` with every recognised secret replaced by ``***`` (its prefix kept)."""
    if not isinstance(text, str) or not text:
        return text
    try:
        return _redacted(text)  # the same text is often written to the log and transcript
    except Exception:
        try:  # claw's own rules alone, should the rule set misbehave
            return _apply(text, _spans(text, text.lower(), full=False))
        except Exception:
            return _WITHHELD


def redact_json(value: Any, key: str = "") -> Any:
    """A copy of decoded JSON ``value`` with secrets masked.

    A string under a secret-looking key (``password``, ``api_key``, ``token``,
    ``client_secret``, ``Authorization`` ...) becomes ``***``; every other
    string goes through :func:`redact`. Dicts, lists and tuples are walked;
    other values are returned as they are.
    """
    try:
        if isinstance(value, str):
            if value and key and is_secret_key(key):
                return MASK
            return redact(value)
        if isinstance(value, Mapping):
            return {k: redact_json(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(redact_json(v, key) for v in value)
        return value
    except Exception:
        return _WITHHELD
