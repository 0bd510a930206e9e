"""The floor of ``claw -p hi``: a bare trio + httpx program making the same request.

One streamed Anthropic Messages request to ``ANTHROPIC_BASE_URL``, the SSE
stream read to the end and the text printed; nothing else. What claw adds on
top of this (plugins, settings, the loop, the session file) is its overhead.
"""

import json
import os
import sys

import httpx
import trio


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
