"""The ``WebFetch`` tool: fetch a URL and return it as Markdown.

httpx with timeouts, a size cap (the body is streamed and cut), and at most a
few redirects. A redirect to another host is reported to the model with the
new URL instead of being followed, so a page cannot quietly send the agent
somewhere else. ``http://`` is upgraded to ``https://`` except on loopback.
HTML becomes Markdown through the maintained ``markdownify`` library.

With the sandbox enabled and its network off (``sandbox.network`` false),
WebFetch refuses before any connection is made: a sandbox without network
would be pointless if the agent could fetch (or send a secret in a URL to)
any host through this tool instead.

claw has no second, smaller model to apply ``prompt`` to the page (Claude Code
does); the tool returns the page with the prompt, and the main model reads it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from claw_runtime.errors import ToolError
from claw_runtime.hooks.specs import hookimpl
from claw_runtime.tooling import Param, Tool, ToolContext, tool, truncate_text
from claw_runtime.tools._sandbox import SANDBOX_KEY, SandboxConfig

__all__ = ["web_fetch"]

MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_CHARS = 100_000
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/xhtml",
    "application/javascript",
)


def html_to_markdown(html: str) -> str:
    """Readable Markdown: scripts, styles and other non-content elements removed first."""
    # Imported here: BeautifulSoup costs ~40 ms at start-up, and most runs never fetch.
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for element in soup(["script", "style", "noscript", "template", "svg", "iframe"]):
        element.decompose()
    markdown: str = MarkdownConverter(heading_style="ATX").convert_soup(soup)
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"Not a fetchable URL: {url!r} (use http:// or https://).")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        parts = parts._replace(scheme="https")
    return urlunsplit(parts)


async def _fetch(client: httpx.AsyncClient, url: str) -> tuple[str, str, bytes, bool]:
    """``(final url, content type, body, truncated)``; follows same-host redirects only."""
    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", url, follow_redirects=False, timeout=TIMEOUT) as response:
            if response.is_redirect:
                target = urljoin(url, response.headers.get("location", ""))
                if urlsplit(target).hostname != urlsplit(url).hostname:
                    raise ToolError(
                        f"{url} redirects to another host: {target}\n"
                        "Fetch that URL with WebFetch if you want to follow it."
                    )
                url = target
                continue
            if response.status_code >= 400:
                raise ToolError(f"Fetching {url} failed: HTTP {response.status_code}.")
            body = bytearray()
            truncated = False
            # The cap holds while streaming: never more than MAX_BYTES kept (a chunk
            # is sliced before it is added), and the rest of the body is not read.
            async for chunk in response.aiter_bytes():
                room = MAX_BYTES - len(body)
                body += chunk[:room]
                if len(chunk) > room:
                    truncated = True
                    break
            return url, response.headers.get("content-type", ""), bytes(body), truncated
    raise ToolError(f"Fetching {url} took more than {MAX_REDIRECTS} redirects.")


@tool(name="WebFetch", read_only=True, max_output_chars=MAX_CHARS + 2_000, urls=("url",))
async def web_fetch(
    url: Annotated[str, Param(description="The URL to fetch")],
    prompt: Annotated[str, Param(description="What to look for in the page")],
    ctx: ToolContext,
) -> str:
    """Fetch a web page and return its content as Markdown, with your prompt.

    HTTP is upgraded to HTTPS. A redirect to another host is reported, not followed.
    Binary content is refused. Long pages are cut with a notice.
    """
    sandbox = ctx.session.extras.get(SANDBOX_KEY)
    if isinstance(sandbox, SandboxConfig) and sandbox.enabled and not sandbox.network:
        raise ToolError(
            "WebFetch is unavailable: the sandbox is enabled with network access off "
            "(set sandbox.network to true to allow it)."
        )
    target = _normalise(url)
    try:
        if ctx.http is not None:
            final, content_type, body, truncated = await _fetch(ctx.http, target)
        else:
            async with httpx.AsyncClient() as client:
                final, content_type, body, truncated = await _fetch(client, target)
    except httpx.HTTPError as exc:
        raise ToolError(f"Fetching {target} failed: {type(exc).__name__}: {exc}") from None
    kind = content_type.split(";")[0].strip().lower()
    if kind and not kind.startswith(TEXT_TYPES):
        raise ToolError(f"{final} is {kind}, not text; WebFetch returns text and HTML only.")
    text = body.decode("utf-8", "replace")
    if kind in ("text/html", "application/xhtml+xml") or (
        not kind and "<html" in text[:1000].lower()
    ):
        text = html_to_markdown(text)
    notice = "\n\n[page cut at 10 MB]" if truncated else ""
    return f"Prompt: {prompt}\nURL: {final}\n\n{truncate_text(text, MAX_CHARS)}{notice}"


@hookimpl
def register_tools(register: Callable[[Tool], None]) -> None:
    register(web_fetch)
