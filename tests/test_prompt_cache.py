"""Anthropic prompt caching: where the breakpoints go, and what the fake server bills.

The fake server simulates the cache the way the API bills it (the prefix an
earlier request cached is read, the rest up to the last breakpoint written),
so a run through the real loop shows the cache working, and its cost.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_wire_blocks import run_agent

from claw_runtime.events import TurnFinished
from claw_runtime.models import Message, TextBlock, ThinkingBlock, ToolResultBlock, ToolSpec
from claw_runtime.models import ToolUseBlock as Use
from claw_runtime.providers import anthropic
from claw_runtime.providers._wire_cache import WireCache
from claw_runtime.providers.base import ModelRequest, ProviderOverrides
from claw_runtime.providers.pricing import cost_usd
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server

TOOLS = tuple(
    ToolSpec(name=n, description=f"{n} things", input_schema={"type": "object"})
    for n in ("Bash", "Read", "Write")
)
CACHE = {"type": "ephemeral"}


def conversation(turns: int) -> tuple[Message, ...]:
    messages = [Message.user("start")]
    for n in range(turns):
        messages.append(
            Message(
                role="assistant",
                content=(
                    ThinkingBlock(thinking="t", signature="s"),
                    Use(id=f"t{n}", name="Read", input={"file_path": f"{n}"}),
                ),
            )
        )
        messages.append(
            Message(
                role="user",
                content=(ToolResultBlock(tool_use_id=f"t{n}", content=(TextBlock(text="x"),)),),
            )
        )
    return tuple(messages)


def marked(body: dict[str, Any]) -> list[str]:
    """Where the breakpoints are: ``tool:N``, ``system``, ``message:N``."""
    where = [f"tool:{i}" for i, t in enumerate(body.get("tools", ())) if "cache_control" in t]
    where += ["system" for b in body.get("system", ()) if "cache_control" in b]
    for i, message in enumerate(body["messages"]):
        for block in message["content"]:
            if "cache_control" in block:
                assert block["cache_control"] == CACHE
                where.append(f"message:{i}")
    return where


async def test_breakpoints_on_last_tool_system_and_the_two_newest_user_messages() -> None:
    request = ModelRequest(
        model="claude-sonnet-4-5", system="sys", tools=TOOLS, messages=conversation(3)
    )
    async with (
        open_fake_model_server(Script([Turn.say("ok")])) as server,
        httpx.AsyncClient() as http,
    ):
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k"}
        settings_ = anthropic.resolve_settings(ProviderOverrides(), env)
        provider = anthropic.AnthropicProvider(settings_, http, random.Random(1))
        [_ async for _ in provider.stream(request)]
    body = server.requests[0].body
    assert marked(body) == ["tool:2", "system", "message:4", "message:6"]
    assert body["system"] == [{"type": "text", "text": "sys", "cache_control": CACHE}]
    # The breakpoint sits on the message's last block, never on thinking.
    assert body["messages"][6]["content"][-1]["type"] == "tool_result"


def test_marking_never_changes_the_shared_wire_cache() -> None:
    cache: WireCache[dict[str, Any]] = WireCache(anthropic.message_to_wire)
    messages = conversation(6)
    for n in range(1, len(messages) + 1, 2):
        body = anthropic.build_body(
            ModelRequest(model="m", system="s", tools=TOOLS, messages=messages[:n]), cache
        )
        assert len(marked(body)) == min(4, 2 + (n + 1) // 2)
    assert all("cache_control" not in block for m in messages for block in cache.get(m)["content"])


@given(
    turns=st.integers(min_value=0, max_value=8),
    system=st.booleans(),
    tools=st.booleans(),
    empty_last=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_never_more_than_four_breakpoints(
    turns: int, system: bool, tools: bool, empty_last: bool
) -> None:
    messages = conversation(turns)
    if empty_last:
        messages += (Message(role="user", content=(TextBlock(text=""),)),)
    request = ModelRequest(
        model="m", system="s" if system else "", tools=TOOLS if tools else (), messages=messages
    )
    where = marked(anthropic.build_body(request))
    assert len(where) <= 4
    assert ("system" in where) == system and ("tool:2" in where) == tools
    users = [i for i, m in enumerate(anthropic.to_wire_messages(messages)) if m["role"] == "user"]
    if empty_last:  # an empty text block cannot carry cache_control
        users = users[:-1]
    assert [w for w in where if w.startswith("message")] == [f"message:{i}" for i in users[-2:]]


@pytest.mark.parametrize(
    ("overrides", "env"),
    [
        (ProviderOverrides(prompt_caching=False), {}),
        (ProviderOverrides(), {"DISABLE_PROMPT_CACHING": "1"}),
    ],
    ids=["override", "env"],
)
async def test_caching_can_be_turned_off(overrides: ProviderOverrides, env: dict[str, str]) -> None:
    request = ModelRequest(
        model="claude-sonnet-4-5", system="s", tools=TOOLS, messages=conversation(2)
    )
    async with (
        open_fake_model_server(Script([Turn.say("ok")])) as server,
        httpx.AsyncClient() as http,
    ):
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "k", **env}
        settings_ = anthropic.resolve_settings(overrides, env)
        assert settings_.prompt_caching is False
        provider = anthropic.AnthropicProvider(settings_, http)
        [_ async for _ in provider.stream(request)]
    assert marked(server.requests[0].body) == []
    assert anthropic.resolve_settings(
        ProviderOverrides(), {"ANTHROPIC_API_KEY": "k"}
    ).prompt_caching


async def test_fake_server_bills_cache_reads_and_writes_and_the_cost_uses_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("lorem ipsum dolor sit amet\n" * 80)
    read = ToolCallSpec("Read", {"file_path": str(tmp_path / "notes.txt")})
    turns = [Turn.call(read), Turn.call(read), Turn.call(read), Turn.say("done")]
    _, result, _, events = await run_agent(tmp_path, turns)
    usages = [e.usage for e in events if isinstance(e, TurnFinished)]
    costs = [e.cost_usd for e in events if isinstance(e, TurnFinished)]
    assert len(usages) == 4
    first, *later = usages
    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 1000
    for before, usage in zip(usages, later, strict=False):
        # Everything the previous request cached is read; only the new turn is written.
        cached_before = before.cache_read_input_tokens + before.cache_creation_input_tokens
        assert usage.cache_read_input_tokens == pytest.approx(cached_before, abs=2)
        assert 0 < usage.cache_creation_input_tokens < usage.cache_read_input_tokens
        assert usage.input_tokens < usage.cache_creation_input_tokens
    model = "claude-sonnet-4-5"
    assert costs == [pytest.approx(cost_usd(model, u)) for u in usages]
    assert result.total_cost_usd == pytest.approx(sum(costs), abs=1e-6)


async def test_non_streaming_answers_bill_the_cache_too() -> None:
    plain = {"model": "m", "system": "s", "messages": [{"role": "user", "content": "x" * 400}]}
    marked_body = {
        "model": "m",
        "system": [{"type": "text", "text": "s" * 400, "cache_control": CACHE}],
        "messages": [{"role": "user", "content": "x"}],
    }
    async with (
        open_fake_model_server(Script([Turn.say("a")] * 4)) as server,
        httpx.AsyncClient() as http,
    ):
        url = f"{server.base_url}/v1/messages"
        usage = [(await http.post(url, json=b)).json()["usage"] for b in [plain, plain]]
        usage += [(await http.post(url, json=marked_body)).json()["usage"] for _ in range(2)]
    assert [
        (u["cache_read_input_tokens"], u["cache_creation_input_tokens"] > 0) for u in usage
    ] == [
        (0, False),
        (0, False),
        (0, True),
        (usage[2]["cache_creation_input_tokens"], False),
    ]


@given(
    steps=st.lists(st.sampled_from(["turn", "turn", "turn", "compact", "empty"]), max_size=10),
    system=st.booleans(),
    tools=st.booleans(),
    caching=st.booleans(),
    thinking=st.sampled_from([None, 2048]),
    temperature=st.sampled_from([None, 0.5]),
)
@settings(max_examples=80, deadline=None)
def test_a_body_joined_from_kept_json_is_the_body_encoded_whole(
    steps: list[str],
    system: bool,
    tools: bool,
    caching: bool,
    thinking: int | None,
    temperature: float | None,
) -> None:
    cache: WireCache[dict[str, Any]] = WireCache(anthropic.message_to_wire)
    heads = anthropic.EncodedHead()  # kept across requests, as a provider keeps it
    messages = list(conversation(1))
    for n, step in enumerate(steps):
        if step == "turn":
            messages += conversation(2)[1:]
        elif step == "compact":  # a processor rewrote the start of the conversation
            messages[1:3] = [Message.assistant(f"summary {n}"), Message.user("go on")]
        else:  # an assistant message max_tokens left empty, which is not sent
            messages += [Message(role="assistant", content=()), Message.user(f"more {n}")]
        request = ModelRequest(
            model="m",
            system=f"sys {n // 3}" if system else "",  # the memory section changed
            tools=(TOOLS if n % 4 < 2 else TOOLS[:1]) if tools else (),  # a tool was hidden
            messages=tuple(messages),
            thinking_budget=thinking,
            temperature=temperature,
        )
        body = anthropic.build_body(request, prompt_caching=caching)
        joined = anthropic.encode_body(request, cache, prompt_caching=caching, heads=heads)
        assert joined == orjson.dumps(body)
