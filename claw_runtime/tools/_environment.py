"""The environment of child processes: no start-up hooks from settings, no secrets in the sandbox.

Two separate rules live here.

**Start-up variables never come from the settings layer.** Settings files can
be committed to a repository (``.claw/settings.json``) and so written by
whoever wrote the repository, or by a command an earlier session ran. A
variable such as ``BASH_ENV``, ``LD_PRELOAD``, ``PYTHONSTARTUP`` or
``GIT_SSH_COMMAND`` is not configuration: it makes a shell, the dynamic
loader or an interpreter run code of the setter's choosing *before* the
command claw meant to run, in every Bash call and every command hook, with no
permission prompt ever naming that code. :func:`child_environment` therefore
applies settings' ``env`` on top of the real environment *except* for the
variables in :data:`STARTUP_VARIABLES` (and the prefixes in
:data:`STARTUP_PREFIXES`); those keep whatever value the user's own
environment gave them. A user who wants one exports it before starting claw.

**Credentials do not enter the sandbox.** A sandboxed command runs code the
model chose, which may have been steered by a file or a web page; it must not
be able to print claw's API key into its output (which goes back to the model
and the transcript). :func:`scrub_credentials` drops the variables in
:data:`CREDENTIAL_VARIABLES`, every name matching :data:`CREDENTIAL_PATTERN`
(``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``, ...), and any value
that is a URL with a password in it (``postgres://user:pw@host/db``).

===========================  ==================================================
Dropped in the sandbox       Why
===========================  ==================================================
ANTHROPIC_API_KEY,           claw's own provider credentials
ANTHROPIC_AUTH_TOKEN,
OPENAI_API_KEY,
CLAUDE_CODE_OAUTH_TOKEN
AWS_ACCESS_KEY_ID,           cloud credentials
AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN,
AZURE_CLIENT_SECRET,
GOOGLE_APPLICATION_CREDENTIALS
GITHUB_TOKEN, GH_TOKEN,      forge and registry tokens
GITLAB_TOKEN, NPM_TOKEN,
PYPI_TOKEN, HF_TOKEN
SSH_AUTH_SOCK,               agents that sign or decrypt on request
GPG_AGENT_INFO
\\*_API_KEY, \\*_APIKEY,     anything named like a secret
\\*_TOKEN, \\*_SECRET,
\\*_SECRET_KEY, \\*_PASSWORD,
\\*_PASSWD, \\*_CREDENTIALS,
\\*_PRIVATE_KEY
scheme://user:pw@host        a URL carrying a password, whatever its name
===========================  ==================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "CREDENTIAL_PATTERN",
    "CREDENTIAL_VARIABLES",
    "STARTUP_PREFIXES",
    "STARTUP_VARIABLES",
    "child_environment",
    "is_credential",
    "is_startup_variable",
    "scrub_credentials",
]

STARTUP_VARIABLES: frozenset[str] = frozenset(
    {
        # shells: files sourced or code run before the command
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "IFS",
        "CDPATH",
        "GLOBIGNORE",
        "HISTFILE",
        "INPUTRC",
        "ZDOTDIR",
        "FPATH",
        # the dynamic loader
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "LD_BIND_NOW",
        "LD_PROFILE",
        # interpreters
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "PYTHONUSERBASE",
        "PYTHONEXECUTABLE",
        "PYTHONWARNINGS",
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "PERL5DB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
        "LUA_INIT",
        "TCLLIBPATH",
        # git: config, helpers and programs git runs
        "GIT_EXEC_PATH",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "GIT_EDITOR",
        "GIT_PAGER",
        "GIT_EXTERNAL_DIFF",
        "GIT_PROXY_COMMAND",
        "GIT_TEMPLATE_DIR",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "SSH_ASKPASS",
        # programs other programs start for you
        "EDITOR",
        "VISUAL",
        "PAGER",
        "MANPAGER",
        "LESSOPEN",
        "LESSCLOSE",
        "BROWSER",
    }
)
"""Variables that change how a shell, the loader or an interpreter starts."""

STARTUP_PREFIXES: tuple[str, ...] = ("DYLD_", "GIT_CONFIG", "LD_")
"""Whole families: macOS's loader, git's config injection (GIT_CONFIG_COUNT,
GIT_CONFIG_KEY_0, GIT_CONFIG_PARAMETERS, GIT_CONFIG_GLOBAL...), the Linux loader."""

CREDENTIAL_VARIABLES: frozenset[str] = frozenset(
    {
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITLAB_TOKEN",
        "NPM_TOKEN",
        "PYPI_TOKEN",
        "HF_TOKEN",
        "SSH_AUTH_SOCK",
        "GPG_AGENT_INFO",
    }
)
"""Named credentials dropped from a sandboxed command's environment."""

CREDENTIAL_PATTERN = re.compile(
    r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|SECRET_KEY|PASSWORD|PASSWD|CREDENTIALS?|PRIVATE_KEY)$",
    re.IGNORECASE,
)
"""Names that look like a secret: ``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD``..."""

_URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE)


def is_startup_variable(name: str) -> bool:
    """Whether ``name`` changes how a shell, the loader or an interpreter starts."""
    return name in STARTUP_VARIABLES or name.startswith(STARTUP_PREFIXES)


def is_credential(name: str, value: str = "") -> bool:
    """Whether the variable ``name=value`` likely carries a secret."""
    return (
        name.upper() in CREDENTIAL_VARIABLES
        or CREDENTIAL_PATTERN.search(name) is not None
        or _URL_WITH_PASSWORD.search(value) is not None
    )


def child_environment(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """``base`` with ``overrides`` applied, except the start-up variables.

    ``base`` is the environment claw itself was started with (the user's own);
    ``overrides`` is the settings layer (settings' ``env``, which a repository
    can ship). An override of a start-up variable (:func:`is_startup_variable`)
    is ignored, so a settings file can never make every later shell or hook run
    its code first; the base's own value, if any, is kept.
    """
    env = dict(base)
    for name, value in overrides.items():
        if not is_startup_variable(name):
            env[name] = value
    return env


def scrub_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables that likely carry a secret (see the module's table)."""
    return {name: value for name, value in env.items() if not is_credential(name, value)}
