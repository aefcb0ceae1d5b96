"""No double dial under faults: confirmed live calls through injected faults, retried as a model retries.

Each trial gets a preview and its confirmation token, then places the call through one sandbox fault (a timeout of
every attempt, a 5xx before or after the call was created, or a connection dropped after it was created, for one to
five requests), retrying with the key each unknown outcome names, and sometimes repeating a call that went through.
Prints trials, faults by kind, calls placed, unknown outcomes met, replays, duplicates (goal 0) and wall time.
Runs on virtual time: timeouts and back-offs take no wall time.

Run: python bench/bench_no_double_dial.py [--trials N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections import Counter
from typing import Any

import stamina
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from tests.virtual_time import VirtualTimeLoop

RETRIES = 8


def fault_for(rng: random.Random) -> tuple[str, Fault]:
    times = rng.randint(1, 5)
    kind = rng.choice(["timeout", "5xx", "5xx-after", "drop-after"])
    if kind == "timeout":
        return kind, Fault(kind="latency", seconds=30, method="POST", times=times)
    if kind == "drop-after":
        return kind, Fault(kind="drop", method="POST", after=True, times=times)
    status = rng.choice([500, 502, 503])
    return kind, Fault(kind="status", status=status, method="POST", after=kind == "5xx-after", times=times)


async def trial(client: Client, rng: random.Random, number: str, tally: Counter[str]) -> None:
    args: dict[str, Any] = {"destination": number, "is_test_call": False}
    preview = await client.call_tool("place_call", args)
    args["confirmation_token"] = (preview.structured_content or {})["confirmation_token"]
    through = False
    for _ in range(RETRIES):
        result = await client.call_tool("place_call", args)
        if not result.is_error:
            through = True
            content: dict[str, Any] = result.structured_content or {}
            tally["replayed" if content.get("replayed") else "placed"] += 1
            if rng.random() < 0.5:
                continue
            break
        info = (result.meta or {})["bimpe.ai/error"]
        tally[info["code"]] += 1
        if info.get("idempotency_key"):
            args["idempotency_key"] = info["idempotency_key"]
    tally["gave_up"] += not through


async def run(trials: int, seed: int) -> None:
    rng = random.Random(seed)
    box = Sandbox(SandboxConfig(seed=7, speed=0.0))
    settings = Settings(
        api_key=SecretStr(box.keys.full),
        base_url=box.origin,
        agent_id=box.agents.live,
        allow_live_calls=True,
        timeout_seconds=0.05,
        deadline_seconds=5,
    )
    tally: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    duplicates = 0
    started = time.perf_counter()
    async with Client(build_server(settings, transport=box.transport())) as client:
        for n in range(trials):
            number = f"+1415555{1000 + n}"
            box.clock.advance(60)
            kind, fault = fault_for(rng)
            faults[kind] += 1
            box.faults.add(fault)
            await trial(client, rng, number, tally)
            box.faults.clear()
            found = await client.call_tool("list_calls", {"search": number, "limit": 100})
            listed: dict[str, Any] = found.structured_content or {}
            duplicates += len(listed["calls"]) > 1
    wall = time.perf_counter() - started
    print(f"trials                {trials}")
    print(f"faults                {dict(sorted(faults.items()))}")
    print(f"calls placed          {tally['placed']}")
    print(f"unknown outcomes met  {tally['outcome_unknown']}")
    print(f"replays answered      {tally['replayed']}")
    print(f"gave up               {tally['gave_up']}")
    print(f"duplicate calls       {duplicates}  (goal 0)")
    print(f"wall time             {wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20261202)
    opts = parser.parse_args()
    # Before the server is built: its logging.basicConfig(INFO) then leaves the root logger alone.
    logging.basicConfig(level=logging.ERROR)
    with stamina.set_testing(True, attempts=10, cap=True):
        runner = asyncio.Runner(loop_factory=VirtualTimeLoop)
        runner.run(run(min(opts.trials, 9000), opts.seed))


if __name__ == "__main__":
    main()
