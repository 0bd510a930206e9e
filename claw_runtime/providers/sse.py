"""Server-sent events, parsed incrementally from an async stream of bytes.

Chunk boundaries may fall anywhere: inside a line, inside a multibyte UTF-8
character, inside the JSON of a ``data:`` field. Bytes are decoded with an
incremental UTF-8 decoder and split into lines only when a line is complete.
Each read is bounded by an idle timeout on the trio clock: a stream that goes
silent is a failed attempt, not a hang.
"""

from __future__ import annotations

import codecs
import math
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import attrs
import httpx
import trio

from claw_runtime.errors import ProviderStreamError

__all__ = ["ServerSentEvent", "drain", "iter_sse"]

DRAIN_TIMEOUT_S = 0.5
"""How long to wait for the end of a response after its end marker."""


@attrs.frozen
class ServerSentEvent:
    """One event: its ``event:`` name (``message`` if none) and its joined ``data:`` lines."""

    event: str
    data: str


async def iter_sse(
    chunks: AsyncIterator[bytes],
    *,
    idle_timeout: float,
    deadline: float = math.inf,
    past_deadline: Callable[[], Exception] | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    """Yield each complete event of an SSE byte stream (comments and retries skipped).

    Each read of ``chunks`` waits at most ``idle_timeout`` seconds, and none
    goes on past ``deadline`` (the trio clock). A source that can bound its own
    reads (the runtime's HTTP transport: ``bound_reads``) is asked to, and
    then pays for a timeout only when it waits on its socket (most reads hand
    on bytes already there); for any other, one cancel scope per read bounds
    both.

    Raises:
        ProviderStreamError: a read went silent past ``idle_timeout``, or the
            bytes are not valid UTF-8.
        Exception: ``past_deadline()`` once ``deadline`` passed (default: a
            ``ProviderStreamError`` saying so).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    event_name = ""
    data: list[str] = []

    def take(line: str) -> ServerSentEvent | None:
        """Feed one line; the event it completes, if any."""
        nonlocal event_name, data
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            done = ServerSentEvent(event=event_name or "message", data="\n".join(data))
            complete = bool(data)
            event_name, data = "", []
            return done if complete else None
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event_name = value
        elif field == "data":
            data.append(value)
        return None

    iterator = aiter(chunks)
    bound = getattr(iterator, "bound_reads", None)
    if bound is not None:
        bound(idle_timeout, deadline)
    try:
        while True:
            if bound is not None:
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    break
                except httpx.ReadTimeout:
                    if trio.current_time() >= deadline:
                        raise (past_deadline or _past_deadline)() from None
                    raise _went_silent(idle_timeout) from None
            else:
                silent_at = trio.current_time() + idle_timeout
                with trio.CancelScope(deadline=min(silent_at, deadline)) as read:
                    try:
                        chunk = await anext(iterator)
                    except StopAsyncIteration:
                        break
                if read.cancelled_caught:
                    if deadline <= silent_at:
                        raise (past_deadline or _past_deadline)()
                    raise _went_silent(idle_timeout)
            try:
                buffer += decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ProviderStreamError(f"the model stream is not valid UTF-8: {exc}") from None
            *lines, buffer = buffer.split("\n")
            for raw in lines:
                event = take(raw)
                if event is not None:
                    yield event
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
    try:
        buffer += decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ProviderStreamError(f"the model stream is not valid UTF-8: {exc}") from None
    # The last line may lack its newline (``data: {"type": "message_stop"}<EOF>``,
    # as the SDKs' own recorded fixtures end): it is a line all the same, and a
    # final event without its blank line still counts.
    if buffer:
        take(buffer)
    if data:
        yield ServerSentEvent(event=event_name or "message", data="\n".join(data))


def _went_silent(idle_timeout: float) -> ProviderStreamError:
    return ProviderStreamError(f"the model stream went silent for {idle_timeout:g} s")


def _past_deadline() -> ProviderStreamError:
    return ProviderStreamError("the model stream did not finish before its deadline")


async def drain(events: AsyncIterator[ServerSentEvent]) -> None:
    """Read what is left of a response after its end marker.

    A response read to its end lets httpx return the connection to its pool,
    so the next turn skips the TCP handshake. A server that keeps talking
    after the end marker only costs a closed connection.
    """
    with trio.move_on_after(DRAIN_TIMEOUT_S):
        async for _ in events:
            pass
