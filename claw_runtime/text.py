"""Text that enters the conversation is valid Unicode that encodes as UTF-8.

Python lets a ``str`` hold lone surrogates: ``os.fsdecode`` turns every byte
of a file name that is not UTF-8 into one (``b"caf\\xe9"`` becomes
``"caf\\udce9"``), and so do ``sys.argv`` and ``os.getcwd()`` for such bytes.
A plugin may return them too. orjson (the transcript, the request) refuses
them, so one odd file name used to crash a whole run. The policy, applied
once at each boundary where text enters the conversation (tool results in
``tooling._normalise``, the prompt in ``Agent.run`` and ``Message.user``, the
cwd in the transcript):

* **Names are shown with escapes.** A surrogate-escaped byte ``\\udcXX``
  becomes the visible four characters ``\\xXX``, so ``caf\\xe9.txt`` is what
  the model, the transcript and the user see; no byte is silently lost. Any
  other lone surrogate becomes ``\\uXXXX``; a surrogate *pair* is joined into
  the character it encodes.
* **Content is decoded with replacement.** File contents are decoded by the
  tools themselves (``Read``: UTF-8 or the declared Latin-1 fallback, see
  ``claw_runtime.tools._encoding``); bytes that still do not decode show as
  U+FFFD. They never reach this module as surrogates.
* **Valid text is untouched**, and cheaply: the common case is one
  ``str.encode`` that succeeds.

The escapes are for display: a name shown as ``caf\\xe9.txt`` cannot be typed
back to reach the file, just as in ``ls -b``.
"""

from __future__ import annotations

import re

__all__ = ["clean_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"


def clean_text(text: str) -> str:
    """``text`` if it encodes as UTF-8; else with its surrogates made visible escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return text
    # Join surrogate pairs (a character split in two) before escaping the rest.
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _SURROGATE.sub(_escape, joined)
