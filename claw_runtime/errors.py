"""Every exception the runtime raises on purpose, in one tree.

::

    ClawError                      base of everything below; ``str()`` is a one-line,
    |                              user-facing message that says what to do
    +-- ConfigError                a settings file or flag is wrong (names file and key)
    +-- PluginError                a plugin failed to load or raised inside a hook
    +-- ToolError                  a tool could not do its job; becomes an is_error result
    |   +-- ToolInputError         the model's input did not match the tool's schema
    +-- TaskError                  base for scheduler outcomes seen through result()
    |   +-- TaskFailed             the task raised; ``__cause__`` is the original error
    |   +-- TaskCancelled          the task (or an ancestor) was cancelled
    |   +-- TaskTimedOut           the task ran past its timeout
    +-- ProviderError              talking to a model failed
        +-- ProviderConfigError    no key, unknown provider or model
        +-- ProviderHTTPError      a non-retryable HTTP status (400/401/403/413, spend limit)
        +-- ProviderStreamError    a broken stream: truncated, invalid SSE, error event, stall
        +-- RetriesExhausted       every retry failed; ``__cause__`` is the last failure

Provider errors are converted at the provider boundary with the httpx error kept
as ``__cause__``, so nothing above the providers ever catches an httpx exception.
"""

from __future__ import annotations

__all__ = [
    "ClawError",
    "ConfigError",
    "PluginError",
    "ProviderConfigError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderStreamError",
    "RetriesExhausted",
    "TaskCancelled",
    "TaskError",
    "TaskFailed",
    "TaskTimedOut",
    "ToolError",
    "ToolInputError",
]


class ClawError(Exception):
    """Base class. The message is what the user sees, on one line."""


class ConfigError(ClawError):
    """A settings file, environment variable or flag has a wrong key or value."""


class PluginError(ClawError):
    """A plugin could not be loaded, or raised inside a hook."""

    def __init__(self, plugin: str, hook: str | None, reason: str) -> None:
        where = f"in hook {hook!r}" if hook else "while loading"
        super().__init__(f"plugin {plugin!r} failed {where}: {reason}")
        self.plugin = plugin
        self.hook = hook
        self.reason = reason


class ToolError(ClawError):
    """Raised by a tool to report a failure the model should read and act on."""


class ToolInputError(ToolError):
    """The input the model gave does not fit the tool's schema."""


class TaskError(ClawError):
    """Base class for a scheduled task's unsuccessful outcome."""


class TaskFailed(TaskError):
    """The task raised; the original exception is ``__cause__``."""


class TaskCancelled(TaskError):
    """The task was cancelled, directly or through its parent."""


class TaskTimedOut(TaskError):
    """The task ran longer than its timeout."""


class ProviderError(ClawError):
    """Talking to the model failed."""


class ProviderConfigError(ProviderError):
    """The provider cannot be used as configured (no key, unknown name)."""


class ProviderHTTPError(ProviderError):
    """The model API answered with a status that retrying will not fix."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ProviderStreamError(ProviderError):
    """The response stream broke: truncated, invalid, an error event, or silent too long."""


class RetriesExhausted(ProviderError):
    """Every attempt failed; ``__cause__`` is the last failure."""
