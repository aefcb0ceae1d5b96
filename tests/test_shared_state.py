"""State that outlives a process: budgets, spent confirmations, answered questions and results kept for replays,
shared by every server on one SQLite file (the default, in the user's state directory) or one Redis. Each attack
below placed extra calls when this state was kept per process; the servers here are in-process (on one embedded
sandbox) or real processes (on a standalone sandbox, and a real redis-server)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, InputRequiredResult

from bimpe_mcp.core.state import RECENT_KEPT, Admission, Card, open_store, scoped, shown_url, state_home
from bimpe_mcp.sandbox import Sandbox
from tests.app_support import APPS
from tests.conftest import ServerFactory
from tests.redis_support import redis_server
from tests.served import HttpServer, StandaloneSandbox
from tests.support import data, error
from tests.test_call_audit import recent
from tests.test_confirm_card import LIVE, card_of, press

pytestmark = pytest.mark.anyio

US = "+14155550100"
SECRET = "replicas-share-this-secret-0123456789"


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


async def human(_: Any, params: ElicitRequestParams) -> ElicitResult:
    return ElicitResult(action="accept", content={"confirm": True})


async def first_round(client: Client, args: dict[str, Any]) -> tuple[str, str]:
    """The question a 2026-07-28 place_call asks: its wire key and the sealed request state."""
    asked = await client.session.call_tool("place_call", args, allow_input_required=True)
    assert isinstance(asked, InputRequiredResult) and asked.request_state, asked
    return next(iter(asked.input_requests or {})), asked.request_state


async def answer(client: Client, args: dict[str, Any], round_: tuple[str, str], action: str) -> CallToolResult:
    key, state = round_
    content = {"confirm": True} if action == "accept" else None
    reply = {key: ElicitResult(action=action, content=content)}  # pyright: ignore[reportArgumentType]
    return await client.call_tool("place_call", args, input_responses=reply, request_state=state)  # pyright: ignore[reportArgumentType]


async def test_an_answered_question_sent_again_on_any_server_places_one_call(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    shared = {"allow_live_calls": True, "confirm_secret": SECRET, "state_url": f"sqlite:///{tmp_path / 's.db'}"}
    args = {"destination": US, "is_test_call": False}
    async with (
        Client(make_server(**shared), elicitation_callback=human) as a,  # pyright: ignore[reportArgumentType]
        Client(make_server(**shared), elicitation_callback=human) as b,  # pyright: ignore[reportArgumentType]
    ):
        round_ = await first_round(a, args)
        placed = data(await answer(a, args, round_, "accept"))
        again = [data(await answer(c, args, round_, "accept")) for c in (a, a, b, b)]
        declined = await first_round(b, args)
        assert (await answer(b, args, declined, "decline")).is_error
        turned = error(await answer(a, args, declined, "accept"))
        unanswered = await first_round(a, args)
        cancelled = error(await answer(a, args, unanswered, "cancel"))
        late = error(await answer(b, args, unanswered, "accept"))
    assert posts(sandbox) == 1, "one yes, one call"
    assert cancelled["code"] == "confirmation_unanswered"
    assert (late["code"], late["rule"]) == ("policy_refused", "confirmation"), "an unanswered round is spent too"
    assert placed["status"] == "initiated" and placed["idempotency_key"].startswith("el-")
    assert all(r["replayed"] and r["call_id"] == placed["call_id"] for r in again)
    assert (turned["code"], turned["rule"]) == ("policy_refused", "confirmation"), "a round answered no stays no"


async def test_a_token_redeemed_on_one_server_confirms_nothing_else_on_another(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    shared = {"allow_live_calls": True, "confirm": "token", "confirm_secret": SECRET}
    shared["state_url"] = f"sqlite:///{tmp_path / 's.db'}"
    args: dict[str, Any] = {"destination": US, "is_test_call": False}
    async with Client(make_server(**shared)) as a, Client(make_server(**shared)) as b:
        args["confirmation_token"] = data(await a.call_tool("place_call", args))["confirmation_token"]
        placed = data(await a.call_tool("place_call", args))
        other = error(await b.call_tool("place_call", args | {"idempotency_key": "another-key-0001"}))
        replayed = data(await b.call_tool("place_call", args))
    assert posts(sandbox) == 1
    assert (other["rule"], "already used" in other["message"]) == ("confirmation", True)
    assert replayed["replayed"] and replayed["call_id"] == placed["call_id"]


async def test_a_key_reused_over_agents_is_one_dial_per_agent_in_the_budget(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(max_test_calls_per_hour=2)) as client:
        agents = [a["id"] for a in data(await client.call_tool("list_agents", {}))["agents"]]
        answers = [
            await client.call_tool(
                "place_call", {"destination": US, "agent_id": agent, "idempotency_key": "same-key-01"}
            )
            for agent in agents * 2
        ]
    placed = [r for r in answers if not r.is_error]
    refusals = {error(r)["rule"] for r in answers if r.is_error and error(r)["code"] == "policy_refused"}
    assert len(agents) >= 3 and len(placed) <= 2 * 2, "the first two agents' dials, each answered twice"
    assert len({data(r)["call_id"] for r in placed}) <= 2 and refusals == {"hourly_budget"}


async def test_servers_sharing_the_default_file_share_a_budget_that_survives_a_restart(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    async with Client(make_server(max_test_calls_per_hour=1)) as a, Client(make_server(max_test_calls_per_hour=1)) as b:
        assert data(await a.call_tool("place_call", {"destination": US}))["status"] == "initiated"
        assert error(await b.call_tool("place_call", {"destination": US}))["rule"] == "hourly_budget"
    assert (tmp_path / "bimpe-mcp" / "state.sqlite3").is_file()
    async with Client(make_server(max_test_calls_per_hour=1)) as restarted:
        refused = error(await restarted.call_tool("place_call", {"destination": "+14155550111"}))
        audit = await recent(restarted)
    assert refused["rule"] == "hourly_budget" and posts(sandbox) == 1
    assert [e.get("rule") for e in audit] == [None, "hourly_budget", "hourly_budget"], "every server's attempts"


async def test_while_another_process_holds_the_state_files_lock_reads_are_answered_and_the_call_waits_for_it(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    """SQLite waits for another process's write lock (up to its busy timeout) off the event loop: the server answers
    other requests meanwhile, and the call is placed once the lock is let go."""
    path = tmp_path / "s.db"
    async with Client(make_server(state_url=f"sqlite:///{path}")) as client:
        assert data(await client.call_tool("place_call", {"destination": US}))["status"] == "initiated"
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            placed: list[CallToolResult] = []

            async def place() -> None:
                placed.append(await client.call_tool("place_call", {"destination": "+14155550111"}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(place)
                await anyio.wait_all_tasks_blocked()
                assert len(data(await client.call_tool("list_calls", {"limit": 2}))["calls"]) == 2
                assert not placed, "the call waits for the lock while the list is answered"
                other.execute("COMMIT")
        finally:
            other.close()
    assert data(placed[0])["status"] == "initiated" and posts(sandbox) == 2


@pytest.mark.parametrize("where", ["file", "redis"])
async def test_an_unreachable_state_refuses_calls_and_reads_still_work(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("", "utf-8")
    url = f"sqlite:///{tmp_path / 'a-file' / 'state.sqlite3'}" if where == "file" else "redis://:pw@127.0.0.1:1/0"
    async with Client(make_server(state_url=url)) as client:
        info = error(await client.call_tool("place_call", {"destination": US}))
        listed = data(await client.call_tool("list_calls", {"limit": 1}))
        audit = await recent(client)
    assert (info["code"], info["rule"], info["setting"], info["retryable"]) == (
        "policy_refused", "state_unavailable", "BIMPE_STATE_URL", True
    )  # fmt: skip
    assert "cannot be reached" in info["message"] and "pw" not in info["message"]
    assert listed["calls"] and posts(sandbox) == 0
    assert audit[-1]["rule"] == "state_unavailable", "this process's own entries, when the store is unreachable"


# --- real processes ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def replica_env(box: StandaloneSandbox, **more: str) -> dict[str, str]:
    return {
        "BIMPE_BASE_URL": box.origin,
        "BIMPE_API_KEY": box.keys["full"],
        "BIMPE_AGENT_ID": box.agents["live"],
        "BIMPE_ALLOW_LIVE_CALLS": "true",
        "BIMPE_CONFIRM_SECRET": SECRET,
        **more,
    }


def replicas(env: dict[str, str], count: int = 2) -> list[HttpServer]:
    """Replica processes behind one address, as a load balancer would run them: stateless, so any may answer."""
    return [HttpServer(env, "--stateless", "--json-response") for _ in range(count)]


@asynccontextmanager
async def client_of(server: HttpServer, *, asks: bool = True) -> AsyncGenerator[Client]:
    """A client of one replica; `asks`: it can put a question to its user."""
    async with httpx2.AsyncClient(timeout=60) as http:
        link = streamable_http_client(server.url, http_client=http)
        async with Client(link, elicitation_callback=human if asks else None) as client:  # pyright: ignore[reportArgumentType]
            yield client


async def calls_to(client: Client, number: str) -> list[dict[str, Any]]:
    return data(await client.call_tool("list_calls", {"search": number, "limit": 100}))["calls"]


async def test_replicas_on_redis_share_confirmations_answered_questions_and_budgets(
    standalone: StandaloneSandbox, redis_url: str
) -> None:
    servers = replicas(replica_env(standalone, BIMPE_STATE_URL=redis_url, BIMPE_MAX_TEST_CALLS_PER_HOUR="1"))
    by_token = replicas(replica_env(standalone, BIMPE_STATE_URL=redis_url, BIMPE_CONFIRM="token"))
    token_call: dict[str, Any] = {"destination": "+14155550121", "is_test_call": False}
    asked_call: dict[str, Any] = {"destination": "+14155550122", "is_test_call": False}
    try:
        async with client_of(by_token[0], asks=False) as a, client_of(by_token[1], asks=False) as b:
            token_call["confirmation_token"] = data(await a.call_tool("place_call", token_call))["confirmation_token"]
            first = data(await a.call_tool("place_call", token_call))
            stolen = error(await b.call_tool("place_call", token_call | {"idempotency_key": "another-key-0002"}))
            tokened = await calls_to(b, "+14155550121")
        async with client_of(servers[0]) as a, client_of(servers[1]) as b:
            round_ = await first_round(a, asked_call)
            answered = [data(await answer(c, asked_call, round_, "accept")) for c in (a, b, b)]
            test_calls = [await c.call_tool("place_call", {"destination": "+14155550123"}) for c in (a, b)]
            asked = await calls_to(a, "+14155550122")
    finally:
        for server in servers + by_token:
            server.stop()
    assert first["status"] == "initiated" and stolen["rule"] == "confirmation" and len(tokened) == 1
    assert [r.get("replayed", False) for r in answered] == [False, True, True] and len(asked) == 1
    assert not test_calls[0].is_error and error(test_calls[1])["rule"] == "hourly_budget"


async def test_processes_sharing_the_default_file_share_one_budget(standalone: StandaloneSandbox) -> None:
    servers = replicas(replica_env(standalone, BIMPE_MAX_TEST_CALLS_PER_HOUR="1"))
    try:
        async with client_of(servers[0]) as a, client_of(servers[1]) as b:
            placed = await a.call_tool("place_call", {"destination": "+14155550131"})
            refused = await b.call_tool("place_call", {"destination": "+14155550132"})
    finally:
        for server in servers:
            server.stop()
    assert data(placed)["status"] == "initiated" and error(refused)["rule"] == "hourly_budget"


def test_the_default_file_is_in_the_users_state_directory_on_each_platform(tmp_path: Path) -> None:
    home = Path.home()
    assert state_home({"XDG_STATE_HOME": str(tmp_path)}, "linux") == tmp_path / "bimpe-mcp"
    assert state_home({}, "linux") == home / ".local" / "state" / "bimpe-mcp"
    assert state_home({}, "darwin") == home / "Library" / "Application Support" / "bimpe-mcp"
    assert state_home({"LOCALAPPDATA": str(tmp_path)}, "win32") == tmp_path / "bimpe-mcp"
    assert shown_url("rediss://user:secret@cache:6380/2") == "rediss://user:***@cache:6380/2"
    assert shown_url("redis://cache:6379/0") == "redis://cache:6379/0"


async def test_a_store_on_redis_keeps_answers_spends_once_and_keeps_the_recent_entries(redis_url: str) -> None:
    store = open_store(redis_url.rsplit("/", 1)[0] + "/3")
    assert await store.spend("el:round", "declined", 0.0) == "declined"
    assert await store.spend("el:round", "el-round", 0.0) == "declined", "spent once"
    assert await store.spent("el:round") == "declined" and await store.spent("el:other") is None
    for n in range(RECENT_KEPT + 5):
        await store.remember(f'{{"n":{n}}}')
    kept = await store.recent()
    assert len(kept) == RECENT_KEPT and kept[-1] == f'{{"n":{RECENT_KEPT + 4}}}'
    assert await store.result("agt_1", "nothing-kept") is None
    assert await store.secret("ab" * 32) == "ab" * 32 and await store.secret("cd" * 32) == "ab" * 32, "first wins"
    await store.aclose()
    await store.aclose()


async def test_without_a_configured_secret_servers_on_one_state_accept_each_others_tokens(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A framework that starts the server for each tool call gets its preview from one process and confirms it in
    the next: the secret that signs tokens is kept in the state they share."""
    shared = {"allow_live_calls": True, "confirm": "token", "state_url": f"sqlite:///{tmp_path / 's.db'}"}
    args: dict[str, Any] = {"destination": US, "is_test_call": False}
    async with Client(make_server(**shared)) as a:
        token = data(await a.call_tool("place_call", args))["confirmation_token"]
    async with Client(make_server(**shared)) as b:
        placed = data(await b.call_tool("place_call", args | {"confirmation_token": token}))
    async with Client(make_server(allow_live_calls=True, confirm="token", state_url="memory://")) as apart:
        refused = error(await apart.call_tool("place_call", args | {"confirmation_token": token}))
    assert placed["status"] == "initiated" and posts(sandbox) == 1
    assert (refused["rule"], "not one this server issued" in refused["message"]) == ("confirmation", True)


@asynccontextmanager
async def tenant_of(server: HttpServer, key: str) -> AsyncGenerator[Client]:
    http = httpx2.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {key}"})
    async with http, Client(streamable_http_client(server.url, http_client=http)) as client:
        yield client


async def test_passthrough_replicas_on_redis_keep_each_keys_budget_audit_and_verdict_apart(
    standalone: StandaloneSandbox, redis_url: str
) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/4"
    env = {"BIMPE_BASE_URL": standalone.origin, "BIMPE_HTTP_AUTH": "passthrough", "BIMPE_STATE_URL": url,
           "BIMPE_MAX_TEST_CALLS_PER_HOUR": "1", "BIMPE_CONFIRM_SECRET": SECRET}  # fmt: skip
    full, other = standalone.keys["full"], standalone.keys["other_team"]
    mine, theirs = standalone.agents["live"], standalone.agents["other_team"]
    servers = replicas(env)
    try:
        async with (
            tenant_of(servers[0], full) as a,
            tenant_of(servers[1], full) as a2,
            tenant_of(servers[1], other) as b,
        ):
            placed = data(await a.call_tool("place_call", {"agent_id": mine, "destination": "+15005550003"}))
            spent = error(await a2.call_tool("place_call", {"agent_id": mine, "destination": "+15005550003"}))
            theirs_placed = await b.call_tool("place_call", {"agent_id": theirs, "destination": "+15005550003"})
            seen_by_b = await recent(b)
            seen_by_a = await recent(a2)
    finally:
        for server in servers:
            server.stop()
    assert spent["rule"] == "hourly_budget" and not theirs_placed.is_error, theirs_placed.content
    assert [e["agent_id"] for e in seen_by_a] == [mine, mine], seen_by_a
    assert seen_by_a[0]["idempotency_key"] == placed["idempotency_key"], (seen_by_a, placed)
    assert [e["agent_id"] for e in seen_by_b] == [theirs] and placed["idempotency_key"] not in str(seen_by_b)
    stored = await stored_text(url)
    assert hashlib.sha256(full.encode()).hexdigest() in stored and "verdict" in stored
    assert full not in stored and other not in stored, "the store holds digests of keys, never a key"


async def stored_text(url: str) -> str:
    """Every key and string value in the Redis database, as one text."""
    from redis.asyncio import Redis

    redis = Redis.from_url(url, decode_responses=True)  # pyright: ignore[reportUnknownMemberType]
    try:
        names = [str(n) for n in await redis.keys("*")]  # pyright: ignore[reportUnknownMemberType]
        values = [str(await redis.get(n)) for n in names if await redis.type(n) == "string"]  # pyright: ignore[reportUnknownMemberType]
        return "\n".join(names + values)
    finally:
        await redis.aclose()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_a_confirmation_card_is_pressed_once_across_servers_and_never_by_another_tenant(
    make_server: ServerFactory, sandbox: Sandbox, redis_url: str, tmp_path: Path, backend: str
) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/4" if backend == "redis" else f"sqlite:///{tmp_path / 'state.sqlite3'}"
    one, two = (make_server(allow_live_calls=True, confirm="app", state_url=url) for _ in range(2))
    async with Client(one, extensions=[APPS]) as a, Client(two, extensions=[APPS]) as b:
        card = card_of(await a.call_tool("place_call", LIVE))
        assert card_of(await b.call_tool("place_call", LIVE))["nonce"] == card["nonce"], "one card per call"
        placed = data(await press(b, card))
        assert "already answered" in error(await press(a, card))["message"]
        learned = data(await a.call_tool("place_call", LIVE))
    assert (learned["call_id"], learned["replayed"]) == (placed["call_id"], True)
    assert sum(1 for r in sandbox.requests if r.method == "POST") == 1

    store = open_store(url)
    mine, theirs = scoped(store, "tenant-a"), scoped(store, "tenant-b")
    shown = await mine.pend(Card("agt_1|+1|False", "n" * 24, "pending", "{}", 100.0), 0.0)
    assert await theirs.press(shown.nonce, "confirmed", 1.0, 10.0) is None, "another tenant's nonce is unknown"
    assert await theirs.card("agt_1|+1|False", 1.0) is None
    pressed = await mine.press(shown.nonce, "confirmed", 1.0, 10.0)
    assert pressed is not None and pressed[0] == "pressed" and pressed[1].nonce == shown.nonce
    assert (await mine.press(shown.nonce, "declined", 2.0, 10.0) or ("", shown))[0] == "confirmed", "pressed once"
    await mine.settle(shown.fingerprint, shown.nonce)
    assert await mine.card(shown.fingerprint, 3.0) is None
    # Every other name a tenant decides by is its own too; the signing secret and key verdicts are the server's.
    assert await mine.spend("ct:n1", "k1", 4.0) == "k1" and await theirs.spent("ct:n1") is None
    assert await mine.spent("ct:n1") == "k1" and await theirs.spend("ct:n1", "k2", 4.0) == "k2"
    assert await mine.admit(Admission("agt_1", "k1", "live", "agt_1|+1|False", 5.0)) is None
    assert await mine.dialled("agt_1", "k1") == "agt_1|+1|False" and await theirs.dialled("agt_1", "k1") is None
    assert await mine.secret("ab" * 32) == await theirs.secret("cd" * 32)
    await mine.judge("digest", True, 6.0, 60.0)
    assert await theirs.verdict("digest", 7.0) is True
    await mine.aclose()
