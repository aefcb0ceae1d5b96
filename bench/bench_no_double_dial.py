"""No double dial under faults, across two replicas sharing their state in Redis.

Two servers (one process each would do the same: they share nothing but the Redis and the confirmation secret) on one
sandbox. Each trial gets a preview and its confirmation token from one replica, then places the call through one
sandbox fault (a timeout of every attempt, a 5xx before or after the call was created, or a connection dropped after
it was created, for one to five requests), each attempt on a replica drawn at random, retrying with the key each
unknown outcome names, and sometimes repeating a call that went through. Then 100 concurrent test calls over the two
replicas against a budget of 10 an hour. Prints trials, faults by kind, calls placed, unknown outcomes met, replays,
duplicates (goal 0), the calls the budget let through (goal: at most 10) and wall time.

Needs redis-server on PATH (Debian's package); it is started on a free loopback port and stopped at the end.
Run: python bench/bench_no_double_dial.py [--trials N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Generator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import stamina
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server

RETRIES = 8
SECRET = secrets.token_urlsafe(32)


@contextmanager
def redis() -> Generator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Ready to accept connections" in line:
            break
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fault_for(rng: random.Random) -> tuple[str, Fault]:
    times = rng.randint(1, 5)
    kind = rng.choice(["timeout", "5xx", "5xx-after", "drop-after"])
    if kind == "timeout":
        return kind, Fault(kind="latency", seconds=1, method="POST", times=times)
    if kind == "drop-after":
        return kind, Fault(kind="drop", method="POST", after=True, times=times)
    status = rng.choice([500, 502, 503])
    return kind, Fault(kind="status", status=status, method="POST", after=kind == "5xx-after", times=times)


async def trial(replicas: list[Client], rng: random.Random, number: str, tally: Counter[str]) -> None:
    args: dict[str, Any] = {"destination": number, "is_test_call": False}
    preview = await rng.choice(replicas).call_tool("place_call", args)
    args["confirmation_token"] = (preview.structured_content or {})["confirmation_token"]
    through = False
    for _ in range(RETRIES):
        result = await rng.choice(replicas).call_tool("place_call", args)
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


def settings(box: Sandbox, state: str, **more: Any) -> Settings:
    return Settings(
        api_key=SecretStr(box.keys.full),
        base_url=box.origin,
        agent_id=box.agents.live,
        allow_live_calls=True,
        confirm="token",
        timeout_seconds=0.05,
        deadline_seconds=5,
        confirm_secret=SecretStr(SECRET),
        state_url=state,
        **more,
    )


async def faulted(box: Sandbox, state: str, trials: int, seed: int) -> tuple[Counter[str], Counter[str], int]:
    rng = random.Random(seed)
    tally: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    duplicates = 0
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(Client(build_server(settings(box, state), transport=box.transport())))
            for _ in range(2)
        ]
        for n in range(trials):
            number = f"+1415555{1000 + n}"
            box.clock.advance(60)
            kind, fault = fault_for(rng)
            faults[kind] += 1
            box.faults.add(fault)
            await trial(replicas, rng, number, tally)
            box.faults.clear()
            found = await replicas[0].call_tool("list_calls", {"search": number, "limit": 100})
            listed: dict[str, Any] = found.structured_content or {}
            duplicates += len(listed["calls"]) > 1
    return tally, faults, duplicates


async def budgeted(box: Sandbox, state: str) -> Counter[str]:
    """100 concurrent test calls, half on each replica, against a budget of 10 an hour."""
    box.clock.advance(3600)
    outcomes: Counter[str] = Counter()
    async with AsyncExitStack() as stack:
        built = [
            build_server(settings(box, state, max_test_calls_per_hour=10), transport=box.transport()) for _ in range(2)
        ]
        replicas = [await stack.enter_async_context(Client(server)) for server in built]

        async def one(n: int) -> None:
            result = await replicas[n % 2].call_tool("place_call", {"destination": f"+1415556{1000 + n}"})
            info = (result.meta or {}).get("bimpe.ai/error")
            outcomes["placed" if info is None else info.get("rule") or info["code"]] += 1

        await asyncio.gather(*(one(n) for n in range(100)))
    return outcomes


async def run(trials: int, seed: int) -> None:
    box = Sandbox(SandboxConfig(seed=7, speed=0.0))
    started = time.perf_counter()
    with redis() as url:
        tally, faults, duplicates = await faulted(box, f"{url}/0", trials, seed)
        faulted_wall = time.perf_counter() - started
        outcomes = await budgeted(box, f"{url}/1")
    print("replicas              2, sharing redis-server")
    print(f"trials                {trials}")
    print(f"faults                {dict(sorted(faults.items()))}")
    print(f"calls placed          {tally['placed']}")
    print(f"unknown outcomes met  {tally['outcome_unknown']}")
    print(f"replays answered      {tally['replayed']}")
    print(f"gave up               {tally['gave_up']}")
    print(f"duplicate calls       {duplicates}  (goal 0)")
    print(f"wall time             {faulted_wall:.1f} s")
    print(f"100 concurrent calls  {dict(sorted(outcomes.items()))}  (budget 10 an hour: placed at most 10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=600)
    parser.add_argument("--seed", type=int, default=20261202)
    opts = parser.parse_args()
    # Before the server is built: its logging.basicConfig(INFO) then leaves the root logger alone.
    logging.basicConfig(level=logging.ERROR)
    with stamina.set_testing(True, attempts=10, cap=True):
        asyncio.run(run(min(opts.trials, 9000), opts.seed))


if __name__ == "__main__":
    main()
