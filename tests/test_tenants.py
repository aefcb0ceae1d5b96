"""`--auth passthrough` serving several tenants, each an API key: a bearer the API refuses never opens a session nor
runs a tool, and each tenant's budgets and audit entries are its own. `bimpe-mcp --transport http` over real HTTP,
against the standalone sandbox (two teams: the `full` key and the `other_team` key)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.server.http import tenant_of
from bimpe_mcp.server.sessions import SESSIONS_PER_IDENTITY
from tests.served import HttpServer, StandaloneSandbox
from tests.support import ACCEPT_STREAMS as ACCEPT
from tests.support import INITIALIZE, data, error

FAILED_DESTINATION = "+15005550003"
"""A scripted destination: the test call fails at once, so it never holds one of the sandbox's test-call slots."""
JUNK = "sk_sandbox_no_such_key_0000"


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
def tenants(sandbox: StandaloneSandbox, audit_file: Path) -> Iterator[HttpServer]:
    """One test call an hour, per tenant; a state of its own; one audit file."""
    env = {
        "BIMPE_BASE_URL": sandbox.origin,
        "BIMPE_HTTP_AUTH": "passthrough",
        "BIMPE_MAX_TEST_CALLS_PER_HOUR": "1",
        "BIMPE_STATE_URL": "memory://",
        "BIMPE_AUDIT_LOG": str(audit_file),
    }
    server = HttpServer(env)
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def connected(url: str, token: str) -> AsyncGenerator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        yield client


async def place_test_call(client: Client, agent: str) -> Any:
    return await client.call_tool("place_call", {"agent_id": agent, "destination": FAILED_DESTINATION,
                                                 "is_test_call": True})  # fmt: skip


async def audit(client: Client) -> list[dict[str, Any]]:
    (contents,) = (await client.read_resource("bimpe://audit/recent")).contents
    text = getattr(contents, "text", "")
    return [json.loads(line) for line in text.splitlines() if line]


def post(url: str, token: str, body: dict[str, Any]) -> httpx2.Response:
    return httpx2.post(url, json=body, headers={"Authorization": f"Bearer {token}", **ACCEPT}, timeout=30)


@pytest.mark.anyio
async def test_a_key_the_api_refuses_gets_401_and_spends_no_budget(
    tenants: HttpServer, sandbox: StandaloneSandbox
) -> None:
    answer = post(tenants.url, JUNK, INITIALIZE)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_token" and "not an API key" in answer.json()["error_description"]
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert "mcp-session-id" not in answer.headers
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "place_call", "arguments": {
        "agent_id": sandbox.agents["live"], "destination": FAILED_DESTINATION, "is_test_call": True}}}  # fmt: skip
    for _ in range(3):  # a refusal is kept too: each is answered alike
        assert post(tenants.url, JUNK, call).status_code == 401
    missing = httpx2.post(tenants.url, json=INITIALIZE, headers=ACCEPT, timeout=30)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_token"
    async with connected(tenants.url, sandbox.keys["full"]) as client:
        placed = await place_test_call(client, sandbox.agents["live"])
        assert not placed.is_error, placed.content
        assert await audit(client) == [await only_entry(client)]
    assert JUNK not in tenants.log()


async def only_entry(client: Client) -> dict[str, Any]:
    (entry,) = await audit(client)
    assert entry["decision"] in {"failed", "initiated"} and entry["is_test_call"] is True, entry
    return entry


@pytest.mark.anyio
async def test_each_tenant_has_its_own_budget_and_reads_only_its_own_audit_entries(
    tenants: HttpServer, sandbox: StandaloneSandbox, audit_file: Path
) -> None:
    mine, theirs = sandbox.agents["live"], sandbox.agents["other_team"]
    async with (
        connected(tenants.url, sandbox.keys["full"]) as first,
        connected(tenants.url, sandbox.keys["other_team"]) as second,
    ):
        placed = data(await place_test_call(first, mine))
        spent = error(await place_test_call(first, mine))
        assert spent["rule"] == "hourly_budget", spent
        other = await place_test_call(second, theirs)
        assert not other.is_error, other.content
        first_seen, second_seen = await audit(first), await audit(second)
    assert [e.get("agent_id") for e in first_seen] == [mine, mine]
    assert first_seen[0]["idempotency_key"] == placed["idempotency_key"] and first_seen[1]["rule"] == "hourly_budget"
    assert [e.get("agent_id") for e in second_seen] == [theirs], second_seen
    blob = json.dumps(second_seen)
    assert placed["idempotency_key"] not in blob and mine not in blob and placed.get("call_id", mine) not in blob
    # The one file holds every tenant's entries, each line naming its tenant by a digest of the key, never the key.
    written = await anyio.Path(audit_file).read_text(encoding="utf-8")
    by_tenant = [(line["tenant"], line.get("agent_id")) for line in map(json.loads, written.splitlines())]
    first_key, second_key = sandbox.keys["full"], sandbox.keys["other_team"]
    assert by_tenant == [(tenant_of(first_key), mine), (tenant_of(first_key), mine), (tenant_of(second_key), theirs)]
    assert tenant_of(first_key) != tenant_of(second_key)
    assert "tenant" not in first_seen[0], "the tenant's own entries need no name"
    assert first_key not in written and second_key not in written


def test_junk_sessions_never_open_so_a_tenant_still_opens_its_own(
    tenants: HttpServer, sandbox: StandaloneSandbox
) -> None:
    for n in range(50):
        answer = post(tenants.url, f"sk_junk_{n:04d}_0000000000", INITIALIZE)
        assert answer.status_code == 401 and "mcp-session-id" not in answer.headers, answer.text
    opened = post(tenants.url, sandbox.keys["full"], INITIALIZE)
    assert opened.status_code == 200 and opened.headers["mcp-session-id"], opened.text


def test_keys_the_api_is_asked_about_count_against_their_address_so_made_up_keys_cannot_flood_it(
    sandbox: StandaloneSandbox,
) -> None:
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough", "BIMPE_STATE_URL": "memory://",
           "BIMPE_HTTP_RATE_LIMIT": "4/hour"}  # fmt: skip
    server = HttpServer(env)
    try:
        assert post(server.url, sandbox.keys["full"], INITIALIZE).status_code == 200  # the address's first of four
        httpx2.delete(f"{sandbox.origin}/_sandbox/requests", timeout=30)
        answers = [post(server.url, f"sk_junk_{n:04d}_0000000000", INITIALIZE) for n in range(6)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429, 429, 429]
        refused = answers[3]
        assert int(refused.headers["retry-after"]) > 0, refused.headers
        assert refused.json()["error"] == "too_many_requests"
        assert "BIMPE_HTTP_RATE_LIMIT" in refused.json()["error_description"] and "sk_junk" not in refused.text
        asked = httpx2.get(f"{sandbox.origin}/_sandbox/requests", timeout=30).json()["requests"]
        assert [r["status"] for r in asked] == [401, 401, 401], "the API was asked about three made-up keys, no more"
        # A key verified a moment ago is not asked about again, so the address's spent count never holds it back.
        assert post(server.url, sandbox.keys["full"], INITIALIZE).status_code == 200
        assert "sk_junk" not in server.log()
    finally:
        server.stop()


def test_a_key_that_cannot_be_verified_gets_503_with_retry_after(sandbox: StandaloneSandbox) -> None:
    sandbox.set_fault({"kind": "status", "status": 503, "retry_after": "7"})
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough", "BIMPE_STATE_URL": "memory://",
           "BIMPE_MAX_RETRIES": "0"}  # fmt: skip
    server = HttpServer(env)
    try:
        answer = post(server.url, sandbox.keys["full"], INITIALIZE)
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "7" and "cannot be reached" in answer.json()["error_description"]
        sandbox.set_fault(None)
        assert post(server.url, sandbox.keys["full"], INITIALIZE).status_code == 200, "an unknown verdict is not kept"
    finally:
        sandbox.set_fault(None)
        server.stop()


def test_one_key_fills_only_its_own_share_of_sessions(sandbox: StandaloneSandbox) -> None:
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough", "BIMPE_STATE_URL": "memory://"}
    server = HttpServer(env)
    try:
        full, other = sandbox.keys["full"], sandbox.keys["other_team"]
        opened = [post(server.url, full, INITIALIZE) for _ in range(SESSIONS_PER_IDENTITY)]
        assert all(a.status_code == 200 for a in opened), {a.status_code for a in opened}
        refused = post(server.url, full, INITIALIZE)
        assert refused.status_code == 503 and refused.headers["retry-after"], refused.text
        assert "open sessions" in refused.json()["error"]["message"] and full not in refused.text
        assert post(server.url, other, INITIALIZE).status_code == 200, "another key still opens its own"
        ended = httpx2.delete(server.url, headers={"Authorization": f"Bearer {full}",
                                                   "mcp-session-id": opened[0].headers["mcp-session-id"]})  # fmt: skip
        assert ended.status_code < 400, ended.text
        assert post(server.url, full, INITIALIZE).status_code == 200, "a session ended frees its place"
    finally:
        server.stop()


def test_an_api_that_cannot_be_reached_is_503_not_401() -> None:
    env = {"BIMPE_BASE_URL": "http://127.0.0.1:9", "BIMPE_HTTP_AUTH": "passthrough", "BIMPE_STATE_URL": "memory://",
           "BIMPE_MAX_RETRIES": "0"}  # fmt: skip
    server = HttpServer(env)
    try:
        answer = post(server.url, "sk_any_key_0123456789", INITIALIZE)
    finally:
        server.stop()
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0, answer.text
    assert answer.json()["error"] == "temporarily_unavailable"


@pytest.mark.anyio
async def test_without_the_state_store_verdicts_are_kept_by_the_process_and_no_call_is_placed(
    sandbox: StandaloneSandbox,
) -> None:
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough",
           "BIMPE_STATE_URL": "redis://127.0.0.1:9/0"}  # fmt: skip
    server = HttpServer(env)
    try:
        assert [post(server.url, JUNK, INITIALIZE).status_code for _ in range(2)] == [401, 401]
        async with connected(server.url, sandbox.keys["full"]) as client:
            agents = data(await client.call_tool("list_agents", {}))["agents"]
            refused = error(await place_test_call(client, sandbox.agents["live"]))
        log = server.log()
    finally:
        server.stop()
    assert sandbox.agents["live"] in {a["id"] for a in agents} and refused["rule"] == "state_unavailable"
    assert "a key's verdict is kept by this process only" in log and JUNK not in log
