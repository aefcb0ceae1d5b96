"""Remote mode: `bimpe-mcp --transport http` as uvicorn serves it, on an ephemeral loopback port, against the
standalone sandbox. One server per configuration, shared by the tests of this module:

- tokens: `--auth tokens` (a plain token and a sha256 line), stateful, SSE;
- tenants: `--auth passthrough --stateless --json-response --path /team/mcp`, two sandbox teams as two clients;
- workers: `--workers 2 --stateless`, a handshake-era client whose requests land on both workers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult
from pydantic_ai.mcp import MCPToolset

from bimpe_mcp import __version__
from bimpe_mcp.server.collector import YOUNG
from tests.dist_support import TOOLS
from tests.served import HttpServer, StandaloneSandbox
from tests.support import assert_no_secret, data

PLAIN_TOKEN = "team-token-plain-2b7c9d41e0a3"
HASHED_TOKEN = "team-token-hashed-5f18a2c6d9b0"
FAILED_DESTINATION = "+15005550003"
"""A scripted destination: the test call fails at once, so it never holds one of the sandbox's test-call slots."""
ERAS = ["legacy", "auto"]


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


def api_env(sandbox: StandaloneSandbox, **more: str) -> dict[str, str]:
    return {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_AGENT_ID": sandbox.agents["live"], **more}


@pytest.fixture(scope="module")
def tokens(sandbox: StandaloneSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    folder = tmp_path_factory.mktemp("tokens")
    hashed = hashlib.sha256(HASHED_TOKEN.encode()).hexdigest()
    (folder / "tokens").write_text(f"# the team's tokens\n{PLAIN_TOKEN}\n\nsha256:{hashed.upper()}\n", "utf-8")
    env = api_env(sandbox, BIMPE_API_KEY=sandbox.keys["full"], BIMPE_HTTP_TOKENS_FILE=str(folder / "tokens"))
    server = HttpServer(env, "--auth", "tokens")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tenants(sandbox: StandaloneSandbox) -> Iterator[HttpServer]:
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough"}
    args = ("--stateless", "--json-response", "--path", "/team/mcp")
    server = HttpServer(env, *args, log_level="DEBUG")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def workers(sandbox: StandaloneSandbox) -> Iterator[HttpServer]:
    server = HttpServer(api_env(sandbox, BIMPE_API_KEY=sandbox.keys["full"]), "--workers", "2", "--stateless")
    try:
        yield server
    finally:
        server.stop()


@asynccontextmanager
async def connected(
    url: str, token: str | None = None, mode: str = "auto", fresh: bool = False
) -> AsyncGenerator[Client]:
    """An MCP client over streamable HTTP; `fresh` opens a new connection for every request (no keep-alive), so
    that each one is accepted by whichever worker takes it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if fresh:
        headers["Connection"] = "close"
    http = httpx2.AsyncClient(headers=headers, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


async def every_tool(client: Client, agent: str) -> set[str]:
    """Call each tool once with arguments that work; every result is checked for success and for keys."""
    used: set[str] = set()

    async def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        used.add(name)
        return data(await client.call_tool(name, arguments))

    assert {agent} <= {a["id"] for a in (await call("list_agents", {}))["agents"]}
    listed = await call("list_calls", {"agent_id": agent, "limit": 3})
    call_id = listed["calls"][0]["id"]
    assert (await call("show_calls", {"agent_id": agent}))["calls"][0]["id"] == call_id
    assert (await call("get_call", {"agent_id": agent, "call_id": call_id}))["id"] == call_id
    assert (await call("get_transcript", {"agent_id": agent, "call_id": call_id}))["call_id"] == call_id
    bulk = await call("get_transcripts", {"agent_id": agent, "call_ids": [c["id"] for c in listed["calls"]]})
    assert [c["call_id"] for c in bulk["calls"]] == [c["id"] for c in listed["calls"]]
    assert (await call("get_agent", {"agent_id": agent}))["id"] == agent
    assert (await call("call_stats", {"agent_id": agent, "since": "7d"}))["agent_id"] == agent
    placed = await call("place_call", {"agent_id": agent, "destination": FAILED_DESTINATION, "is_test_call": True})
    waited = await call("wait_for_call", {"agent_id": agent, "call_id": placed["call_id"], "timeout_seconds": 5})
    assert waited["finished"] is True and waited["status"] == "failed"
    return used


# --- auth ---------------------------------------------------------------------------------------------------------


def test_without_a_valid_token_the_answer_is_401_with_www_authenticate(tokens: HttpServer) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-known-token-at-all"}, {"Authorization": "Basic eDp5"}):
        answer = httpx2.post(tokens.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"].startswith("Bearer "), answer.headers


def test_the_start_line_says_who_may_call_and_which_api_answers(
    tokens: HttpServer, tenants: HttpServer, sandbox: StandaloneSandbox
) -> None:
    assert f"auth tokens (bearer tokens from BIMPE_HTTP_TOKENS_FILE); API: {sandbox.origin}\n" in tokens.log()
    assert "auth passthrough (each client's bearer token is its own API key)" in tenants.log()
    assert "no BIMPE_API_KEY" not in tenants.log(), "with passthrough the server takes no key of its own"


def refusal(url: str, headers: dict[str, str]) -> tuple[str, str, str]:
    """The 401's error code, description and WWW-Authenticate challenge."""
    answer = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
    assert answer.status_code == 401, answer.text
    body = answer.json()
    return body["error"], body["error_description"], answer.headers["www-authenticate"]


@pytest.mark.parametrize("server", ["tokens", "tenants"])
def test_a_wrong_bearer_token_is_told_apart_from_a_missing_one(server: str, request: pytest.FixtureRequest) -> None:
    served: HttpServer = request.getfixturevalue(server)
    wrong = "not-a-known-token-at-all" if server == "tokens" else "sk_sandbox with a space"
    for headers in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer"}):
        code, said, challenge = refusal(served.url, headers)
        assert code == "missing_token" and "Authorization: Bearer <token>" in said, (headers, said)
        assert "error=" not in challenge.replace("error_description=", ""), "no error code without a credential"
    code, said, challenge = refusal(served.url, {"Authorization": f"Bearer {wrong}"})
    assert code == "invalid_token" and 'error="invalid_token"' in challenge
    expected = "not one this server accepts" if server == "tokens" else "not an API key: send your BimpeAI API key"
    assert expected in said and wrong not in said + challenge


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_every_tool_answers_over_http_with_a_plain_token_in_both_eras(
    tokens: HttpServer, sandbox: StandaloneSandbox, mode: str
) -> None:
    async with connected(tokens.url, PLAIN_TOKEN, mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        assert await every_tool(client, sandbox.agents["live"]) == TOOLS


@pytest.mark.anyio
async def test_a_pydantic_ai_toolset_configured_as_the_readme_says_reaches_every_tool(tokens: HttpServer) -> None:
    toolset = MCPToolset(tokens.url, headers={"Authorization": f"Bearer {PLAIN_TOKEN}"}, init_timeout=60)
    async with toolset:
        assert {tool.name for tool in await toolset.list_tools()} == TOOLS


@pytest.mark.anyio
async def test_a_token_listed_by_its_sha256_is_accepted(tokens: HttpServer, sandbox: StandaloneSandbox) -> None:
    async with connected(tokens.url, HASHED_TOKEN, "legacy") as client:
        agents = data(await client.call_tool("list_agents", {}))["agents"]
    assert sandbox.agents["live"] in {agent["id"] for agent in agents}


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_progress_of_wait_for_call_arrives_over_sse_while_the_call_goes_on(
    tokens: HttpServer, sandbox: StandaloneSandbox, mode: str
) -> None:
    heard_so_far: list[tuple[float, float | None, str | None]] = []

    async def heard(progress: float, total: float | None, message: str | None) -> None:
        heard_so_far.append((progress, total, message))

    # The scripted busy number keeps a test call going for 8 seconds; waiting until it ends frees its test-call slot.
    busy = busy_number(sandbox)
    async with connected(tokens.url, PLAIN_TOKEN, mode) as client:
        placed = data(await client.call_tool("place_call", {"destination": busy, "is_test_call": True}))
        waited = await client.call_tool(
            "wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 30}, progress_callback=heard
        )
    assert data(waited)["finished"] is True and data(waited)["status"] == "busy"
    assert len(heard_so_far) >= 2 and heard_so_far[0][1] == 30.0, heard_so_far
    assert all(message and placed["call_id"] in message for _, _, message in heard_so_far), heard_so_far


def busy_number(sandbox: StandaloneSandbox) -> str:
    info: dict[str, Any] = httpx2.get(sandbox.control + "/info").json()
    return info["scripted_destinations"]["busy"]


# --- passthrough: each client's own key ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_with_passthrough_each_tenant_sees_its_own_agents_only(
    tenants: HttpServer, sandbox: StandaloneSandbox
) -> None:
    assert tenants.url.endswith("/team/mcp")
    main, other = sandbox.agents["live"], sandbox.agents["other_team"]
    async with (
        connected(tenants.url, sandbox.keys["full"], "legacy") as first,
        connected(tenants.url, sandbox.keys["other_team"]) as second,
    ):
        for _ in range(2):  # interleaved, each request with its own key
            mine = {a["id"] for a in data(await first.call_tool("list_agents", {}))["agents"]}
            theirs = {a["id"] for a in data(await second.call_tool("list_agents", {}))["agents"]}
            assert main in mine and other not in mine
            assert theirs == {other}
        assert await every_tool(second, other) == TOOLS
        foreign = await second.call_tool("list_calls", {"agent_id": main})
        assert foreign.is_error
    log = tenants.log()
    assert "answered POST with 200" in log and "progress notifications (wait_for_call) cannot stream" in log
    assert_no_secret(log)


def test_with_passthrough_a_key_the_api_refuses_is_401(tenants: HttpServer) -> None:
    error, description, challenge = refusal(tenants.url, {"Authorization": "Bearer sk_sandbox_no_such_key_0000"})
    assert error == "invalid_token" and "not an API key" in description and 'error="invalid_token"' in challenge


def test_with_passthrough_a_request_without_a_key_is_401(tenants: HttpServer) -> None:
    answer = httpx2.post(tenants.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401 and "Bearer" in answer.headers["www-authenticate"]


# --- the transport ------------------------------------------------------------------------------------------------


def initialize(token: str) -> dict[str, Any]:
    return {
        "json": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        "headers": {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
    }


def test_a_foreign_host_or_origin_is_refused(tokens: HttpServer) -> None:
    request = initialize(PLAIN_TOKEN)
    assert httpx2.post(tokens.url, **request).status_code == 200
    port = tokens.origin.rsplit(":", 1)[1]
    foreign_host = httpx2.post(tokens.url, json=request["json"], headers=request["headers"] | {"Host": "evil.example"})
    assert foreign_host.status_code == 421 and "BIMPE_HTTP_ALLOWED_HOSTS" in foreign_host.text
    rebound = request["headers"] | {"Origin": f"http://evil.example:{port}"}
    foreign_origin = httpx2.post(tokens.url, json=request["json"], headers=rebound)
    assert foreign_origin.status_code == 403 and "BIMPE_HTTP_ALLOWED_ORIGINS" in foreign_origin.text
    assert "evil.example" not in foreign_host.text + foreign_origin.text, "nothing from the request is echoed"
    assert "Host 'evil.example' with 421: not in BIMPE_HTTP_ALLOWED_HOSTS" in tokens.log(), "the operator is told"
    local = request["headers"] | {"Origin": f"http://localhost:{port}"}
    assert httpx2.post(tokens.url, json=request["json"], headers=local).status_code == 200


def test_an_oversized_body_is_refused_with_413(tokens: HttpServer) -> None:
    request = initialize(PLAIN_TOKEN)
    request["json"]["params"]["padding"] = "x" * (1024 * 1024 + 1)
    assert httpx2.post(tokens.url, **request).status_code == 413


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
def test_json_nested_to_any_depth_is_a_400_parse_error_and_the_server_goes_on(tokens: HttpServer, era: str) -> None:
    headers = initialize(PLAIN_TOKEN)["headers"] | {"Content-Type": "application/json", "MCP-Protocol-Version": era}
    call = '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_calls","arguments":{"search":%s}}}'
    for depth in (1_000, 100_000, 500_000):
        for body in ("[" * depth + "]" * depth, call % ("[" * depth + "]" * depth)):
            answer = httpx2.post(tokens.url, content=body.encode(), headers=headers)
            assert answer.status_code == 400, (era, depth, answer.text[:200])
            assert answer.json()["error"]["code"] == -32700, answer.text[:200]
    request = initialize(PLAIN_TOKEN)
    assert httpx2.post(tokens.url, **request).status_code == 200
    assert "Traceback" not in tokens.log() and "RecursionError" not in tokens.log()


def test_healthz_answers_without_auth_with_the_version_only(tokens: HttpServer) -> None:
    answer = httpx2.get(tokens.origin + "/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__}


# --- workers ------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_two_stateless_workers_serve_a_handshake_era_client_across_both(
    workers: HttpServer, sandbox: StandaloneSandbox
) -> None:
    seen: set[str] = set()
    for _ in range(10):
        async with connected(workers.url, mode="legacy", fresh=True) as client:
            assert client.protocol_version == "2025-11-25"
            assert await every_tool(client, sandbox.agents["live"]) == TOOLS
        seen = set(re.findall(r"worker (\d+) answered POST with 200", workers.log()))
        if len(seen) >= 2:
            break
    assert len(seen) == 2, workers.log()


# A sitecustomize module, which every interpreter of a server loads (its spawned workers too): each process records
# whether it serves bimpe-mcp and how its cyclic garbage collector is set, whenever a threshold is set. (Not at exit:
# a uvicorn worker ends by its signal, re-raised, which runs no exit handler.)
COLLECTOR_RECORDS = """
import gc, os, sys

set_threshold = gc.set_threshold

def recorded(*thresholds):
    set_threshold(*thresholds)
    serving = "bimpe_mcp.server.http" in sys.modules
    young, frozen = gc.get_threshold()[0], gc.get_freeze_count()
    with open(os.path.join(os.environ["COLLECTOR_RECORDS"], str(os.getpid())), "w") as f:
        f.write(f"serving {serving}, young {young}, frozen {frozen}")

gc.set_threshold = recorded
"""


@pytest.mark.anyio
async def test_every_process_of_a_server_with_workers_sets_its_collector_for_serving(
    sandbox: StandaloneSandbox, tmp_path: Path
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(COLLECTOR_RECORDS, "utf-8")
    (tmp_path / "records").mkdir()
    probe = {"PYTHONPATH": str(tmp_path / "site"), "COLLECTOR_RECORDS": str(tmp_path / "records")}
    server = HttpServer(api_env(sandbox, BIMPE_API_KEY=sandbox.keys["full"], **probe), "--workers", "2", "--stateless")
    try:
        for _ in range(4):
            async with connected(server.url, mode="legacy", fresh=True) as client:
                assert len(data(await client.call_tool("list_calls", {"limit": 20}))["calls"]) == 20
    finally:
        server.stop()
    records = [path.read_text("utf-8") for path in (tmp_path / "records").iterdir()]
    served = [r for r in records if r.startswith("serving True")]
    assert len(served) == 3, f"the supervisor and both workers: {records}"
    for record in served:
        found = re.fullmatch(r"serving True, young (\d+), frozen (\d+)", record)
        assert found, record
        assert int(found.group(1)) == YOUNG, record
        assert int(found.group(2)) > 50_000, f"what start-up made is left out of later collections: {record}"


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in the client: each request goes to the next replica in turn. Keeps (replica, JSON-RPC
    method, tool) of every request sent."""

    def __init__(self, origins: list[str]) -> None:
        self.ports = [int(origin.rsplit(":", 1)[1]) for origin in origins]
        self.sent: list[tuple[int, str, str]] = []
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[len(self.sent) % len(self.ports)]
        body: dict[str, Any] = json.loads(request.content or b"{}")
        params: dict[str, Any] = body.get("params") or {}
        self.sent.append((port, str(body.get("method", request.method)), str(params.get("name", ""))))
        request.url = request.url.copy_with(port=port)
        request.headers["Host"] = f"127.0.0.1:{port}"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.anyio
async def test_a_confirmation_asked_by_one_replica_is_resumed_by_another_sharing_the_secret(
    sandbox: StandaloneSandbox,
) -> None:
    secret = "replicas-share-this-secret-7c2e91b04d5a"
    env = api_env(
        sandbox,
        BIMPE_API_KEY=sandbox.keys["full"],
        BIMPE_ALLOW_LIVE_CALLS="true",
        BIMPE_CONFIRM="elicit",
        BIMPE_CONFIRM_SECRET=secret,
    )
    replicas = [HttpServer(env, "--stateless", "--json-response") for _ in range(2)]
    asked: list[str] = []

    async def human(_: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    try:
        balancer = RoundRobin([replica.origin for replica in replicas])
        http = httpx2.AsyncClient(transport=balancer, timeout=60)
        link = streamable_http_client(replicas[0].url, http_client=http)
        async with http, Client(link, mode="auto", elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
            placed = data(await client.call_tool("place_call", {"destination": "+14155550100", "is_test_call": False}))
    finally:
        logs = [replica.log() for replica in replicas]
        for replica in replicas:
            replica.stop()
    assert placed["status"] == "initiated" and placed["is_test_call"] is False
    assert len(asked) == 1 and "LIVE call to +1 415-555-0100" in asked[0]
    # The question came from one replica, and the answer reached the other, which dialled.
    (first, retry) = [port for port, method, tool in balancer.sent if (method, tool) == ("tools/call", "place_call")]
    assert first != retry
    for log in logs:
        assert secret not in log


def test_no_token_reaches_the_log(tokens: HttpServer) -> None:
    assert PLAIN_TOKEN not in tokens.log() and HASHED_TOKEN not in tokens.log()
    assert_no_secret(tokens.log())
