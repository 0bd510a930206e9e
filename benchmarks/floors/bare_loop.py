"""The floor of a tool-using run: a bare trio + httpx + orjson loop playing claw's conversation.

It makes the requests ``claw -p "Read notes.txt"`` makes, with the same bytes
on the wire: the ``model``, ``max_tokens``, ``system`` and ``tools`` of a
request claw sent (captured from the fake model server, given as a JSON file),
the same first user message, every assistant message sent back as it came,
each ``Read`` answered by reading the file with plain ``open()`` and numbering
its lines as claw's Read does, and the same prompt-cache breakpoints (the last
two user messages). It keeps going while the model asks for tools and prints
the final answer. Nothing else: no plugins, settings, events, permissions,
session file or retries. What claw spends beyond this is its overhead.

    ANTHROPIC_BASE_URL=... ANTHROPIC_API_KEY=... python bare_loop.py request.json
"""

import os
import sys

import httpx
import orjson
import trio

CACHE = {"type": "ephemeral"}


def read_numbered(path: str) -> str:
    """The file's lines numbered as claw's Read numbers them (``cat -n``)."""
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return "\n".join(f"{number:>6}\t{line}" for number, line in enumerate(lines, start=1))


def with_breakpoints(messages: list) -> list:
    """The messages with ``cache_control`` on the last block of the last two user messages."""
    out = list(messages)
    budget = 2
    for i in range(len(out) - 1, -1, -1):
        if budget == 0:
            break
        if out[i]["role"] == "user":
            content = out[i]["content"]
            out[i] = {
                "role": "user",
                "content": [*content[:-1], {**content[-1], "cache_control": CACHE}],
            }
            budget -= 1
    return out


async def main(template: dict) -> None:
    url = os.environ["ANTHROPIC_BASE_URL"].rstrip("/") + "/v1/messages"
    headers = {
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "accept": "text/event-stream",
        "x-api-key": os.environ["ANTHROPIC_API_KEY"],
    }
    head = {k: template[k] for k in ("model", "max_tokens", "stream", "system", "tools")}
    first = template["messages"][0]  # without the breakpoint it carried in claw's request
    unmarked = [{k: v for k, v in b.items() if k != "cache_control"} for b in first["content"]]
    messages = [{"role": "user", "content": unmarked}]
    async with httpx.AsyncClient() as client:
        while True:
            body = orjson.dumps({**head, "messages": with_breakpoints(messages)})
            blocks: dict[int, dict] = {}
            json_parts: dict[int, list[str]] = {}
            stop_reason = None
            async with client.stream("POST", url, content=body, headers=headers) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = orjson.loads(line[6:])
                    kind = event["type"]
                    if kind == "content_block_start":
                        blocks[event["index"]] = dict(event["content_block"])
                    elif kind == "content_block_delta":
                        delta = event["delta"]
                        if delta["type"] == "text_delta":
                            block = blocks[event["index"]]
                            block["text"] += delta["text"]
                        elif delta["type"] == "input_json_delta":
                            json_parts.setdefault(event["index"], []).append(delta["partial_json"])
                    elif kind == "message_delta":
                        stop_reason = event["delta"]["stop_reason"]
            for index, parts in json_parts.items():
                blocks[index]["input"] = orjson.loads("".join(parts))
            content = [blocks[i] for i in sorted(blocks)]
            messages.append({"role": "assistant", "content": content})
            if stop_reason != "tool_use":
                print("".join(b["text"] for b in content if b["type"] == "text"))
                return
            results = [
                {
                    "type": "tool_result",
                    "tool_use_id": block["id"],
                    "content": [
                        {"type": "text", "text": read_numbered(block["input"]["file_path"])}
                    ],
                    "is_error": False,
                }
                for block in content
                if block["type"] == "tool_use"
            ]
            messages.append({"role": "user", "content": results})


with open(sys.argv[1], "rb") as request:
    trio.run(main, orjson.loads(request.read()))
