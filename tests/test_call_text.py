"""How a model reads calls in compact text: unknown numbers, empty transcripts and one call's labelled facts."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.render import CALL_COLUMNS
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
from tests.support import data, text

pytestmark = pytest.mark.anyio

AGENT_NUMBER = "+2348000000001"


def call(ident: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "status": status,
        "direction": "outbound",
        "is_test_call": False,
        "source": AGENT_NUMBER,
        "destination": "+254700000002",
        "created_on": "2026-11-01T10:00:00Z",
        **extra,
    }


CALLS = {
    "call_nosource": call("call_nosource", "ended", source=None, ended_at="2026-11-01T10:01:00Z"),
    "call_failed": call("call_failed", "failed", error_reason="number_unreachable", ended_at="2026-11-01T10:00:03Z"),
    "call_ringing": call("call_ringing", "ringing", ringing_at="2026-11-01T10:00:02Z"),
    "call_unknown": call("call_unknown", "", source=None, destination=None, is_test_call=None, direction=None),
}


def api(calls: list[dict[str, Any]]) -> httpx2.MockTransport:
    meta = {"total_count": len(calls), "page_count": 1, "current_page": 1, "limit": 20, "has_next_page": False}

    def answer(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/api/v1/console/agents/agt_1/calls")
        if path == "":
            return httpx2.Response(200, json={"message": "Success", "data": calls, "meta": meta})
        return httpx2.Response(
            200, json={"message": "Success", "data": CALLS[path.strip("/")] | {"conversation_logs": []}}
        )

    return httpx2.MockTransport(answer)


def server(calls: list[dict[str, Any]]) -> Any:
    settings = Settings(api_key=SecretStr("sk_test_text"), agent_id="agt_1", max_retries=0)
    return build_server(settings, transport=api(calls))


async def test_an_unknown_number_reads_as_unknown_never_as_the_agents_own() -> None:
    """With fewer than three calls no number stands for the agent (`@`): an unknown source is `?`, not `@`."""
    async with Client(server([CALLS["call_nosource"]])) as client:
        page = text(await client.call_tool("list_calls", {}))
        one = text(await client.call_tool("get_call", {"call_id": "call_nosource"}))
    line = page.splitlines()[2]
    assert line.split(" ")[5] == "?>+254700000002", line
    assert "@" not in page
    assert "from an unknown number to +254700000002" in one.splitlines()[0]


async def test_a_page_with_the_agents_number_on_most_lines_still_shows_an_unknown_source_as_unknown() -> None:
    calls = [call(f"call_{i}", "ended", destination=f"+25470000001{i}") for i in range(3)] + [CALLS["call_nosource"]]
    async with Client(server(calls)) as client:
        page = text(await client.call_tool("list_calls", {}))
    head, _, *lines = page.splitlines()
    assert head.endswith(f"; @ = {AGENT_NUMBER}")
    shown = [line.split(" ")[5] for line in lines]
    assert shown == ["@>+254700000010", "@>+254700000011", "@>+254700000012", "?>+254700000002"]


async def test_one_call_reads_as_labelled_facts_without_the_pages_column_legend() -> None:
    async with Client(server([])) as client:
        result = await client.call_tool("get_call", {"call_id": "call_failed"})
        waited = await client.call_tool("wait_for_call", {"call_id": "call_failed", "timeout_seconds": 1})
    first = text(result).splitlines()[0]
    assert first == (
        "call call_failed: failed, outbound, live; created 2026-11-01T10:00:00.000Z; from +2348000000001 to "
        "+254700000002; ended created+3s; error number_unreachable"
    )
    assert data(result)["error_reason"] == "number_unreachable"
    assert CALL_COLUMNS not in text(result)
    assert text(waited).splitlines()[0] == first
    assert CALL_COLUMNS not in text(waited)


async def test_a_call_without_any_known_fact_says_so_in_words() -> None:
    async with Client(server([])) as client:
        first = text(await client.call_tool("get_call", {"call_id": "call_unknown"})).splitlines()[0]
    assert first == (
        "call call_unknown: , direction unknown, test or live unknown; created 2026-11-01T10:00:00.000Z; "
        "from an unknown number to an unknown number"
    )


@pytest.mark.parametrize(
    ("call_id", "says"),
    [
        ("call_failed", "no turns: the call is failed and has no recorded conversation."),
        ("call_nosource", "no turns: the call is ended and has no recorded conversation."),
        ("call_ringing", "no turns yet: the call is ringing, and gains its transcript when it ends."),
    ],
)
async def test_an_empty_transcript_says_why_from_the_calls_status(call_id: str, says: str) -> None:
    async with Client(server([])) as client:
        one = text(await client.call_tool("get_call", {"call_id": call_id}))
        window = text(await client.call_tool("get_transcript", {"call_id": call_id}))
        resource = await client.read_resource(f"bimpe://agents/agt_1/calls/{call_id}/transcript")
    expected = f"transcript of call {call_id} (agent agt_1): {says}"
    assert one.splitlines()[1] == expected
    assert window == expected
    assert getattr(resource.contents[0], "text", None) == expected
