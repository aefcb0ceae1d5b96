"""A client that cancels place_call while the request to the API is in flight: the request is carried to its end,
the audit entry gets the outcome, the call id and the key, and a retry with the same arguments replays the call
instead of dialling again. Runs on virtual time, so the slow API takes no wall time."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from bimpe_mcp.sandbox import Fault, Sandbox
from tests.conftest import ServerFactory
from tests.support import data
from tests.test_call_audit import recent
from tests.virtual_time import VirtualTimeLoop, on_the_loop

pytestmark = pytest.mark.anyio

US = "+14155550100"


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": VirtualTimeLoop})


@pytest.fixture
def make_server(make_server: ServerFactory) -> ServerFactory:
    return on_the_loop(make_server)


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_call_cancelled_while_it_is_dialled_is_carried_through_and_a_retry_replays_it(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=2, method="POST", times=1))
    async with Client(make_server(timeout_seconds=5), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        async with anyio.create_task_group() as calls:
            calls.start_soon(client.call_tool, "place_call", {"destination": US})
            await anyio.sleep(1)  # virtual time: the request is in flight, and the client gives up on it
            calls.cancel_scope.cancel()
        await anyio.sleep(5)
        (entry,) = await recent(client)
        retried = data(await client.call_tool("place_call", {"destination": US}))
        afterwards = data(await client.call_tool("place_call", {"destination": US}))
    assert entry["decision"] == "initiated" and entry["call_id"] and entry["idempotency_key"]
    assert retried["replayed"] and retried["call_id"] == entry["call_id"], "the retry learns the call"
    assert retried["idempotency_key"] == entry["idempotency_key"]
    assert not afterwards.get("replayed") and afterwards["call_id"] != entry["call_id"], "a new call is new"
    assert posts(sandbox) == 2
