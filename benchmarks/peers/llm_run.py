"""Peer: Simon Willison's llm, one Read tool, against the fake model server (OpenAI protocol)."""

import os
import sys
from pathlib import Path

os.environ["OPENAI_BASE_URL"] = sys.argv[1]

import llm


def Read(file_path: str) -> str:
    """Read a file."""
    return Path(file_path).read_text()


def main() -> None:
    model = llm.get_model("gpt-4o")
    conversation = model.conversation(tools=[Read], chain_limit=1000)
    print(conversation.chain("go", key="bench-key").text())


main()
