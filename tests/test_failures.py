from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from bimpe_mcp.sandbox import Fault, Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio


async def still_serving(client: Client) -> None:
    assert data(await client.call_tool("list_agents", {}))["agents"]


@pytest.mark.parametrize(
    ("key", "code", "hint"),
    [
        ("expired", "auth_failed", "expired"),
        ("invalid", "auth_failed", "BIMPE_API_KEY"),
    ],
)
async def test_a_refused_key_is_an_auth_error_that_says_what_to_fix(
    make_server: ServerFactory, sandbox: Sandbox, key: str, code: str, hint: str
) -> None:
    value = sandbox.keys.expired if key == "expired" else "sk_not_a_real_key"
    async with Client(make_server(api_key=value)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == code and hint in info["next_step"] and not info["retryable"]


async def test_no_key_means_every_tool_says_not_configured(make_server: ServerFactory, sandbox: Sandbox) -> None:
    async with Client(make_server(api_key=None, agent_id=None)) as client:
        for tool, args in (
            ("list_agents", {}),
            ("list_calls", {}),
            ("get_call", {"call_id": "c1"}),
            ("get_transcript", {"call_id": "c1"}),
            ("wait_for_call", {"call_id": "c1"}),
            ("place_call", {"destination": "+14155550100"}),
        ):
            info = error(await client.call_tool(tool, args))
            assert info["code"] == "not_configured", tool
            assert "BIMPE_API_KEY" in info["next_step"] and "--sandbox" in info["next_step"]
    assert sandbox.requests == []


async def test_missing_default_agent_names_list_agents(make_server: ServerFactory) -> None:
    async with Client(make_server(agent_id=None)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "invalid_argument" and "list_agents" in info["next_step"]


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
async def test_transient_failures_are_retried_until_the_api_recovers(
    client: Client, sandbox: Sandbox, status: int
) -> None:
    sandbox.faults.add(Fault(kind="status", status=status, times=2))
    assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"]
    attempts = [r for r in sandbox.requests if r.path.endswith("/calls")]
    assert len(attempts) == 3
    assert len({r.headers.get("x-request-id") for r in attempts}) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_a_persistent_failure_is_upstream_unavailable_and_the_server_keeps_serving(
    client: Client, sandbox: Sandbox, status: int
) -> None:
    sandbox.faults.add(Fault(kind="status", status=status, times=3))
    info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "upstream_unavailable" and info["retryable"] and info["request_id"]
    await still_serving(client)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(kind="drop", times=3), "upstream_unavailable"),
        (Fault(kind="non_json", times=3), "upstream_unavailable"),
        (Fault(kind="malformed", variant="no_message"), "upstream_protocol_error"),
        (Fault(kind="malformed", variant="html_200"), "upstream_protocol_error"),
        (Fault(kind="malformed", variant="truncated_json"), "upstream_protocol_error"),
        (Fault(kind="malformed", variant="data_null"), "upstream_protocol_error"),
    ],
)
async def test_transport_and_protocol_faults_are_tool_errors(
    client: Client, sandbox: Sandbox, fault: Fault, code: str
) -> None:
    sandbox.faults.add(fault)
    info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == code
    sandbox.faults.clear()
    await still_serving(client)


async def test_schema_drift_passes_unknown_values_through_and_never_fails_a_page(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="drift", variant="unknown_status"))
    page = data(await client.call_tool("list_calls", {"limit": 10}))
    statuses = {c["status"] for c in page["calls"]}
    assert statuses - {"queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"}
    sandbox.faults.clear()
    sandbox.faults.add(Fault(kind="drift", variant="extra_fields"))
    assert len(data(await client.call_tool("list_calls", {"limit": 10}))["calls"]) == 10
    sandbox.faults.clear()
    sandbox.faults.add(Fault(kind="drift", variant="nulls"))
    page = data(await client.call_tool("list_calls", {"limit": 10}))
    assert len(page["calls"]) + page.get("skipped_records", 0) == 10
    some = page["calls"][0]["id"]
    detail = data(await client.call_tool("get_call", {"call_id": some}))
    assert detail["transcript"]["total_turns"] == 0


async def test_a_write_that_may_have_happened_says_to_retry_only_with_its_key(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, method="POST", times=3))
    result = await client.call_tool("place_call", {"destination": "+447400900123"})
    info = error(result)
    assert info["code"] == "outcome_unknown" and info["retryable"] and "HTTP 503" in info["message"]
    keys = {r.headers.get("idempotency-key") for r in sandbox.requests if r.method == "POST"}
    assert len(keys) == 1 and None not in keys
    (key,) = keys
    assert f"idempotency_key={key}" in info["next_step"]
    sandbox.faults.clear()
    placed = data(await client.call_tool("place_call", {"destination": "+447400900123", "idempotency_key": key}))
    assert placed["status"] == "initiated"


async def test_a_dropped_connection_on_a_post_is_retried_with_the_same_key(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="drop", method="POST", times=1))
    placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
    assert placed["status"] == "initiated"
    posts: list[Any] = [r for r in sandbox.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[0].headers.get("idempotency-key") == posts[1].headers.get("idempotency-key")
    calls = data(await client.call_tool("list_calls", {"search": "+447400900123"}))["calls"]
    assert len(calls) == 1


async def test_error_text_carries_code_next_step_and_request_id(client_both: Client) -> None:
    result = await client_both.call_tool("get_call", {"call_id": "call_missing"})
    info = error(result)
    body = text(result)
    assert body.startswith("not_found: ") and "Next: " in body and info["request_id"] in body
    assert "list_calls" in info["next_step"]


@pytest.mark.parametrize(
    ("status", "api_code", "code", "retryable"),
    [
        (400, "validation_error", "invalid_argument", False),
        (422, "unprocessable", "invalid_argument", False),
        (403, "forbidden", "forbidden", False),
        (409, "conflict", "conflict", True),
        (501, "not_implemented", "upstream_protocol_error", False),
        (418, "teapot", "upstream_protocol_error", False),
    ],
)
async def test_every_other_api_error_class_maps_to_a_stable_code(
    client: Client, sandbox: Sandbox, status: int, api_code: str, code: str, retryable: bool
) -> None:
    sandbox.faults.add(Fault(kind="status", status=status, code=api_code, times=1))
    info = error(await client.call_tool("list_calls", {}))
    assert (info["code"], info["retryable"], info["api_code"]) == (code, retryable, api_code)
    assert len([r for r in sandbox.requests if r.path.endswith("/calls")]) == 1, "4xx and 501 are not retried"
    await still_serving(client)


async def test_a_post_whose_answer_was_lost_is_retried_and_the_api_replays_it(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="drop", method="POST", after=True, times=1))
    placed = data(await client.call_tool("place_call", {"destination": "+447400900555"}))
    assert placed["status"] == "initiated"
    assert len([r for r in sandbox.requests if r.method == "POST"]) == 2
    calls = data(await client.call_tool("list_calls", {"search": "+447400900555"}))["calls"]
    assert [c["id"] for c in calls] == [placed["call_id"]]


async def test_type_drift_is_read_leniently(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="drift", variant="types"))
    page = data(await client.call_tool("list_calls", {"limit": 10}))
    assert len(page["calls"]) == 10 and page["skipped_records"] == 0
    assert all(c["created_on"].endswith("Z") for c in page["calls"])
