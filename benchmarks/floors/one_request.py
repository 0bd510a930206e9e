"""The floor of ``claw -p hi``: a bare trio + httpx program making the same request.

One streamed Anthropic Messages request to ``ANTHROPIC_BASE_URL``, the SSE
stream read to the end and the text printed; nothing else. What claw adds on
top of this (plugins, settings, the loop, the session file) is its overhead.

httpx imports its command-line client (click, rich) whenever those are
installed, as they are beside the MCP SDK; claw defers that import
(``claw_runtime/_httpx_cli.py``), and so does this floor, so that it stays the floor.
"""

import json
import os
import sys
import types

sys.modules["httpx._main"] = types.ModuleType("httpx._main")
sys.modules["httpx._main"].main = lambda: None  # type: ignore[attr-defined]

import httpx  # noqa: E402
import trio  # noqa: E402


async def main() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "stream": True,
        "messages": [{"role": "user", "content": sys.argv[1] if len(sys.argv) > 1 else "hi"}],
    }
    headers = {"x-api-key": os.environ["ANTHROPIC_API_KEY"], "anthropic-version": "2023-06-01"}
    url = os.environ["ANTHROPIC_BASE_URL"].rstrip("/") + "/v1/messages"
    text = []
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", url, json=body, headers=headers) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event.get("type") == "content_block_delta":
                    text.append(event["delta"].get("text", ""))
    print("".join(text))


trio.run(main)
