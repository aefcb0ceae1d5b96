"""A failed place_call says whether the call may exist: only an answer that proves the API did nothing is a definite
failure; every other failure is outcome_unknown, with the idempotency key that retries it safely."""

from __future__ import annotations

import pytest
from mcp import Client

from bimpe_mcp.sandbox import Fault, RecordedRequest, Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

NUMBER = "+447400900777"


def posts(sandbox: Sandbox) -> list[RecordedRequest]:
    return [r for r in sandbox.requests if r.method == "POST"]


async def calls_to(client: Client, number: str) -> list[str]:
    return [c["id"] for c in data(await client.call_tool("list_calls", {"search": number, "limit": 100}))["calls"]]


async def test_a_501_after_the_call_was_placed_is_possibly_placed_and_its_key_places_nothing_new(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="status", status=501, method="POST", after=True, times=1))
    failed = await client.call_tool("place_call", {"destination": NUMBER})
    info = error(failed)
    (sent,) = posts(sandbox)
    key = sent.headers["idempotency-key"]
    assert info["code"] == "outcome_unknown" and info["retryable"]
    assert info["message"].startswith("the call may have been placed: ") and "HTTP 501" in info["message"]
    assert f"idempotency_key={key}" in info["next_step"] and "Never retry without this key" in info["next_step"]
    assert info["idempotency_key"] == key
    assert info["request_id"] == sent.headers["x-request-id"]
    assert f"idempotency_key={key}" in text(failed)
    placed_before = await calls_to(client, NUMBER)
    assert len(placed_before) == 1, "the API did place the call before its answer was lost"

    again = data(await client.call_tool("place_call", {"destination": NUMBER, "idempotency_key": key}))
    assert again["status"] == "initiated" and again["call_id"] == placed_before[0]
    assert posts(sandbox)[-1].idempotent_replay
    assert await calls_to(client, NUMBER) == placed_before, "the retry with the key placed nothing new"


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault(kind="status", status=500, method="POST", after=True, times=3), "HTTP 500"),
        (Fault(kind="status", status=503, method="POST", times=3), "HTTP 503"),
        (Fault(kind="status", status=418, method="POST", code="teapot", after=True), "HTTP 418"),
        (Fault(kind="status", status=405, method="POST", code="bad_request"), "HTTP 405"),
        (Fault(kind="drop", method="POST", after=True, times=3), "RemoteProtocolError"),
        (Fault(kind="non_json", method="POST", times=3), "HTTP 502"),
        (Fault(kind="malformed", variant="html_200", method="POST"), "cannot read"),
        (Fault(kind="malformed", variant="data_null", method="POST"), "cannot read"),
    ],
    ids=["500-after", "503", "418", "405", "drop-after", "html-502", "html-200", "data-null"],
)
async def test_every_failure_that_does_not_prove_nothing_was_done_is_outcome_unknown(
    client: Client, sandbox: Sandbox, fault: Fault, cause: str
) -> None:
    sandbox.faults.add(fault)
    info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    keys = {r.headers["idempotency-key"] for r in posts(sandbox)}
    ids = {r.headers["x-request-id"] for r in posts(sandbox)}
    assert len(keys) == 1 and len(ids) == 1, "retries by the server reuse the key and the request id"
    (key,) = keys
    assert (info["code"], info["retryable"], info["idempotency_key"]) == ("outcome_unknown", True, key)
    assert cause in info["message"] and f"idempotency_key={key}" in info["next_step"]
    assert info["request_id"] == ids.pop()


async def test_a_timeout_of_every_attempt_is_outcome_unknown_with_the_request_id_sent(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=30, method="POST"))
    async with Client(make_server(timeout_seconds=0.05, deadline_seconds=20)) as client:
        info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    assert info["code"] == "outcome_unknown" and "in time" in info["message"]
    assert len(posts(sandbox)) == 3
    assert info["request_id"] == posts(sandbox)[0].headers["x-request-id"]
    assert info["idempotency_key"] == posts(sandbox)[0].headers["idempotency-key"]


async def test_a_write_whose_deadline_passes_is_outcome_unknown_with_the_request_id_sent(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=30, method="POST"))
    async with Client(make_server(deadline_seconds=0.2)) as client:
        info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    assert info["code"] == "outcome_unknown" and "0.2 s deadline" in info["message"]
    (sent,) = posts(sandbox)
    assert info["request_id"] == sent.headers["x-request-id"]
    assert f"idempotency_key={sent.headers['idempotency-key']}" in info["next_step"]


async def test_a_rate_limit_on_place_call_is_outcome_unknown_with_its_retry_after_and_key(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, code="too_many_requests", method="POST", retry_after="120"))
    info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    (sent,) = posts(sandbox)
    key = sent.headers["idempotency-key"]
    assert (info["code"], info["api_code"], info["idempotency_key"]) == ("outcome_unknown", "too_many_requests", key)
    assert info["retry_after_seconds"] == 120 and f"idempotency_key={key}" in info["next_step"]


async def test_a_refusal_after_an_attempt_that_may_have_run_is_still_outcome_unknown(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, method="POST", after=True, times=1))
    sandbox.faults.add(Fault(kind="status", status=429, method="POST", retry_after="120", after=True, times=1))
    info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    assert len(posts(sandbox)) == 2
    assert info["code"] == "outcome_unknown" and info["retry_after_seconds"] == 120
    assert await calls_to(client, NUMBER), "the first attempt did place the call"


@pytest.mark.parametrize(
    ("status", "api_code", "code"),
    [
        (400, "validation_error", "invalid_argument"),
        (401, "unauthorized", "auth_failed"),
        (403, "forbidden", "forbidden"),
        (404, "not_found", "not_found"),
        (409, "conflict", "conflict"),
        (422, "unprocessable", "invalid_argument"),
    ],
)
async def test_a_refusal_answered_before_acting_is_a_definite_failure_without_a_key(
    client: Client, sandbox: Sandbox, status: int, api_code: str, code: str
) -> None:
    sandbox.faults.add(Fault(kind="status", status=status, code=api_code, method="POST", retry_after="120"))
    info = error(await client.call_tool("place_call", {"destination": NUMBER}))
    assert (info["code"], info["api_code"]) == (code, api_code)
    assert info.get("idempotency_key") is None and "idempotency_key=" not in info["next_step"]
    assert info["request_id"] == posts(sandbox)[0].headers["x-request-id"]
    assert await calls_to(client, NUMBER) == []


async def test_a_dropped_read_names_the_request_id_it_sent(client: Client, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault(kind="drop", times=3))
    info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "upstream_unavailable" and "RemoteProtocolError" in info["message"]
    assert info["request_id"] == sandbox.requests[0].headers["x-request-id"]


async def test_a_read_whose_deadline_passes_names_the_request_id_it_sent(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=30))
    async with Client(make_server(deadline_seconds=0.2)) as client:
        info = error(await client.call_tool("get_call", {"call_id": "call_1"}))
    assert info["code"] == "deadline_exceeded"
    assert info["request_id"] == sandbox.requests[0].headers["x-request-id"]
