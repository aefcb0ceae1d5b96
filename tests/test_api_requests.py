"""What goes on the wire: the exact path, query string and headers each tool sends to the API."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp import __version__
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Fault, RecordedRequest, Sandbox
from bimpe_mcp.server.build import build_server
from tests.support import data, error

pytestmark = pytest.mark.anyio

NUMBER = "+447400900123"
ENCODED_NUMBER = "%2B447400900123"


def last(sandbox: Sandbox) -> RecordedRequest:
    return sandbox.requests[-1]


def since(sandbox: Sandbox, count: int) -> list[RecordedRequest]:
    return sandbox.requests[count:]


async def an_ended_call(client: Client, sandbox: Sandbox) -> str:
    call_id: str = data(await client.call_tool("list_calls", {"status": "ended", "limit": 1}))["calls"][0]["id"]
    sandbox.requests.clear()
    return call_id


async def test_list_agents_sends_page_limit_and_an_encoded_search_exactly(client: Client, sandbox: Sandbox) -> None:
    data(await client.call_tool("list_agents", {}))
    assert (last(sandbox).method, last(sandbox).path, last(sandbox).query) == ("GET", "/agents", "page=1&limit=20")
    await client.call_tool("list_agents", {"page": 2, "limit": 5, "search": "Ada & Co +1/é"})
    assert last(sandbox).query == "page=2&limit=5&search=Ada+%26+Co+%2B1%2F%C3%A9"


async def test_list_calls_sends_every_filter_given_and_nothing_else(client: Client, sandbox: Sandbox) -> None:
    agent = sandbox.agents.no_channel
    args = {
        "agent_id": agent,
        "page": 3,
        "limit": 7,
        "status": "busy",
        "is_test_call": False,
        "search": NUMBER,
        "sort": "-duration_seconds",
    }
    data(await client.call_tool("list_calls", args))
    request = last(sandbox)
    assert (request.method, request.path) == ("GET", f"/agents/{agent}/calls")
    assert (
        request.query == f"page=3&limit=7&search={ENCODED_NUMBER}&sort=-duration_seconds&status=busy&is_test_call=false"
    )


async def test_list_calls_sends_the_exact_query_for_each_combination_of_filters(
    client: Client, sandbox: Sandbox
) -> None:
    path = f"/agents/{sandbox.agents.live}/calls"
    mismatches: list[tuple[dict[str, Any], str]] = []
    for status, is_test_call, search, sort in itertools.product(
        (None, "failed"), (None, True, False), (None, NUMBER), (None, "duration_seconds")
    ):
        given = {"status": status, "is_test_call": is_test_call, "search": search, "sort": sort}
        args = {k: v for k, v in given.items() if v is not None}
        data(await client.call_tool("list_calls", args))
        expected = ["page=1", "limit=20"]
        if search is not None:
            expected.append(f"search={ENCODED_NUMBER}")
        expected.append(f"sort={sort or '-created_on'}")
        if status is not None:
            expected.append(f"status={status}")
        if is_test_call is not None:
            expected.append("is_test_call=" + {True: "true", False: "false"}[is_test_call])
        request = last(sandbox)
        if (request.path, request.query) != (path, "&".join(expected)):
            mismatches.append((args, request.query))
    assert mismatches == []


async def test_call_reads_ask_for_the_call_by_path_with_no_query(client: Client, sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    call_id = await an_ended_call(client, sandbox)
    detail = data(await client.call_tool("get_call", {"call_id": call_id, "max_transcript_chars": 200}))
    data(await client.call_tool("get_transcript", {"call_id": call_id, "agent_id": agent}))
    data(await client.call_tool("get_transcript", {"cursor": detail["transcript"]["next_cursor"]}))
    data(await client.call_tool("wait_for_call", {"call_id": call_id}))
    await client.read_resource(f"bimpe://agents/{agent}/calls/{call_id}/transcript")
    await client.read_resource(f"bimpe://agents/{agent}/calls/{call_id}")
    sent = [(r.method, r.path, r.query) for r in sandbox.requests]
    assert sent == [("GET", f"/agents/{agent}/calls/{call_id}", "")] * 6


async def test_place_call_posts_to_the_agents_calls_with_no_query(client: Client, sandbox: Sandbox) -> None:
    data(await client.call_tool("place_call", {"destination": NUMBER}))
    assert [(r.method, r.path, r.query) for r in sandbox.requests] == [
        ("POST", f"/agents/{sandbox.agents.live}/calls", "")
    ]


async def test_every_request_carries_the_key_and_json_accept_and_user_agent(client: Client, sandbox: Sandbox) -> None:
    call_id = await an_ended_call(client, sandbox)
    data(await client.call_tool("list_agents", {}))
    data(await client.call_tool("get_call", {"call_id": call_id}))
    data(await client.call_tool("place_call", {"destination": NUMBER}))
    assert len(sandbox.requests) == 3
    for request in sandbox.requests:
        assert (request.auth, request.key) == ("bearer", "full"), request.path
        assert request.headers["accept"] == "application/json"
        assert request.headers["user-agent"] == f"bimpe-mcp/{__version__}"


async def test_each_tool_call_sends_a_fresh_uuid4_request_id(client: Client, sandbox: Sandbox) -> None:
    for _ in range(3):
        data(await client.call_tool("list_agents", {}))
    ids = [r.headers["x-request-id"] for r in sandbox.requests]
    assert len(set(ids)) == 3
    assert all(uuid.UUID(i).version == 4 for i in ids)


async def test_a_retried_read_keeps_its_request_id_and_sends_no_idempotency_key(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, times=2))
    data(await client.call_tool("list_calls", {"limit": 1}))
    attempts = sandbox.requests
    assert len(attempts) == 3
    assert len({r.headers["x-request-id"] for r in attempts}) == 1
    assert all("idempotency-key" not in r.headers and "content-type" not in r.headers for r in attempts)


async def test_place_call_sends_its_idempotency_key_as_json_and_hands_the_key_back(
    client: Client, sandbox: Sandbox
) -> None:
    placed = data(await client.call_tool("place_call", {"destination": NUMBER}))
    (post,) = sandbox.requests
    assert re.fullmatch(r"[0-9a-f]{32}", post.headers["idempotency-key"])
    assert post.headers["idempotency-key"] == placed["idempotency_key"]
    assert post.headers["content-type"] == "application/json"
    data(await client.call_tool("place_call", {"destination": "+447400900124", "idempotency_key": "my-key_0001"}))
    assert last(sandbox).headers["idempotency-key"] == "my-key_0001"


async def test_a_retried_post_sends_the_same_idempotency_key_and_request_id(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, method="POST", times=1))
    placed = data(await client.call_tool("place_call", {"destination": NUMBER}))
    first, second = sandbox.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == placed["idempotency_key"]
    assert first.headers["x-request-id"] == second.headers["x-request-id"]


async def test_ids_reach_the_request_target_unescaped_and_unchanged() -> None:
    """The ids allowed through ('-' and '_' beside letters and digits) need no percent-encoding and get none."""
    seen: list[tuple[str, bytes, bytes]] = []
    call: dict[str, Any] = {
        "id": "call-9_Zz",
        "status": "ended",
        "created_on": "2026-11-01T10:00:00Z",
        "conversation_logs": [],
    }

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.method, request.url.raw_path, request.content))
        if request.method == "POST":
            return httpx2.Response(200, json={"message": "Success", "data": {"status": "initiated", "call_id": "c-1"}})
        return httpx2.Response(200, json={"message": "Success", "data": call})

    settings = Settings(api_key=SecretStr("sk_test_crafted"), agent_id="agt-1_X")
    async with Client(build_server(settings, transport=httpx2.MockTransport(answer))) as client:
        for tool in ("get_call", "get_transcript", "wait_for_call"):
            data(await client.call_tool(tool, {"call_id": "call-9_Zz"}))
        await client.read_resource("bimpe://agents/agt-1_X/calls/call-9_Zz/transcript")
        data(await client.call_tool("place_call", {"destination": NUMBER, "agent_id": "agt-2_Y"}))
        info = error(await client.call_tool("get_call", {"call_id": "call%2F1"}))
    assert info["code"] == "invalid_argument"
    call_path = b"/api/v1/console/agents/agt-1_X/calls/call-9_Zz"
    assert [(m, p) for m, p, _ in seen] == [("GET", call_path)] * 4 + [
        ("POST", b"/api/v1/console/agents/agt-2_Y/calls")
    ]
    assert [body for _, _, body in seen[:4]] == [b""] * 4
    assert json.loads(seen[4][2]) == {"destination": NUMBER, "is_test_call": True}
