"""Live calls are confirmed by a human: asked through the client where it can ask (both protocol eras), otherwise by
a signed single-use token bound to the exact call; a repeated call is answered with its original result."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult

from bimpe_mcp.policy.tokens import TOKEN_SECONDS
from bimpe_mcp.sandbox import Fault, Sandbox
from tests.conftest import NOON, SandboxTime, ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

US = "+14155550100"
LIVE = {"destination": US, "is_test_call": False}


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


class Human:
    """An elicitation callback that answers as told, and keeps the questions it was shown."""

    def __init__(self, action: str, confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return ElicitResult(action=self.action, content=content)  # pyright: ignore[reportArgumentType]


async def test_an_accepted_question_dials_the_exact_call_it_showed(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    human = Human("accept")
    server = make_server(allow_live_calls=True)
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        agents = data(await client.call_tool("list_agents", {"limit": 100}))["agents"]
        placed = data(await client.call_tool("place_call", LIVE))
    assert placed["status"] == "initiated" and placed["is_test_call"] is False
    (question,) = human.asked
    name = next(a["name"] for a in agents if a["id"] == sandbox.agents.live)
    assert f"LIVE call to +1 415-555-0100 (United States) from agent {name} ({sandbox.agents.live})?" in question
    assert "may cost money" in question
    assert posts(sandbox) == 1


@pytest.mark.parametrize(
    ("action", "confirm", "code"),
    [("decline", True, "confirmation_declined"), ("accept", False, "confirmation_declined"),
     ("cancel", True, "confirmation_unanswered")],
)  # fmt: skip
async def test_a_declined_or_unanswered_question_dials_nothing_and_says_which_it_was(
    make_server: ServerFactory, sandbox: Sandbox, mode: str, action: str, confirm: bool, code: str
) -> None:
    human = Human(action, confirm)
    server = make_server(allow_live_calls=True)
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        info = error(await client.call_tool("place_call", LIVE))
    assert (info["code"], info["retryable"]) == (code, False)
    if code == "confirmation_unanswered":
        assert "did not decline" in info["message"] and "Ask the user again when they are there" in info["next_step"]
    else:
        assert "did not confirm" in info["message"] and "unless the user asks anew" in info["next_step"]
    assert len(human.asked) == 1 and posts(sandbox) == 0


async def test_test_calls_are_not_asked_about_unless_the_operator_says_so(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    human = Human("decline")
    async with Client(make_server(), mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        data(await client.call_tool("place_call", {"destination": US}))
    assert human.asked == []
    server = make_server(confirm_test_calls=True)
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        assert error(await client.call_tool("place_call", {"destination": US}))["code"] == "confirmation_declined"
    assert len(human.asked) == 1 and "test call" in human.asked[0] and posts(sandbox) == 1


async def test_a_refused_call_is_never_put_to_the_human(make_server: ServerFactory, mode: str) -> None:
    human = Human("accept")
    server = make_server(allow_live_calls=True, blocked_destinations=("+1",))
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        assert error(await client.call_tool("place_call", LIVE))["rule"] == "blocked_destination"
        assert error(await client.call_tool("place_call", {**LIVE, "agent_id": "agt_nope"}))["rule"] == (
            "blocked_destination"
        )
    async with Client(make_server(), mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        assert error(await client.call_tool("place_call", LIVE))["code"] == "precondition_failed"
    async with Client(make_server(agent_id=None, allow_live_calls=True), mode=mode, elicitation_callback=human) as c:  # pyright: ignore[reportArgumentType]
        assert error(await c.call_tool("place_call", LIVE))["code"] == "invalid_argument"
    assert human.asked == []


async def test_auto_never_falls_back_to_a_token_for_a_client_that_cannot_ask(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    for settings in ({"allow_live_calls": True}, {"allow_live_calls": True, "confirm": "elicit"}):
        async with Client(make_server(**settings), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            info = error(await client.call_tool("place_call", LIVE))
            assert (info["code"], info["rule"], info["setting"]) == ("policy_refused", "confirmation", "BIMPE_CONFIRM")
            assert "cannot ask" in info["message"] and "nothing was dialled" in info["message"]
            assert "a client that can ask" in info["next_step"] and "BIMPE_CONFIRM=token" in info["next_step"]
            assert "a model can then redeem the token by itself" in info["next_step"]
            assert data(await client.call_tool("place_call", {"destination": US}))["status"] == "initiated"
    async with Client(make_server(confirm_test_calls=True), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        assert error(await client.call_tool("place_call", {"destination": US}))["rule"] == "confirmation"
    assert posts(sandbox) == 2, "only the unconfirmed test calls"


async def test_a_token_is_accepted_only_where_the_server_confirms_by_token(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    secret = {"confirm_secret": "s3cret-shared-by-replicas", "allow_live_calls": True}
    async with Client(make_server(confirm="token", **secret), mode=mode) as minting:  # pyright: ignore[reportArgumentType]
        token = data(await minting.call_tool("place_call", LIVE))["confirmation_token"]
    human = Human("accept")
    for confirm in ("auto", "elicit"):
        server = make_server(confirm=confirm, **secret)
        async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
            info = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": token}))
            assert (info["code"], info["rule"], info["setting"]) == ("policy_refused", "confirmation", "BIMPE_CONFIRM")
            assert "not accepted here" in info["message"] and f"BIMPE_CONFIRM={confirm}" in info["message"]
            assert "without confirmation_token" in info["next_step"]
    async with Client(make_server(confirm="auto", **secret), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        info = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": token}))
        assert info["rule"] == "confirmation" and "this client cannot ask" in info["message"]
    async with Client(make_server(confirm="off", **secret), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        info = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": token}))
        assert info["rule"] == "confirmation" and "needs no confirmation" in info["message"]
    assert human.asked == [] and posts(sandbox) == 0


async def test_with_token_mode_a_client_gets_a_preview_and_only_its_token_dials(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    server = make_server(allow_live_calls=True, confirm="token")
    async with Client(server, mode=mode) as client:  # pyright: ignore[reportArgumentType]
        first = await client.call_tool("place_call", LIVE)
        preview = data(first)
        assert preview["status"] == "confirmation_required" and "call_id" not in preview
        token = preview["confirmation_token"]
        shown = text(first)
        assert "Nothing was dialled" in shown and "+1 415-555-0100 (United States) from agent " in shown
        assert f"({sandbox.agents.live})? Only if they agree" in shown, "the agent by name and id"
        assert f"confirmation_token {token}" in shown and "detail:" not in shown and "call_id" not in shown
        assert posts(sandbox) == 0
        placed = data(await client.call_tool("place_call", {**LIVE, "confirmation_token": token}))
        assert placed["status"] == "initiated" and placed["idempotency_key"] == preview["idempotency_key"]
        again = await client.call_tool("place_call", {**LIVE, "confirmation_token": token})
        assert data(again)["replayed"] is True and data(again)["call_id"] == placed["call_id"]
        assert "replayed: nothing new dialled" in text(again)
        by_key = data(await client.call_tool("place_call", {**LIVE, "idempotency_key": placed["idempotency_key"]}))
        assert by_key["replayed"] is True and by_key["call_id"] == placed["call_id"]
    assert posts(sandbox) == 1


async def test_a_token_confirms_only_its_own_call_once_and_for_a_few_minutes(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    sandbox_time.start = NOON
    async with Client(make_server(allow_live_calls=True, confirm="token")) as client:

        async def token_for(args: dict[str, Any]) -> str:
            return data(await client.call_tool("place_call", args))["confirmation_token"]

        token = await token_for(LIVE)
        changed = [
            {**LIVE, "destination": "+14155550101"},
            {**LIVE, "destination": "+2348031234567"},
            {**LIVE, "agent_id": sandbox.agents.paused},
        ]
        info: dict[str, Any] = {}
        for args in changed:
            info = error(await client.call_tool("place_call", {**args, "confirmation_token": token}))
            assert (info["code"], info["rule"]) == ("policy_refused", "confirmation"), args
        assert "other arguments" in info["message"]
        nonce, expiry, digest, sig = token.split(".")
        for forged in (f"{nonce}.{int(expiry) + 3600}.{digest}.{sig}", f"{nonce}.{expiry}.{digest}.{'0' * 32}", "x"):
            info = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": forged}))
            assert info["rule"] == "confirmation" and "not one this server issued" in info["message"]
        sandbox_time.now += TOKEN_SECONDS + 1
        info = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": token}))
        assert info["rule"] == "confirmation" and "expired" in info["message"] and not info["retryable"]
        fresh = await token_for(LIVE)
        data(await client.call_tool("place_call", {**LIVE, "confirmation_token": fresh}))
        other_key = {**LIVE, "confirmation_token": fresh, "idempotency_key": "another-key-123"}
        info = error(await client.call_tool("place_call", other_key))
        assert "already used" in info["message"]
        sandbox_time.now += TOKEN_SECONDS + 1
        late = data(await client.call_tool("place_call", {**LIVE, "confirmation_token": fresh}))
        assert late["replayed"] is True, "a spent token still answers with the call it placed"
    assert posts(sandbox) == 1


async def test_a_token_signed_with_the_shared_secret_works_on_another_replica(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    secret = "s3cret-shared-by-replicas"
    settings: dict[str, Any] = {"allow_live_calls": True, "confirm": "token", "confirm_secret": secret}
    async with Client(make_server(**settings)) as one:
        token = data(await one.call_tool("place_call", LIVE))["confirmation_token"]
    async with Client(make_server(allow_live_calls=True, confirm="token")) as stranger:
        assert error(await stranger.call_tool("place_call", {**LIVE, "confirmation_token": token}))["rule"] == (
            "confirmation"
        )
    async with Client(make_server(**settings)) as other:
        assert data(await other.call_tool("place_call", {**LIVE, "confirmation_token": token}))["call_id"]
    assert posts(sandbox) == 1


async def test_elicit_mode_refuses_a_client_that_cannot_ask_and_off_mode_asks_nothing(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="elicit")) as client:
        info = error(await client.call_tool("place_call", LIVE))
        assert (info["rule"], info["setting"]) == ("confirmation", "BIMPE_CONFIRM")
    human = Human("accept")
    async with Client(make_server(allow_live_calls=True, confirm="token"), elicitation_callback=human) as client:
        assert data(await client.call_tool("place_call", LIVE))["status"] == "confirmation_required"
    async with Client(make_server(allow_live_calls=True, confirm="off"), elicitation_callback=human) as client:
        assert data(await client.call_tool("place_call", LIVE))["status"] == "initiated"
    assert human.asked == [] and posts(sandbox) == 1


async def test_the_question_names_the_agent_by_id_when_its_name_cannot_be_read(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    human = Human("accept")
    sandbox.faults.add(Fault(kind="status", status=403, method="GET", path="/agents/[^/]+$"))
    async with Client(make_server(allow_live_calls=True), elicitation_callback=human) as client:
        data(await client.call_tool("place_call", LIVE))
    assert f"from agent {sandbox.agents.live}? It rings" in human.asked[0]


async def test_a_retry_of_a_confirmed_call_with_its_key_is_not_asked_again_and_rings_once(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    human = Human("accept")
    sandbox.faults.add(Fault(kind="drop", method="POST", after=True, times=3))
    server = make_server(allow_live_calls=True)
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        lost = error(await client.call_tool("place_call", LIVE))
        assert lost["code"] == "outcome_unknown" and len(human.asked) == 1
        retried = data(await client.call_tool("place_call", {**LIVE, "idempotency_key": lost["idempotency_key"]}))
        calls = data(await client.call_tool("list_calls", {"search": US, "limit": 100}))["calls"]
        other = {**LIVE, "destination": "+14155550102", "idempotency_key": lost["idempotency_key"]}
        assert error(await client.call_tool("place_call", other))["code"] == "conflict"
    assert len(human.asked) == 2, "the key of one call does not confirm another"
    assert [c["id"] for c in calls] == [retried["call_id"]]


async def test_a_live_call_the_agent_cannot_make_is_refused_before_anyone_is_asked(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    human = Human("accept")
    server = make_server(allow_live_calls=True)
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        info = error(await client.call_tool("place_call", {**LIVE, "agent_id": sandbox.agents.no_channel}))
    assert (info["code"], info["rule"]) == ("precondition_failed", "telephony_channel")
    assert human.asked == [] and posts(sandbox) == 0


async def test_the_question_and_the_preview_say_when_the_agent_is_paused(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    paused = {**LIVE, "agent_id": sandbox.agents.paused}
    human = Human("decline")
    async with Client(make_server(allow_live_calls=True), elicitation_callback=human) as client:
        await client.call_tool("place_call", paused)
        agents = data(await client.call_tool("list_agents", {"limit": 100}))["agents"]
    name = next(a["name"] for a in agents if a["id"] == sandbox.agents.paused)
    (question,) = human.asked
    assert f"from agent {name} ({sandbox.agents.paused}), which is paused? It rings" in question
    async with Client(make_server(allow_live_calls=True, confirm="token")) as client:
        preview = data(await client.call_tool("place_call", paused))
        live = data(await client.call_tool("place_call", LIVE))
    assert preview["status"] == "confirmation_required" and "which is paused?" in preview["next_step"]
    assert "paused" not in live["next_step"]
    assert posts(sandbox) == 0


async def test_token_mode_says_plainly_that_a_model_can_redeem_the_token_by_itself(
    make_server: ServerFactory, mode: str
) -> None:
    said: dict[str, tuple[str, str]] = {}
    for confirm in ("auto", "token"):
        async with Client(make_server(confirm=confirm), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            tools = {t.name: t for t in (await client.list_tools()).tools}
            said[confirm] = (tools["place_call"].description or "", client.instructions or "")
    description, instructions = said["token"]
    assert "confirmation is by token, which a model can redeem by itself" in description
    assert "the host's tool approval is the human gate" in instructions
    assert "redeem" not in said["auto"][0] and "a client that can do neither cannot place such calls" in said["auto"][1]
