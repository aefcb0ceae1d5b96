"""Id completions read past the newest page of calls, and say honestly how many there are and whether there are
more."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qs

import httpx2
import pytest
from mcp import Client
from mcp.types import ResourceTemplateReference
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from bimpe_mcp.server.resources import CALL_TEMPLATE, COMPLETION_PAGES
from tests.conftest import ServerFactory
from tests.support import data

pytestmark = pytest.mark.anyio

REF = ResourceTemplateReference(type="ref/resource", uri=CALL_TEMPLATE)


async def every_call_id(client: Client) -> list[str]:
    ids: list[str] = []
    page = 1
    while True:
        result = data(await client.call_tool("list_calls", {"limit": 100, "page": page}))
        ids += [c["id"] for c in result["calls"]]
        if "next_page" not in result:
            return ids
        page += 1


def prefix_found_mostly_on_older_pages(ids: list[str]) -> str:
    """A prefix of six characters whose calls lie mostly past the newest page of 100."""
    older = Counter(i[:6] for i in ids[100:])
    newest = Counter(i[:6] for i in ids[:100])
    return max(older, key=lambda p: older[p] - newest[p])


async def test_call_ids_are_completed_from_every_page_with_an_exact_total(client: Client) -> None:
    ids = await every_call_id(client)
    assert len(ids) > 200, "the sandbox gives the live agent calls over several pages"
    prefix = prefix_found_mostly_on_older_pages(ids)
    expected = [i for i in ids if i.startswith(prefix)]
    assert len([i for i in ids[:100] if i.startswith(prefix)]) < len(expected)
    found = (await client.complete(REF, {"name": "call_id", "value": prefix})).completion
    assert found.values == expected[:100]
    assert found.total == len(expected) and found.has_more is (len(expected) > 100)


async def test_more_than_100_matches_give_100_values_the_total_and_has_more(client: Client) -> None:
    ids = await every_call_id(client)
    found = (await client.complete(REF, {"name": "call_id", "value": ""})).completion
    assert found.values == ids[:100]
    assert found.total == len(ids) and found.has_more is True


async def test_a_search_that_stops_before_the_last_page_says_has_more_without_a_total() -> None:
    big = Sandbox(SandboxConfig(seed=7, speed=0.0, calls=60 + 100 * (COMPLETION_PAGES + 2)))
    settings = Settings(api_key=SecretStr(big.keys.full), base_url=big.origin, agent_id=big.agents.live)
    async with Client(build_server(settings, transport=big.transport())) as client:
        found = (await client.complete(REF, {"name": "call_id", "value": "call_"})).completion
        assert len(found.values) == 100 and found.has_more is True and found.total is None
        nothing = (await client.complete(REF, {"name": "call_id", "value": "call_zzzzzz"})).completion
        assert nothing.values == [] and nothing.has_more is True and nothing.total is None
    pages = Counter(parse_qs(r.query)["page"][0] for r in big.requests if r.path.endswith("/calls"))
    assert pages == {str(n): 2 for n in range(1, COMPLETION_PAGES + 1)}, "each completion read its pages, no more"


async def test_a_page_that_fails_leaves_the_search_incomplete_not_wrong() -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        page = int(parse_qs(request.url.query.decode())["page"][0])
        if page == 2:
            return httpx2.Response(500, json={"message": "boom", "code": "internal_error"})
        meta = {"total_count": 300, "page_count": 3, "current_page": page, "limit": 100, "has_next_page": page < 3}
        calls = [{"id": f"call_{page}{n:03d}", "status": "ended"} for n in range(100)]
        return httpx2.Response(200, json={"message": "Success", "data": calls, "meta": meta})

    settings = Settings(api_key=SecretStr("sk_test_crafted"), agent_id="agt_1", max_retries=0)
    async with Client(build_server(settings, transport=httpx2.MockTransport(answer))) as client:
        found = (await client.complete(REF, {"name": "call_id", "value": "call_3"})).completion
    assert found.values == [f"call_3{n:03d}" for n in range(100)]
    assert found.has_more is True and found.total is None


async def test_agent_ids_are_completed_with_their_total(make_server: ServerFactory, sandbox: Sandbox) -> None:
    async with Client(make_server()) as client:
        found = (await client.complete(REF, {"name": "agent_id", "value": "agt_"})).completion
    assert sandbox.agents.live in found.values
    assert found.total == len(found.values) and found.has_more is False
