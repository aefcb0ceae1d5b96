"""No double dial under faults: confirmed live calls through timeouts, 5xx answers and connections dropped after
the call was created, retried as a model retries (the same arguments, the key an unknown outcome names), never
ring one number twice. Runs on virtual time, so a trial's timeouts and back-offs take no wall time."""

from __future__ import annotations

import random
from typing import Any

import pytest
from mcp import Client

from bimpe_mcp.sandbox import Fault, Sandbox
from tests.conftest import ServerFactory
from tests.support import data
from tests.virtual_time import VirtualTimeLoop, on_the_loop

pytestmark = pytest.mark.anyio

TRIALS = 240
RETRIES = 8


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": VirtualTimeLoop})


@pytest.fixture
def make_server(make_server: ServerFactory) -> ServerFactory:
    return on_the_loop(make_server)


def fault_for(rng: random.Random) -> Fault:
    times = rng.randint(1, 5)
    kind = rng.choice(["timeout", "5xx", "5xx-after", "drop-after"])
    if kind == "timeout":
        return Fault(kind="latency", seconds=30, method="POST", times=times)
    if kind == "drop-after":
        return Fault(kind="drop", method="POST", after=True, times=times)
    return Fault(
        kind="status", status=rng.choice([500, 502, 503]), method="POST", after=kind == "5xx-after", times=times
    )


async def confirmed_call(client: Client, rng: random.Random, number: str) -> dict[str, Any]:
    """What a model does: get the preview, pass the token back once the user agreed, and on an unknown outcome
    retry the same arguments with the key it names (sometimes repeating a call that already went through)."""
    args: dict[str, Any] = {"destination": number, "is_test_call": False}
    preview = data(await client.call_tool("place_call", args))
    args["confirmation_token"] = preview["confirmation_token"]
    outcome: dict[str, Any] = {"placed": None, "errors": []}
    for _ in range(RETRIES):
        result = await client.call_tool("place_call", args)
        if not result.is_error:
            outcome["placed"] = result.structured_content
            if rng.random() < 0.5:
                continue
            break
        info = (result.meta or {})["bimpe.ai/error"]
        outcome["errors"].append(info["code"])
        assert info["code"] in {"outcome_unknown", "upstream_unavailable"}, info
        if info.get("idempotency_key") and rng.random() < 0.7:
            args["idempotency_key"] = info["idempotency_key"]
    return outcome


async def test_confirmed_calls_retried_through_faults_never_ring_twice(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    rng = random.Random(20261202)
    duplicates, placed, unknown_seen = 0, 0, 0
    server = make_server(allow_live_calls=True, confirm="token", timeout_seconds=0.05, deadline_seconds=5)
    async with Client(server) as client:
        for trial in range(TRIALS):
            number = f"+1415555{1000 + trial}"
            sandbox.clock.advance(60)  # a fresh rate-limit window of the sandbox for each trial
            sandbox.faults.add(fault_for(rng))
            outcome = await confirmed_call(client, rng, number)
            sandbox.faults.clear()
            found = data(await client.call_tool("list_calls", {"search": number, "limit": 100}))["calls"]
            duplicates += len(found) > 1
            placed += outcome["placed"] is not None
            unknown_seen += "outcome_unknown" in outcome["errors"]
            if outcome["placed"] is not None:
                assert [c["id"] for c in found] == [outcome["placed"]["call_id"]]
    assert duplicates == 0
    assert placed == TRIALS, "every trial got its call through in the end"
    assert unknown_seen > TRIALS // 2, "most trials went through an unknown outcome"
