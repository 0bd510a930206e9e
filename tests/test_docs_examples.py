"""The runnable examples in docs/embedding.md run, as written, against the fake model.

Each complete program (a block that calls ``trio.run`` / ``asyncio.run`` or is
plain synchronous code) runs in a subprocess in a temp project, with only the
model's address and key set in its environment, the way a reader would run it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import trio

from claw_runtime.testing import Script, Turn, open_fake_model_server

from _harness import claw_env

DOC = Path(__file__).parent.parent / "docs" / "embedding.md"


def _programs() -> list[tuple[str, str]]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    complete = [b for b in blocks if b.startswith("import ")]  # fragments continue a program
    return [(f"example-{n}", block) for n, block in enumerate(complete, 1)]


PROGRAMS = _programs()


def test_the_doc_has_complete_programs() -> None:
    assert len(PROGRAMS) >= 4  # trio, events, sync, asyncio


@pytest.mark.parametrize(("name", "program"), PROGRAMS, ids=[n for n, _ in PROGRAMS])
async def test_an_embedding_example_runs(tmp_path: Path, name: str, program: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# demo\n")
    (project / "main.py").write_text("print('hi')\n")
    (project / f"{name}.py").write_text(program)
    script = Script(responder=lambda body: Turn.say("answered from the fake model"))
    async with open_fake_model_server(script) as server:
        with trio.fail_after(60):
            done = await trio.run_process(
                [sys.executable, f"{name}.py"],
                cwd=project,
                env=claw_env(tmp_path, server),
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        asked = len(server.requests)
    assert done.returncode == 0, done.stderr.decode()
    assert asked >= 1
    assert b"answered from the fake model" in done.stdout
