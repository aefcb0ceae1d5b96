from __future__ import annotations

import pytest
from mcp import Client

from bimpe_mcp.sandbox import BUSY_DESTINATION, CANCELLED_DESTINATION, FAILED_DESTINATION, Sandbox
from tests.conftest import SandboxTime, ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

NUMBER = "+447400900123"


def posts(sandbox: Sandbox) -> list[str]:
    return [r.path for r in sandbox.requests if r.method == "POST"]


async def test_a_test_call_is_initiated_then_followed_to_its_end_with_a_transcript(
    client_both: Client, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    answer = await client_both.call_tool("place_call", {"destination": NUMBER})
    placed = data(answer)
    assert placed["status"] == "initiated" and placed["call_id"] and placed["is_test_call"] is True
    shown = text(answer)
    assert "Next: Call wait_for_call(call_id): it waits until the call ends and reports the outcome." in shown
    assert ("detail:" in shown) == bool(placed.get("detail")) and "detail: -" not in shown
    assert "wait_for_call(call_id)" in placed["next_step"] and "get_call" not in placed["next_step"]
    call_id = placed["call_id"]
    early = data(await client_both.call_tool("get_call", {"call_id": call_id}))
    assert early["status"] == "queued" and early["transcript"]["total_turns"] == 0
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    done = await client_both.call_tool(
        "wait_for_call", {"call_id": call_id, "timeout_seconds": 120}, progress_callback=on_progress
    )
    finished = data(done)
    assert finished["finished"] is True and finished["status"] == "ended"
    assert finished["waited_seconds"] == sum(sandbox_time.slept) > 0
    assert seen == sorted(seen) and len(seen) == len(sandbox_time.slept)
    assert finished["duration_seconds"] and finished["end_reason"]
    ended = data(await client_both.call_tool("get_call", {"call_id": call_id}))
    assert ended["transcript"]["total_turns"] > 0
    assert posts(sandbox) == [f"/agents/{sandbox.agents.live}/calls"]


async def test_wait_for_call_returns_unfinished_when_its_timeout_passes(client: Client) -> None:
    call_id = data(await client.call_tool("place_call", {"destination": NUMBER}))["call_id"]
    waited = await client.call_tool("wait_for_call", {"call_id": call_id, "timeout_seconds": 3})
    result = data(waited)
    assert result["finished"] is False and result["status"] in {"queued", "ringing"}
    assert "call wait_for_call again" in text(waited)


@pytest.mark.parametrize(
    ("destination", "status"),
    [(BUSY_DESTINATION, "busy"), (CANCELLED_DESTINATION, "cancelled"), (FAILED_DESTINATION, "failed")],
)
async def test_scripted_destinations_end_as_scripted(client: Client, destination: str, status: str) -> None:
    placed = data(await client.call_tool("place_call", {"destination": destination}))
    assert placed["call_id"]
    final = data(await client.call_tool("wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 120}))
    assert final["finished"] and final["status"] == status
    if status in {"busy", "failed"}:
        assert final["error_reason"]


async def test_test_call_capacity_answers_busy_and_says_to_retry_later(client: Client) -> None:
    statuses = [
        data(await client.call_tool("place_call", {"destination": f"+44740090012{i}"}))["status"] for i in range(3)
    ]
    assert statuses == ["initiated", "initiated", "busy"]
    busy = data(await client.call_tool("place_call", {"destination": NUMBER}))
    assert busy["status"] == "busy" and "try again" in busy["next_step"]


async def test_live_calls_are_refused_unless_the_operator_enabled_them(client: Client, sandbox: Sandbox) -> None:
    info = error(await client.call_tool("place_call", {"destination": NUMBER, "is_test_call": False}))
    assert info["code"] == "precondition_failed" and "is_test_call=true" in info["next_step"]
    assert (info["rule"], info["setting"]) == ("live_calls", "BIMPE_ALLOW_LIVE_CALLS")
    assert posts(sandbox) == []


async def test_an_enabled_live_call_goes_out_over_the_agents_channel(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="off")) as client:
        placed = data(await client.call_tool("place_call", {"destination": NUMBER, "is_test_call": False}))
        assert placed["status"] == "initiated" and placed["is_test_call"] is False
        assert "LIVE call" in text(await client.call_tool("place_call", {"destination": NUMBER, "is_test_call": False}))
        sent = len(posts(sandbox))
        info = error(
            await client.call_tool(
                "place_call", {"destination": NUMBER, "is_test_call": False, "agent_id": sandbox.agents.no_channel}
            )
        )
    assert (info["code"], info["rule"]) == ("precondition_failed", "telephony_channel")
    assert "no connected telephony channel" in info["message"] and "test call" in info["next_step"]
    assert len(posts(sandbox)) == sent, "a live call the agent cannot make never reaches the API"


async def test_a_retry_with_the_same_key_never_places_a_second_call(client: Client, sandbox: Sandbox) -> None:
    first = data(await client.call_tool("place_call", {"destination": NUMBER}))
    key = first["idempotency_key"]
    again = data(await client.call_tool("place_call", {"destination": NUMBER, "idempotency_key": key}))
    assert again["call_id"] == first["call_id"] and again["replayed"] is True and "replayed" not in first
    assert "placed no new call" in again["next_step"]
    calls = data(await client.call_tool("list_calls", {"search": NUMBER, "limit": 100}))["calls"]
    assert [c["id"] for c in calls].count(first["call_id"]) == 1 and len(calls) == 1
    conflict = error(await client.call_tool("place_call", {"destination": "+447400900999", "idempotency_key": key}))
    assert conflict["code"] == "conflict"
    assert len(posts(sandbox)) == 2, "the repeat is answered from the server's own record, without a request"


async def test_a_bad_destination_is_refused_with_the_format_to_use(client: Client, sandbox: Sandbox) -> None:
    for bad in ("07700900123", "+0123456789", "+1", "tel:+14155550100"):
        result = await client.call_tool("place_call", {"destination": bad})
        assert result.is_error and "E.164 form" in text(result)
    assert posts(sandbox) == []


async def test_a_read_only_key_cannot_place_calls(make_server: ServerFactory, sandbox: Sandbox) -> None:
    async with Client(make_server(api_key=sandbox.keys.read_only)) as client:
        info = error(await client.call_tool("place_call", {"destination": NUMBER}))
        assert info["code"] == "missing_scope" and not info["retryable"]
        assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"]
