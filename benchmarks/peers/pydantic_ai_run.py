"""Peer: Pydantic AI, one Read tool, against the fake model server (OpenAI protocol)."""

import sys
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import UsageLimits


def main() -> None:
    base_url = sys.argv[1]
    model = OpenAIChatModel(
        "gpt-4o", provider=OpenAIProvider(base_url=base_url, api_key="bench-key")
    )
    agent = Agent(model, instructions="Use the tools.")

    @agent.tool_plain(name="Read")
    def read(file_path: str) -> str:
        """Read a file."""
        return Path(file_path).read_text()

    result = agent.run_sync("go", usage_limits=UsageLimits(request_limit=1000))
    print(result.output)


main()
