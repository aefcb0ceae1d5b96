"""Answers the sandbox does not give on its own, from a crafted API at the transport."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
from tests.support import data, error

pytestmark = pytest.mark.anyio

CALL = {"id": "call_1", "status": "ended", "destination": "+2348012345678", "created_on": "2026-11-01T10:00:00Z"}


def server_on(answer: Callable[[httpx2.Request], httpx2.Response]) -> Any:
    settings = Settings(api_key=SecretStr("sk_test_crafted"), agent_id="agt_1", max_retries=0)
    return build_server(settings, transport=httpx2.MockTransport(answer))


async def test_validation_errors_name_each_field_from_a_list_message() -> None:
    def answer(_: httpx2.Request) -> httpx2.Response:
        body = {
            "message": ["destination: must be an E.164 phone number", "is_test_call must be a boolean"],
            "error": "Bad Request",
            "code": "validation_error",
            "statusCode": 400,
            "request_id": "req-body-1",
        }
        return httpx2.Response(400, json=body)

    async with Client(server_on(answer)) as client:
        info = error(await client.call_tool("place_call", {"destination": "+2348012345678"}))
    assert info["code"] == "invalid_argument"
    assert "destination: must be an E.164 phone number" in info["message"]
    assert "is_test_call must be a boolean" in info["message"]
    assert info["request_id"] == "req-body-1", "without the header, the body's request_id is kept"


async def test_validation_errors_are_read_from_an_errors_array_too() -> None:
    def answer(_: httpx2.Request) -> httpx2.Response:
        body = {"code": "validation_error", "message": "Request validation failed.", "errors": [{"path": "limit"}]}
        return httpx2.Response(400, json=body, headers={"X-Request-Id": "req-2"})

    async with Client(server_on(answer)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "invalid_argument" and "limit: " in info["message"] and info["request_id"] == "req-2"


async def test_one_unreadable_record_is_left_out_and_counted() -> None:
    def answer(_: httpx2.Request) -> httpx2.Response:
        records = [CALL, {"status": "ended"}, {**CALL, "id": "call_2"}]
        return httpx2.Response(200, json={"message": "Success", "data": records})

    async with Client(server_on(answer)) as client:
        page = data(await client.call_tool("list_calls", {}))
    assert [c["id"] for c in page["calls"]] == ["call_1", "call_2"]
    assert page["skipped_records"] == 1
    assert "next_page" not in page, "without meta, the page never invites a fetch past itself"


async def test_a_single_call_of_the_wrong_shape_is_a_protocol_error() -> None:
    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"message": "Success", "data": {"status": "ended"}})

    async with Client(server_on(answer)) as client:
        info = error(await client.call_tool("get_call", {"call_id": "call_1"}))
    assert info["code"] == "upstream_protocol_error" and "id" in info["message"]
