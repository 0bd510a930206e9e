"""What prompt caching saves: the input cost of a long tool session, cached and not.

A 50-turn scripted session (each turn the model Reads a ~2 KB file, then it
answers) runs through the real agent loop and the Anthropic provider against
the fake model server, which bills cache reads and writes the way the API does
(tokens ~ characters / 4). The same session runs with caching on (the default)
and off (``DISABLE_PROMPT_CACHING=1``); the table shows the input tokens billed
at each rate and their cost at the model's prices.

    python benchmarks/bench_cache.py [--turns 50] [--model claude-sonnet-4-5]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import attrs
import trio

from claw_runtime.config.settings import Settings
from claw_runtime.loop import Agent, AgentOptions
from claw_runtime.models import Usage
from claw_runtime.permissions import PermissionPolicy
from claw_runtime.providers.pricing import price_for
from claw_runtime.runtime import open_runtime
from claw_runtime.testing import Script, ToolCallSpec, Turn, open_fake_model_server


@attrs.frozen
class Bill:
    usage: Usage
    requests: int

    def input_cost(self, model: str) -> tuple[float, float, float]:
        """USD for (uncached input, cache writes, cache reads)."""
        price = price_for(model)
        assert price is not None, f"no price for {model}"
        u = self.usage
        return (
            u.input_tokens * price.input / 1e6,
            u.cache_creation_input_tokens * price.cache_write / 1e6,
            u.cache_read_input_tokens * price.cache_read / 1e6,
        )


async def session(turns: int, model: str, caching: bool, cwd: Path) -> Bill:
    target = cwd / "module.py"
    target.write_text("".join(f"def function_{n}(x):\n    return x * {n}\n" for n in range(64)))
    read = ToolCallSpec("Read", {"file_path": str(target)})
    script = [Turn.call(read) for _ in range(turns)] + [Turn.say("All files read.")]
    async with open_fake_model_server(Script(script)) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "bench"}
        if not caching:
            env["DISABLE_PROMPT_CACHING"] = "1"
        async with open_runtime(Settings(model=model), environ=env, no_plugins=True) as runtime:
            name, settings = runtime.provider_settings("anthropic")
            agent = Agent(
                provider=runtime.make_provider(name, settings),
                tools=runtime.registry.tools,
                host=runtime.host,
                session=runtime.new_session(cwd),
                options=AgentOptions(
                    model=model, permissions=PermissionPolicy.from_rules("default", project=cwd)
                ),
                scheduler=runtime.scheduler,
                http=runtime.http,
            )
            result = await agent.run("Read module.py, again and again.")
    if result.result != "All files read." or any(
        getattr(b, "is_error", False) for m in agent.messages for b in m.content
    ):
        raise RuntimeError(f"the session did not run cleanly: {result}")
    return Bill(usage=result.usage, requests=len(server.requests))


def table(turns: int, model: str, bills: dict[str, Bill]) -> str:
    rows = [
        f"{turns}-turn Read session ({turns + 1} requests, ~2 KB file each turn), {model}",
        "",
        f"{'':<10}{'input tok':>11}{'write tok':>11}{'read tok':>11}"
        f"{'input $':>10}{'write $':>10}{'read $':>10}{'total $':>10}",
    ]
    totals = {}
    for label, bill in bills.items():
        u = bill.usage
        costs = bill.input_cost(model)
        totals[label] = sum(costs)
        rows.append(
            f"{label:<10}{u.input_tokens:>11,}{u.cache_creation_input_tokens:>11,}"
            f"{u.cache_read_input_tokens:>11,}"
            + "".join(f"{c:>10.4f}" for c in costs)
            + f"{totals[label]:>10.4f}"
        )
    if totals.get("cached"):
        rows += ["", f"uncached / cached input cost: {totals['uncached'] / totals['cached']:.2f}x"]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--model", default="claude-sonnet-4-5")
    args = parser.parse_args()

    async def run() -> dict[str, Bill]:
        bills = {}
        for label, caching in (("uncached", False), ("cached", True)):
            with tempfile.TemporaryDirectory() as tmp:
                bills[label] = await session(args.turns, args.model, caching, Path(tmp))
        return bills

    print(table(args.turns, args.model, trio.run(run)))


if __name__ == "__main__":
    main()
