"""Advice in an error follows from what was asked (which tool, which ids), never from the wording of the API's
message; a conflict on a read is not about idempotency keys."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Fault, Sandbox
from bimpe_mcp.server.build import build_server
from tests.support import data, error

pytestmark = pytest.mark.anyio


def answering_404(message: str) -> Any:
    """A server on an API that answers every request 404 with `message`, worded as it likes."""

    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(404, json={"message": message, "code": "not_found"}, headers={"X-Request-Id": "r-404"})

    settings = Settings(api_key=SecretStr("sk_test_crafted"), agent_id="agt_1", max_retries=0)
    return build_server(settings, transport=httpx2.MockTransport(answer))


@pytest.mark.parametrize("tool", ["get_call", "get_transcript", "wait_for_call"])
async def test_a_missing_call_names_the_call_and_the_agent_asked_for(
    client: Client, sandbox: Sandbox, tool: str
) -> None:
    info = error(await client.call_tool(tool, {"call_id": "call_missing"}))
    live = sandbox.agents.live
    assert info["code"] == "not_found" and not info["retryable"]
    assert "call call_missing" in info["message"] and f"agent {live}" in info["message"]
    assert f"list the calls of agent {live}" in info["next_step"] and "list_agents" in info["next_step"]


async def test_a_call_asked_of_a_missing_agent_names_both(client: Client) -> None:
    info = error(await client.call_tool("get_call", {"call_id": "call_1", "agent_id": "agt_nope"}))
    assert info["message"] == "no call call_1 was found for agent agt_nope (API: Agent not found)"


async def test_a_missing_agent_on_list_calls_names_the_agent_and_points_to_list_agents(client: Client) -> None:
    info = error(await client.call_tool("list_calls", {"agent_id": "agt_nope"}))
    assert info["message"].startswith("no agent agt_nope was found")
    assert "list_agents" in info["next_step"] and "list_calls" not in info["next_step"]


@pytest.mark.parametrize("wording", ["Call not found", "Agent not found", "Not Found", "no such call or agent"])
async def test_the_404_advice_does_not_depend_on_the_apis_wording(wording: str) -> None:
    async with Client(answering_404(wording)) as client:
        listed = error(await client.call_tool("list_calls", {}))
        got = error(await client.call_tool("get_call", {"call_id": "call_9"}))
        placed = error(await client.call_tool("place_call", {"destination": "+2348012345678"}))
        agents = error(await client.call_tool("list_agents", {}))
    assert listed["message"] == f"no agent agt_1 was found (API: {wording})"
    assert listed["next_step"] == placed["next_step"] and "list_agents" in listed["next_step"]
    assert got["message"] == f"no call call_9 was found for agent agt_1 (API: {wording})"
    assert "list the calls of agent agt_1" in got["next_step"]
    assert placed["code"] == "not_found", "a 404 on a write proves nothing was placed"
    assert "BIMPE_BASE_URL" in agents["next_step"], "a 404 with no id asked means the address is wrong"
    assert {listed["request_id"], got["request_id"], agents["request_id"]} == {"r-404"}


async def test_a_conflict_on_a_read_is_not_about_idempotency_keys(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="status", status=409, code="conflict", method="GET", times=1))
    info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "conflict" and info["retryable"]
    assert "idempotency" not in (info["message"] + info["next_step"]).lower()
    assert "Nothing was changed" in info["next_step"]


async def test_a_conflict_on_place_call_is_about_the_reused_key(client: Client) -> None:
    key = data(await client.call_tool("place_call", {"destination": "+447400900123"}))["idempotency_key"]
    info = error(await client.call_tool("place_call", {"destination": "+447400900124", "idempotency_key": key}))
    assert info["code"] == "conflict" and not info["retryable"]
    assert "idempotency_key was already used with different arguments" in info["next_step"]
