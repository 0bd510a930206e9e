"""A provider whose credentials are missing: the session opens, the first request fails.

Slash commands that never call the model (``/help``, ``/cost``, ``/status``,
``/doctor``...) must work without an API key, so a session does not need one
to open: :meth:`Runtime.session_provider
<claw_runtime.runtime.Runtime.session_provider>` hands it this stand-in
instead, and the one-line error saying what to set comes when a request is
actually made (the session turns a prompt into that error before sending
anything; see :meth:`claw_runtime.sessions.session.Session.run`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import attrs

from claw_runtime.errors import ProviderConfigError
from claw_runtime.providers.base import ModelRequest, StreamEvent

__all__ = ["UnconfiguredProvider"]


@attrs.define(eq=False, kw_only=True)
class UnconfiguredProvider:
    """Stands in for provider ``name`` until a request needs it; then raises ``error``."""

    name: str
    error: ProviderConfigError
    """What resolving the provider said (``no Anthropic credentials: set ...``)."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[StreamEvent, None]:
        """Raises the missing-credentials error; yields nothing.

        Raises:
            ProviderConfigError: always.
        """
        raise self.error
        yield  # an async generator, as the protocol says  # pragma: no cover
