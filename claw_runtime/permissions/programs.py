"""What programs do with their options: the data behind the shell parser's verdicts.

An allow rule such as ``Bash(sed:*)`` names a program; it does not vouch for
the options of that program that write files or run other programs
(``sed -i``, ``sed 's/x/y/e'``, ``find -exec``, ``git -c core.pager=...``).
This module keeps, per program, as data:

``PROGRAMS``
    A :class:`Program` per program name: which short and long options take an
    argument (so an option's argument is never mistaken for a file or a
    subcommand), which options write or execute (``unsafe_short`` /
    ``unsafe_long``; long options also match their GNU abbreviations, so
    ``--in-pl`` is ``--in-place``), which option arguments and operands are
    files the program reads (``read_short`` / ``read_long`` / ``operands``),
    ``always`` when the program itself writes or runs code whatever its options
    (``cp``, ``tee``, ``make``, editors), ``inert`` when no option of it can
    write or execute (a glob that expands to ``-x`` is then harmless), and
    ``check``: a function for what a table cannot say (a sed script's ``w``/``e``
    commands, an awk program's ``system()``/``>``/``|``, git's subcommands).

``WRAPPERS``
    Programs that run another program (``timeout -s KILL 5 rm x``), with their
    options that take an argument, how many positional arguments come before
    the command (``timeout``'s duration, ``flock``'s lock file, ``chroot``'s
    directory), and options whose argument is itself a command line
    (``flock -c``, ``su -c``, ``env -S``, ``script -c``).

``SHELLS``
    Shells and their options that take an argument (``bash -O extglob -c``).

:func:`program_unsafe` answers "why no allow rule may cover this command"
(None when rules decide), and :func:`program_reads` lists the paths a command
reads as written, for read deny rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Literal

import attrs

__all__ = [
    "INTERPRETERS",
    "PROGRAMS",
    "SHELLS",
    "WRAPPERS",
    "Program",
    "Shell",
    "Wrapper",
    "parse_options",
    "program_inert",
    "program_reads",
    "program_unsafe",
]

SAFE_REDIRECT_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
"""Where output may go without writing anything."""

Operands = Literal["none", "files", "after_first", "sources", "first"]


@attrs.frozen
class Option:
    """One parsed option: its spelling (``-i``, ``--in-place``) and its argument."""

    name: str
    arg: str | None = None


def _resolve_long(name: str, known: frozenset[str]) -> list[str]:
    """The long options ``--name`` may stand for (GNU accepts unambiguous prefixes)."""
    if name in known:
        return [name]
    return [k for k in known if k.startswith(name)]


def parse_options(
    words: Sequence[str],
    short_args: str = "",
    long_args: frozenset[str] = frozenset(),
    *,
    permute: bool = True,
    optional_short: str = "",
) -> tuple[list[Option], list[str]]:
    """Options (with arguments) and operands, the way getopt_long reads them.

    ``short_args``: letters whose option takes an argument (attached or the next
    word); ``long_args``: long names (``--name``) taking one (``=value`` or the
    next word); ``permute``: options may follow operands (GNU), else the first
    operand ends the options; ``optional_short``: letters with an optional
    attached argument (``xargs -i``).
    """
    opts: list[Option] = []
    operands: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            operands.extend(words[i:])
            break
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word.partition("=")
            if eq:
                opts.append(Option(name, value))
                continue
            if any(r in long_args for r in _resolve_long(name, long_args)) and i < len(words):
                opts.append(Option(name, words[i]))
                i += 1
                continue
            opts.append(Option(name))
            continue
        if word.startswith("-") and len(word) > 1:
            for j, char in enumerate(word[1:], start=1):
                if char in optional_short:
                    opts.append(Option("-" + char, word[j + 1 :] or None))
                    break
                if char in short_args:
                    rest = word[j + 1 :]
                    if rest:
                        opts.append(Option("-" + char, rest))
                    elif i < len(words):
                        opts.append(Option("-" + char, words[i]))
                        i += 1
                    else:
                        opts.append(Option("-" + char))
                    break
                opts.append(Option("-" + char))
            continue
        operands.append(word)
        if not permute:
            operands.extend(words[i:])
            break
    return opts, operands


Check = Callable[[list[Option], list[str], Sequence[str]], "str | None"]


@attrs.frozen
class Program:
    """What one program's options and operands do (see the module docstring)."""

    short_args: str = ""
    long_args: frozenset[str] = frozenset()
    unsafe_short: str = ""
    unsafe_long: frozenset[str] = frozenset()
    read_short: str = ""
    read_long: frozenset[str] = frozenset()
    operands: Operands = "none"
    always: str | None = None
    inert: bool = False
    permute: bool = True
    check: Check | None = None

    def parse(self, args: Sequence[str]) -> tuple[list[Option], list[str]]:
        return parse_options(
            args,
            self.short_args,
            self.long_args | self.unsafe_long_with_arg,
            permute=self.permute,
        )

    @property
    def unsafe_long_with_arg(self) -> frozenset[str]:
        return frozenset(n for n in self.unsafe_long if n in self.long_args)


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


# --------------------------------------------------------------------------- checks


def _sed_script_unsafe(script: str) -> str | None:
    """Why a sed script writes files or runs commands (``w``, ``W``, ``e``, ``s///e``, ``s///w``).

    A script this scanner cannot follow is unsafe too.
    """
    i, n = 0, len(script)

    def skip_regex(i: int, delim: str) -> int:
        while i < n and script[i] != delim:
            if script[i] == "\\":
                i += 1
            elif script[i] == "\n":
                raise ValueError
            i += 1
        if i >= n:
            raise ValueError
        return i + 1

    try:
        while i < n:
            char = script[i]
            if char in " \t\n;{}!":
                i += 1
                continue
            # addresses: N, $, /re/, \cREc, first~step, addr1,addr2 (+N, ~N)
            if char.isdigit() or char in "$,+~":
                i += 1
                continue
            if char == "/":
                i = skip_regex(i + 1, "/")
                while i < n and script[i] in "IM":
                    i += 1
                continue
            if char == "\\" and i + 1 < n:
                i = skip_regex(i + 2, script[i + 1])
                continue
            if char == "#":
                while i < n and script[i] != "\n":
                    i += 1
                continue
            if char in "wWe":
                return f"sed command {char} writes a file or runs a command"
            if char in "sy":
                if i + 1 >= n or script[i + 1] in "\n\\":
                    raise ValueError
                delim = script[i + 1]
                i = skip_regex(i + 2, delim)
                i = skip_regex(i, delim)
                flags_start = i
                while i < n and script[i] not in ";\n}":
                    if char == "s" and script[i] in "we":
                        return f"sed s///{script[i]} writes a file or runs a command"
                    if char == "s" and script[i] not in "gpiImM0123456789 \t":
                        raise ValueError
                    i += 1
                del flags_start
                continue
            if char in "aicrRbtTvL:qQlz=dDgGhHnNpPxF":
                i += 1
                if char in "aicrRbtTv:":
                    # text, label or file name to the end of the line
                    while i < n and script[i] != "\n":
                        i += 1
                elif char in "qQlL":
                    while i < n and (script[i].isdigit() or script[i] in " \t"):
                        i += 1
                continue
            raise ValueError
    except ValueError:
        return "has a sed script the parser cannot follow"
    return None


def _sed_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    scripts: list[str] = []
    has_script_option = False
    for opt in opts:
        if opt.name == "-e" or (opt.name.startswith("--e") and "--expression".startswith(opt.name)):
            has_script_option = True
            scripts.append(opt.arg or "")
        if opt.name == "-f" or (opt.name.startswith("--f") and "--file".startswith(opt.name)):
            return f"sed {opt.name} runs a script file the parser cannot see"
    if not has_script_option:
        if not operands:
            return None
        scripts.append(operands[0])
    for script in scripts:
        why = _sed_script_unsafe(script)
        if why:
            return why
    return None


def _sed_files(opts: list[Option], operands: list[str]) -> list[str]:
    scripted = any(o.name in ("-e", "-f") or o.name.startswith(("--e", "--f")) for o in opts)
    return operands if scripted else operands[1:]


_AWK_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _awk_program_unsafe(program: str) -> str | None:
    code = _AWK_STRING.sub('""', program)
    # regex literals may hold | and >; they are harmless but indistinguishable here
    if re.search(r"\bsystem\s*\(", code):
        return "awk program calls system()"
    if "|" in code:
        return "awk program pipes to or from a command (|)"
    if re.search(r">(?!=)", code):
        return "awk program may write a file (>)"
    if "@" in code:
        return "awk program uses @load/@include or an indirect call"
    if re.search(r"\b(ENVIRON|PROCINFO)\b", code) and "system" in code:
        return "awk program builds a command"
    return None


def _awk_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    programs: list[str] = []
    from_option = False
    for opt in opts:
        if opt.name in ("-f", "-i", "-l", "-E") or opt.name.startswith(
            ("--f", "--i", "--l", "--exec", "--load", "--include")
        ):
            return f"awk {opt.name} runs a program file the parser cannot see"
        if opt.name in ("-e",) or opt.name.startswith("--so"):
            from_option = True
            programs.append(opt.arg or "")
    if not from_option and operands:
        programs.append(operands[0])
    for text in programs:
        why = _awk_program_unsafe(text)
        if why:
            return why
    return None


def _awk_files(opts: list[Option], operands: list[str]) -> list[str]:
    from_option = any(o.name in ("-e", "-f") or o.name.startswith(("--so", "--f")) for o in opts)
    files = operands if from_option else operands[1:]
    return [f for f in files if "=" not in f]  # var=value operands are assignments


_GIT_GLOBAL_ARGS = _fs("--namespace", "--super-prefix", "--list-cmds", "--attr-source")
_GIT_GLOBAL_UNSAFE = ("-c", "-C", "-p", "--paginate", "--git-dir", "--work-tree", "--config-env")
_GIT_UNSAFE_SUBCOMMANDS = {
    "difftool": "runs a configured diff tool",
    "mergetool": "runs a configured merge tool",
    "filter-branch": "runs shell commands",
    "instaweb": "starts a web server and browser",
    "web--browse": "runs a browser",
    "send-email": "runs sendmail",
    "help": "may run a browser or man pager",
    "credential": "runs credential helpers",
}
_GIT_ANYWHERE = ("--upload-pack", "--receive-pack", "--exec", "--ext-diff", "--output", "--extcmd")
_GIT_CONFIG_READS = _fs(
    "--get", "--get-all", "--get-regexp", "--get-urlmatch", "--list", "-l", "get", "list"
)
_GIT_CONFIG_WRITES = _fs(
    "--add",
    "--unset",
    "--unset-all",
    "--replace-all",
    "--rename-section",
    "--remove-section",
    "--edit",
    "-e",
    "set",
    "unset",
    "rename-section",
    "remove-section",
    "edit",
)


def _git_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    args = list(words[1:])
    i = 0
    while i < len(args) and args[i].startswith("-"):
        word = args[i]
        name = word.split("=", 1)[0]
        if name in _GIT_GLOBAL_UNSAFE or (word.startswith(("-c", "-C")) and len(word) > 2):
            return f"git {word} can change what git runs or where it writes"
        if name == "--exec-path" and "=" in word:
            return f"git {word} runs programs from another directory"
        if name in _GIT_GLOBAL_ARGS and "=" not in word:
            i += 1
        i += 1
    rest = args[i:]
    if not rest:
        return None
    sub = rest[0]
    if sub.startswith("!"):
        return f"git {sub} runs a shell command"
    if sub in _GIT_UNSAFE_SUBCOMMANDS:
        return f"git {sub} {_GIT_UNSAFE_SUBCOMMANDS[sub]}"
    for word in rest[1:]:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        if (
            name.startswith("--")
            and any(u.startswith(name) for u in _GIT_ANYWHERE)
            and len(name) > 4
        ):
            return f"git {sub} {word} writes a file or runs a program"
        if "core.pager" in word.lower() or "diff.external" in word.lower():
            return f"git {sub} {word} names a program to run"
    if sub == "format-patch" and any(w == "-o" or w.startswith("-o") for w in rest[1:]):
        return "git format-patch -o writes files"
    if sub == "rebase" and any(w in ("-x",) or w.startswith("-x") for w in rest[1:]):
        return "git rebase -x runs commands"
    if sub == "grep" and any(w.startswith(("-O", "--open-files")) for w in rest[1:]):
        return "git grep -O runs a pager on the matches"
    if sub == "bisect" and "run" in rest[1:2]:
        return "git bisect run runs a command"
    if sub == "submodule" and "foreach" in rest[1:]:
        return "git submodule foreach runs a command"
    if sub == "config":
        flags = set(rest[1:])
        if flags & _GIT_CONFIG_WRITES or not flags & _GIT_CONFIG_READS:
            return "git config changes the configuration (pager, aliases, hooks)"
    return None


_FIND_UNSAFE = _fs(
    "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"
)


def _find_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    for word in words[1:]:
        if word in _FIND_UNSAFE:
            return f"find {word} runs, deletes or writes things"
    return None


_TAR_MODES_SAFE = _fs("-t", "--list")
_TAR_UNSAFE_LONG = _fs(
    "--to-command",
    "--checkpoint-action",
    "--use-compress-program",
    "--rsh-command",
    "--rmt-command",
    "--info-script",
    "--new-volume-script",
    "--files-from",
    "--directory",
    "--listed-incremental",
    "--index-file",
    "--volno-file",
    "--extract",
    "--get",
    "--create",
    "--append",
    "--update",
    "--catenate",
    "--concatenate",
    "--delete",
    "--transform",
    "--xform",
)


def _tar_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    args = list(words[1:])
    if args and not args[0].startswith("-"):
        args[0] = "-" + args[0]  # tar's old style: tar xvf a.tar
    parsed, _ = parse_options(
        args,
        "fCIFTgKLNVXbH",
        _fs("--file", "--directory", "--use-compress-program", "--files-from", "--exclude"),
    )
    listing = False
    for opt in parsed:
        name = opt.name
        if name in ("-x", "-c", "-r", "-u", "-A", "-C", "-I", "-F", "-T", "-g", "-K"):
            return f"tar {name} writes files or runs a program"
        if name.startswith("--") and any(u.startswith(name) for u in _TAR_UNSAFE_LONG):
            return f"tar {name} writes files or runs a program"
        if name in _TAR_MODES_SAFE:
            listing = True
        if name in ("-f", "--file") and opt.arg and ":" in opt.arg:
            return "tar -f HOST:FILE runs a remote shell"
    if not listing:
        return "tar without -t may write files"
    return None


def _rsync_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    for opt in opts:
        if opt.name in ("-e", "--rsh", "--rsync-path") or opt.name.startswith(
            ("--rsh", "--rsync-p")
        ):
            return f"rsync {opt.name} runs a program"
    if any(":" in o for o in operands):
        return "rsync to or from a remote runs a remote shell"
    if any(o.name.startswith("--list-o") for o in opts) or len(operands) <= 1:
        return None
    return "rsync writes its destination"


_NPM_SAFE_FLAGS = _fs(
    "--silent",
    "-s",
    "--quiet",
    "-q",
    "--if-present",
    "--verbose",
    "-d",
    "--json",
    "--ignore-scripts",
    "--color",
    "--no-color",
    "--workspaces",
    "--ws",
    "--loglevel",
    "--workspace",
    "-w",
    "--offline",
)


def _npm_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    args = list(words[1:])
    sub = next((w for w in args if not w.startswith("-")), "")
    if sub in ("exec", "x", "explore", "edit", "config", "c", "set", "init", "create", "innit"):
        return f"npm {sub} runs or configures arbitrary programs"
    for word in args:
        if word == "--":
            break  # the rest goes to the script
        if word.startswith("-") and word.split("=", 1)[0] not in _NPM_SAFE_FLAGS:
            return f"npm {word} may change which programs npm runs or where it writes"
    return None


def _interpreter_check(flags: str, longs: tuple[str, ...]) -> Check:
    def check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
        for word in words[1:]:
            if word == "--" or not word.startswith("-"):
                break
            if word.startswith("--"):
                if word.split("=", 1)[0] in longs:
                    return f"{words[0]} {word} runs code given on the command line"
                continue
            if any(c in flags for c in word[1:]):
                return f"{words[0]} {word} runs code given on the command line"
        return None

    return check


def _tee_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    writes = [o for o in operands if o not in SAFE_REDIRECT_TARGETS]
    return f"tee writes {writes[0]}" if writes else None


def _second_operand_writes(name: str) -> Check:
    def check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
        if len(operands) >= 2 and operands[1] != "-":
            return f"{name} writes its second operand {operands[1]}"
        return None

    return check


def _dd_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    for word in operands:
        if word.startswith("of="):
            return f"dd {word} writes a file"
    return None


def _unzip_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    names = {o.name for o in opts}
    if "-d" in names:
        return "unzip -d writes into a directory"
    if names & {"-l", "-t", "-p", "-v", "-Z", "-z"}:
        return None
    return "unzip extracts (writes) files"


def _less_check(opts: list[Option], operands: list[str], words: Sequence[str]) -> str | None:
    for word in words[1:]:
        if word.startswith("+"):
            return f"less {word} runs less commands"
    return None


# --------------------------------------------------------------------------- tables

_READERS_FILES = "files"

PROGRAMS: dict[str, Program] = {
    # programs that only print: nothing an option does writes or executes
    "echo": Program(inert=True),
    "printf": Program(inert=True),
    "pwd": Program(inert=True),
    "true": Program(inert=True),
    "false": Program(inert=True),
    "ls": Program(short_args="IwT", long_args=_fs("--ignore", "--hide", "--width"), inert=True),
    "cat": Program(operands="files", inert=True),
    "head": Program(short_args="nc", long_args=_fs("--lines", "--bytes"), operands="files"),
    "tail": Program(
        short_args="ncs",
        long_args=_fs("--lines", "--bytes", "--pid", "--sleep-interval", "--max-unchanged-stats"),
        operands="files",
    ),
    "wc": Program(read_long=_fs("--files0-from"), operands="files"),
    "nl": Program(short_args="bdfhilnsvw", operands="files"),
    "tac": Program(short_args="s", long_args=_fs("--separator"), operands="files"),
    "cut": Program(short_args="bcdf", long_args=_fs("--output-delimiter"), operands="files"),
    "od": Program(short_args="AjNSt", operands="files"),
    "strings": Program(short_args="nteT", operands="files"),
    "base64": Program(short_args="w", operands="files"),
    "diff": Program(
        short_args="CUIxXSFWL",
        long_args=_fs("--label", "--exclude", "--exclude-from", "--ignore-matching-lines"),
        read_short="X",
        read_long=_fs("--exclude-from", "--from-file", "--to-file"),
        operands="files",
    ),
    "cmp": Program(short_args="inl", operands="files"),
    "comm": Program(operands="files"),
    "paste": Program(short_args="d", operands="files"),
    "md5sum": Program(operands="files"),
    "sha1sum": Program(operands="files"),
    "sha256sum": Program(operands="files"),
    "grep": Program(
        short_args="efmABCdD",
        long_args=_fs(
            "--regexp",
            "--file",
            "--max-count",
            "--after-context",
            "--before-context",
            "--context",
            "--include",
            "--exclude",
            "--exclude-dir",
            "--exclude-from",
            "--label",
            "--binary-files",
            "--devices",
            "--directories",
        ),
        read_short="f",
        read_long=_fs("--file", "--exclude-from"),
        operands="after_first",
    ),
    "rg": Program(
        short_args="ABCefgmMtTjEd",
        long_args=_fs(
            "--regexp",
            "--file",
            "--glob",
            "--iglob",
            "--type",
            "--type-not",
            "--max-count",
            "--max-depth",
            "--encoding",
            "--pre",
            "--pre-glob",
            "--ignore-file",
            "--context",
            "--after-context",
            "--before-context",
            "--threads",
            "--replace",
            "--type-add",
        ),
        unsafe_long=_fs("--pre"),
        read_short="f",
        read_long=_fs("--file", "--ignore-file"),
        operands="after_first",
    ),
    "sort": Program(
        short_args="ktoST",
        long_args=_fs(
            "--key",
            "--field-separator",
            "--output",
            "--buffer-size",
            "--temporary-directory",
            "--parallel",
            "--batch-size",
            "--compress-program",
            "--files0-from",
            "--random-source",
        ),
        unsafe_short="o",
        unsafe_long=_fs("--output", "--compress-program"),
        read_long=_fs("--files0-from", "--random-source"),
        operands="files",
    ),
    "uniq": Program(
        short_args="fsw",
        operands="first",
        check=_second_operand_writes("uniq"),
    ),
    "xxd": Program(
        short_args="cglosn",
        operands="first",
        check=_second_operand_writes("xxd"),
    ),
    "less": Program(
        short_args="bhjkoOpPtTxyz#",
        long_args=_fs("--log-file", "--LOG-FILE", "--lesskey-file", "--lesskey-src", "--tag"),
        unsafe_short="oOk",
        unsafe_long=_fs("--log-file", "--LOG-FILE", "--lesskey-file", "--lesskey-src"),
        operands="files",
        check=_less_check,
    ),
    "more": Program(short_args="n", operands="files", check=_less_check),
    "sed": Program(
        short_args="efl",
        long_args=_fs("--expression", "--file", "--line-length"),
        unsafe_short="i",
        unsafe_long=_fs("--in-place"),
        read_short="f",
        read_long=_fs("--file"),
        check=_sed_check,
    ),
    "awk": Program(
        short_args="fvFeEil",
        long_args=_fs("--file", "--assign", "--field-separator", "--source", "--include"),
        unsafe_long=_fs("--exec", "--load", "--include", "--dump-variables", "--profile"),
        read_short="f",
        read_long=_fs("--file"),
        check=_awk_check,
        permute=False,
    ),
    "git": Program(check=_git_check, permute=False),
    "find": Program(check=_find_check, permute=False),
    "tar": Program(check=_tar_check),
    "rsync": Program(
        short_args="eBfTM",
        long_args=_fs("--rsh", "--rsync-path", "--filter", "--exclude", "--include"),
        unsafe_long=_fs(
            "--log-file", "--write-batch", "--only-write-batch", "--remove-source-files"
        ),
        check=_rsync_check,
    ),
    "npm": Program(check=_npm_check),
    "pytest": Program(
        short_args="pockmrxW",
        long_args=_fs(
            "--log-file",
            "--junitxml",
            "--junit-xml",
            "--override-ini",
            "--basetemp",
            "--rootdir",
            "--confcutdir",
            "--config-file",
            "--resultlog",
            "--result-log",
            "--report-log",
            "--pastebin",
            "--pdbcls",
            "--debug",
        ),
        unsafe_short="poc",
        unsafe_long=_fs(
            "--log-file",
            "--junitxml",
            "--junit-xml",
            "--override-ini",
            "--basetemp",
            "--rootdir",
            "--confcutdir",
            "--config-file",
            "--resultlog",
            "--result-log",
            "--report-log",
            "--pastebin",
            "--pdbcls",
            "--debug",
            "--html",
            "--cov-report",
        ),
    ),
    "man": Program(
        short_args="PpHlCML",
        long_args=_fs("--pager", "--preprocessor", "--html", "--config-file"),
        unsafe_short="PHlC",
        unsafe_long=_fs("--pager", "--html", "--local-file", "--config-file"),
    ),
    "zip": Program(always="zip writes an archive (and -TT runs a command)"),
    "unzip": Program(short_args="dx", check=_unzip_check),
    "tee": Program(check=_tee_check),
    "dd": Program(check=_dd_check),
    "cp": Program(
        short_args="tS",
        long_args=_fs("--target-directory", "--suffix"),
        operands="sources",
        always="cp writes files",
    ),
    "mv": Program(always="mv moves (writes) files"),
    "ln": Program(always="ln creates links"),
    "install": Program(always="install writes files"),
    "make": Program(always="make runs arbitrary recipes"),
    "gmake": Program(always="make runs arbitrary recipes"),
    "ninja": Program(always="ninja runs arbitrary build commands"),
    "npx": Program(always="npx downloads and runs programs"),
    "ssh": Program(always="ssh runs commands (and ProxyCommand locally)"),
    "crontab": Program(always="crontab schedules commands"),
    "at": Program(always="at schedules commands"),
    "batch": Program(always="batch schedules commands"),
}
for _editor in ("vi", "vim", "nvim", "view", "ex", "ed", "red", "emacs", "nano", "vimdiff"):
    PROGRAMS[_editor] = Program(always=f"{_editor} can write files and run commands (! and -c)")
for _alias in ("gawk", "mawk", "nawk", "busybox-awk"):
    PROGRAMS[_alias] = PROGRAMS["awk"]
PROGRAMS["egrep"] = PROGRAMS["fgrep"] = PROGRAMS["grep"]
PROGRAMS["most"] = PROGRAMS["less"]
PROGRAMS["py.test"] = PROGRAMS["pytest"]
PROGRAMS["gsed"] = PROGRAMS["sed"]

INTERPRETERS: dict[str, Program] = {
    "python": Program(check=_interpreter_check("cm", ("--command",))),
    "node": Program(
        check=_interpreter_check("epr", ("--eval", "--print", "--require", "--import"))
    ),
    "perl": Program(check=_interpreter_check("eEMmnpi", ())),
    "ruby": Program(check=_interpreter_check("erni", ())),
    "php": Program(check=_interpreter_check("rRBEF", ())),
    "lua": Program(check=_interpreter_check("el", ())),
    "deno": Program(check=_interpreter_check("", ())),
    "Rscript": Program(check=_interpreter_check("e", ())),
}
for _version in ("python2", "python3", "pypy", "pypy3", "python3.11", "python3.12", "python3.13"):
    INTERPRETERS[_version] = INTERPRETERS["python"]
INTERPRETERS["nodejs"] = INTERPRETERS["node"]
PROGRAMS.update(INTERPRETERS)


@attrs.frozen
class Wrapper:
    """A program that runs another: its options, and what comes before the command."""

    short_args: str = ""
    long_args: frozenset[str] = frozenset()
    positionals: int = 0
    """Arguments before the command (timeout's DURATION, flock's FILE, chroot's DIR)."""
    command_short: str = ""
    """Options whose argument is a command line (``flock -c``, ``su -c``, ``env -S``)."""
    command_long: frozenset[str] = frozenset()
    assignments: bool = False
    """NAME=value words may come before the command (env)."""
    joins: bool = False
    """The command words are joined and run by a shell (watch, su -c, ssh)."""
    optional_short: str = ""


WRAPPERS: dict[str, Wrapper] = {
    "env": Wrapper(
        short_args="uCS",
        long_args=_fs("--unset", "--chdir", "--split-string", "--default-signal", "--block-signal"),
        command_short="S",
        command_long=_fs("--split-string"),
        assignments=True,
    ),
    "timeout": Wrapper(short_args="sk", long_args=_fs("--signal", "--kill-after"), positionals=1),
    "nice": Wrapper(short_args="n", long_args=_fs("--adjustment")),
    "ionice": Wrapper(short_args="cnpPu", long_args=_fs("--class", "--classdata", "--pid")),
    "stdbuf": Wrapper(short_args="ioe", long_args=_fs("--input", "--output", "--error")),
    "xargs": Wrapper(
        short_args="InPdaELs",
        long_args=_fs(
            "--replace",
            "--max-args",
            "--max-procs",
            "--delimiter",
            "--arg-file",
            "--eof",
            "--max-lines",
            "--max-chars",
            "--process-slot-var",
        ),
        optional_short="iel",
    ),
    "flock": Wrapper(
        short_args="wEc",
        long_args=_fs("--timeout", "--conflict-exit-code", "--command"),
        positionals=1,
        command_short="c",
        command_long=_fs("--command"),
    ),
    "chroot": Wrapper(long_args=_fs("--userspec", "--groups"), positionals=1),
    "strace": Wrapper(short_args="oepsuEabIOSPX", long_args=_fs("--output", "--trace")),
    "ltrace": Wrapper(short_args="oepsuaADFlnxL", long_args=_fs("--output", "--library")),
    "script": Wrapper(
        short_args="cEOIBTmt",
        long_args=_fs(
            "--command", "--echo", "--log-out", "--log-in", "--log-io", "--logging-format"
        ),
        command_short="c",
        command_long=_fs("--command"),
    ),
    "nohup": Wrapper(),
    "setsid": Wrapper(),
    "doas": Wrapper(short_args="uC"),
    "sudo": Wrapper(
        short_args="ugCDhprtUT",
        long_args=_fs(
            "--user",
            "--group",
            "--close-from",
            "--chdir",
            "--host",
            "--prompt",
            "--role",
            "--type",
            "--other-user",
            "--command-timeout",
        ),
    ),
    "su": Wrapper(
        short_args="csgGw",
        long_args=_fs("--command", "--shell", "--group", "--supp-group", "--whitelist-environment"),
        positionals=1,
        command_short="c",
        command_long=_fs("--command", "--session-command"),
    ),
    "runuser": Wrapper(short_args="cugGs", positionals=0, command_short="c"),
    "command": Wrapper(),
    "builtin": Wrapper(),
    "exec": Wrapper(short_args="a"),
    "time": Wrapper(short_args="fo", long_args=_fs("--format", "--output")),
    "watch": Wrapper(
        short_args="nq",
        long_args=_fs("--interval", "--differences", "--equexit"),
        joins=True,
    ),
    "parallel": Wrapper(
        short_args="jSaIdEnNlLsP",
        long_args=_fs("--jobs", "--sshlogin", "--arg-file", "--delimiter", "--max-args"),
        joins=True,
    ),
    "unbuffer": Wrapper(),
    "taskset": Wrapper(positionals=1),
    "chrt": Wrapper(positionals=1),
    "prlimit": Wrapper(short_args="p", long_args=_fs("--pid")),
    "unshare": Wrapper(),
    "nsenter": Wrapper(short_args="tSGw", long_args=_fs("--target")),
    "firejail": Wrapper(),
    "systemd-run": Wrapper(short_args="pEu", long_args=_fs("--property", "--setenv", "--unit")),
    "catchsegv": Wrapper(),
    "busybox": Wrapper(),
    "sg": Wrapper(positionals=1, joins=True),
    "caffeinate": Wrapper(short_args="tw"),
    "entr": Wrapper(),
}


@attrs.frozen
class Shell:
    """A shell: its options that take an argument."""

    short_args: str = "oO"
    long_args: frozenset[str] = _fs("--rcfile", "--init-file")


SHELLS: dict[str, Shell] = {
    name: Shell() for name in ("bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "rbash", "yash")
}
SHELLS["fish"] = Shell(short_args="cCdDlio", long_args=_fs("--command", "--init-command"))


# --------------------------------------------------------------------------- questions


def _long_hits(name: str, unsafe: frozenset[str]) -> bool:
    """Whether ``--name`` is one of ``unsafe`` or a GNU abbreviation of one."""
    return len(name) > 3 and any(u == name or u.startswith(name) for u in unsafe)


def program_unsafe(words: Sequence[str]) -> str | None:
    """Why no allow rule may cover ``words`` (a command, program name first), or None."""
    name = words[0]
    program = PROGRAMS.get(name)
    if program is None:
        return None
    if program.always:
        return program.always
    opts, operands = program.parse(words[1:])
    for opt in opts:
        if opt.name.startswith("--"):
            if _long_hits(opt.name, program.unsafe_long):
                return f"{name} {opt.name} writes files or runs a program"
        elif opt.name[1:] in program.unsafe_short:
            return f"{name} {opt.name} writes files or runs a program"
    if program.check is not None:
        return program.check(opts, operands, words)
    return None


def program_inert(name: str) -> bool:
    """No option of ``name`` writes or executes (a glob expanding to ``-x`` is harmless)."""
    program = PROGRAMS.get(name)
    if program is None:
        return False
    return program.inert or not (
        program.unsafe_short or program.unsafe_long or program.check or program.always
    )


def program_reads(words: Sequence[str]) -> list[str]:
    """The paths ``words`` reads as written: file operands and options naming files read."""
    name = words[0]
    if name in ("source", "."):
        return list(words[1:2])
    program = PROGRAMS.get(name)
    if program is None:
        return []
    opts, operands = program.parse(words[1:])
    reads: list[str] = []
    for opt in opts:
        if opt.arg is None:
            continue
        if opt.name.startswith("--"):
            if any(r.startswith(opt.name) for r in program.read_long) and len(opt.name) > 3:
                reads.append(opt.arg)
        elif opt.name[1:] in program.read_short:
            reads.append(opt.arg)
    if name in ("sed", "gsed"):
        reads += _sed_files(opts, operands)
    elif name in ("awk", "gawk", "mawk", "nawk"):
        reads += _awk_files(opts, operands)
    elif program.operands == "files":
        reads += operands
    elif program.operands == "first":
        reads += operands[:1]
    elif program.operands == "after_first":
        pattern_given = any(
            o.name in ("-e", "-f") or o.name.startswith(("--regexp", "--file")) for o in opts
        )
        reads += operands if pattern_given else operands[1:]
    elif program.operands == "sources":
        target_dir = any(o.name in ("-t", "--target-directory") for o in opts)
        reads += operands if target_dir else operands[:-1]
    return [r for r in reads if r != "-"]
