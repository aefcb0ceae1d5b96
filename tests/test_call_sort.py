"""list_calls sorts by the API's fields, and takes created_at (the name the API's own docs use) for created_on."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from mcp import Client

from bimpe_mcp.sandbox import Sandbox
from tests.support import data, error, text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("asked", "sent"), [("-created_at", "-created_on"), ("created_at", "created_on")])
async def test_created_at_sorts_by_created_on_and_says_what_was_sent(
    client: Client, sandbox: Sandbox, asked: str, sent: str
) -> None:
    result = await client.call_tool("list_calls", {"sort": asked, "limit": 20})
    page = data(result)
    assert page["applied_filters"]["sort"] == sent
    assert f"filters: sort={sent}" in text(result)
    (request,) = sandbox.requests
    assert parse_qs(request.query)["sort"] == [sent]
    created = [c["created_on"] for c in page["calls"]]
    assert created == sorted(created, reverse=sent.startswith("-")) and len(set(created)) > 1
    same = data(await client.call_tool("list_calls", {"sort": sent, "limit": 20}))
    assert [c["id"] for c in same["calls"]] == [c["id"] for c in page["calls"]]


async def test_an_unknown_sort_field_is_still_refused_before_any_request(client: Client, sandbox: Sandbox) -> None:
    info = error(await client.call_tool("list_calls", {"sort": "-updated_at"}))
    assert info["code"] == "invalid_argument" and "created_on" in info["next_step"]
    assert sandbox.requests == []
