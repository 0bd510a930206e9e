"""``claw demo``: run the scripted coding session and print what happened.

It starts the fake model server on loopback, points the Anthropic provider at
it, and runs the ordinary headless path (same runtime, loop, tools and
renderer as ``claw -p``) in a temporary copy of the demo project.
"""

from __future__ import annotations

import argparse
import shutil
import sys

import attrs
import trio

from claw_runtime.cli._setup import CliContext
from claw_runtime.cli.headless import execute_run
from claw_runtime.cli.live import LiveRenderer
from claw_runtime.demo import copy_project, demo_script
from claw_runtime.runtime import open_runtime
from claw_runtime.testing.fake_server import open_fake_model_server

__all__ = ["run_demo"]

DEMO_MODEL = "claw-demo-scripted"

_BANNER = (
    "claw demo: a scripted model (claw's fake model server on loopback, not a real LLM)\n"
    "drives the real agent loop. Every tool call below really runs, in {project}\n"
)


async def _demo(context: CliContext, args: argparse.Namespace) -> int:
    project = copy_project()
    plain = bool(getattr(args, "plain", False))
    renderer = LiveRenderer(plain=plain if plain else None)
    renderer.console.print(_BANNER.format(project=project))
    settings = attrs.evolve(
        context.settings,
        model=DEMO_MODEL,
        provider="anthropic",
        permissions=attrs.evolve(
            context.settings.permissions, default_mode="acceptEdits", allow=["Bash"]
        ),
    )
    run_args = argparse.Namespace(no_session=True)
    try:
        async with open_fake_model_server(demo_script(project)) as server:
            environ = {
                **context.environ,
                "ANTHROPIC_BASE_URL": server.base_url,
                "ANTHROPIC_API_KEY": "demo-key-not-secret",
            }
            demo_context = attrs.evolve(context, settings=settings, cwd=project, environ=environ)
            async with open_runtime(settings, environ=environ, no_plugins=True) as runtime:
                result = await execute_run(
                    runtime,
                    demo_context,
                    run_args,
                    "Fix the failing test.",
                    renderer,
                )
    finally:
        if not getattr(args, "keep", False):
            shutil.rmtree(project.parent, ignore_errors=True)
    if result is None:
        return 1
    renderer.finish(result)
    usage = result.usage
    renderer.console.print(
        f"\n[bold]Summary[/]: {result.num_turns} model turns, "
        f"{usage.input_tokens:,} input + {usage.output_tokens:,} output tokens, "
        f"{result.duration_ms / 1000:.2f} s, stop reason: {result.stop_reason}"
        + (f"\nProject kept at {project}" if getattr(args, "keep", False) else "")
    )
    return 1 if result.is_error else 0


def run_demo(context: CliContext, args: argparse.Namespace) -> int:
    if shutil.which("bash") is None:
        print("claw demo needs bash on PATH", file=sys.stderr)
        return 1
    return trio.run(_demo, context, args)
