"""Peer: OpenAI Agents SDK, one Read tool, against the fake model server (OpenAI protocol)."""

import sys
from pathlib import Path

from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

set_tracing_disabled(True)


@function_tool(name_override="Read")
def read(file_path: str) -> str:
    """Read a file."""
    return Path(file_path).read_text()


def main() -> None:
    base_url = sys.argv[1]
    client = AsyncOpenAI(base_url=base_url, api_key="bench-key")
    model = OpenAIChatCompletionsModel(model="gpt-4o", openai_client=client)
    agent = Agent(name="bench", instructions="Use the tools.", tools=[read], model=model)
    result = Runner.run_sync(agent, "go", max_turns=1000)
    print(result.final_output)


main()
