"""Live calls confirmed on a card a person presses (BIMPE_CONFIRM=app, and auto on clients that render MCP Apps but
cannot be asked): place_call dials nothing and shows the card, whose one-time nonce reaches it in the result's
`_meta` alone; confirm_call, listed for the card only, places the call on Confirm and nothing on Decline, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, TextResourceContents

from bimpe_mcp.sandbox import Sandbox
from bimpe_mcp.tools.card import local_time
from bimpe_mcp.ui import CONFIRM_URI
from tests.app_support import APPS, view_host
from tests.conftest import SandboxTime, ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

US = "+14155550100"
LIVE = {"destination": US, "is_test_call": False}
CARD = "bimpe.ai/card"


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


def card_of(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    card = (result.meta or {})[CARD]
    assert isinstance(card, dict)
    return card  # pyright: ignore[reportUnknownVariableType]


def model_view(result: CallToolResult) -> str:
    """Everything of a result a model reads: its text and its structured content."""
    return text(result) + json.dumps(result.structured_content)


async def recent(client: Client) -> list[dict[str, Any]]:
    (contents,) = (await client.read_resource("bimpe://audit/recent")).contents
    assert isinstance(contents, TextResourceContents)
    return [json.loads(line) for line in contents.text.splitlines()]


async def press(client: Client, card: dict[str, Any], confirm: bool = True) -> CallToolResult:
    return await client.call_tool("confirm_call", {"nonce": card["nonce"], "confirm": confirm})


async def test_a_live_call_shows_a_card_and_only_its_confirm_places_it_once(
    make_server: ServerFactory, sandbox: Sandbox, mode: str
) -> None:
    server = make_server(allow_live_calls=True, confirm="app", max_live_calls_per_hour=3, quiet_hours="01:00-02:00")
    async with Client(server, mode=mode, extensions=[APPS]) as client:  # pyright: ignore[reportArgumentType]
        tools = {t.name: t for t in (await client.list_tools()).tools}
        shown = await client.call_tool("place_call", LIVE)
        card = card_of(shown)
        assert posts(sandbox) == 0, "nothing is dialled before the press"
        pending = data(shown)
        assert pending["status"] == "confirmation_required" and "confirmation_token" not in pending
        assert card["nonce"] not in model_view(shown), "the model never reads the nonce"
        assert "press Confirm or Decline on the card" in text(shown)
        again = await client.call_tool("place_call", LIVE)
        assert card_of(again)["nonce"] == card["nonce"], "the same card while it waits"

        placed = data(await press(client, card))
        assert placed["status"] == "initiated" and placed["call_id"]
        assert posts(sandbox) == 1
        second = error(await press(client, card))
        assert second["code"] == "policy_refused" and "already answered" in second["message"]
        learned = data(await client.call_tool("place_call", LIVE))
        assert (learned["call_id"], learned["replayed"]) == (placed["call_id"], True)
        assert posts(sandbox) == 1, "one press, one call"
        agents = data(await client.call_tool("list_agents", {"limit": 100}))["agents"]
        entries = await recent(client)
    assert (tools["place_call"].meta or {})["ui"] == {"resourceUri": CONFIRM_URI}
    assert (tools["confirm_call"].meta or {})["ui"] == {"resourceUri": CONFIRM_URI, "visibility": ["app"]}
    assert card["call"]["kind"] == "live" and card["call"]["destination"] == US
    assert card["call"]["country"] == "United States" and card["call"]["time_zone"]
    assert card["policy"] == {"quiet_hours": "01:00-02:00", "budgets": [{"window": "hour", "limit": 3, "left": 3}]}
    assert card["expires_in"] == 300 and card["expires_at"] in text(shown)
    agent = next(a for a in agents if a["id"] == sandbox.agents.live)
    name = agent["name"]
    assert (card["call"]["agent_name"], card["call"]["agent_status"]) == (name, agent["status"])
    assert card["call"]["display"] in text(shown) and name in text(shown)
    (entry,) = [e for e in entries if e.get("call_id") == placed["call_id"] and e["decision"] == "initiated"]
    assert (entry["confirmed_by"], entry["idempotency_key"]) == ("app", pending["idempotency_key"])


async def test_decline_dials_nothing_is_told_to_the_model_once_and_a_new_ask_shows_a_new_card(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="app"), extensions=[APPS]) as client:
        card = card_of(await client.call_tool("place_call", LIVE))
        declined = data(await press(client, card, confirm=False))
        assert declined["status"] == "declined" and "Nothing was dialled" in declined["next_step"]
        assert error(await press(client, card))["message"].startswith("this confirmation card was already answered")
        told = error(await client.call_tool("place_call", LIVE))
        assert told["code"] == "confirmation_declined" and "on its confirmation card" in told["message"]
        anew = card_of(await client.call_tool("place_call", LIVE))
        entries = await recent(client)
    assert anew["nonce"] != card["nonce"]
    assert posts(sandbox) == 0
    assert [e["decision"] for e in entries] == ["confirmation_required", "declined", "refused", "confirmation_required"]


async def test_confirm_call_needs_the_nonce_of_a_card_still_waiting(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="app"), extensions=[APPS]) as client:
        missing = error(await client.call_tool("confirm_call", {"confirm": True}))
        unknown = error(await client.call_tool("confirm_call", {"nonce": "x" * 32, "confirm": True}))
        card = card_of(await client.call_tool("place_call", LIVE))
        await sandbox_time.sleep(301)
        expired = error(await press(client, card))
        anew = card_of(await client.call_tool("place_call", LIVE))
        placed = data(await press(client, anew))
    assert missing["code"] == "invalid_argument" and "nonce" in missing["message"]
    assert (unknown["code"], unknown["rule"]) == ("policy_refused", "confirmation")
    assert "no confirmation card has this nonce" in unknown["message"]
    assert "has expired" in expired["message"] and "place_call again" in expired["next_step"]
    assert anew["nonce"] != card["nonce"] and placed["status"] == "initiated"
    assert posts(sandbox) == 1


async def test_a_press_is_judged_again_at_its_moment_by_the_budget(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    server = make_server(allow_live_calls=True, confirm="app", max_live_calls_per_hour=1)
    async with Client(server, extensions=[APPS]) as client:
        first = card_of(await client.call_tool("place_call", LIVE))
        other = card_of(await client.call_tool("place_call", {**LIVE, "destination": "+14155550111"}))
        assert data(await press(client, first))["status"] == "initiated"
        refused = error(await press(client, other))
    assert (refused["code"], refused["rule"]) == ("policy_refused", "hourly_budget")
    assert posts(sandbox) == 1


class Asker:
    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        return ElicitResult(action="accept", content={"confirm": True})


async def test_auto_asks_where_the_client_can_ask_else_shows_the_card_else_refuses(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    server = make_server(allow_live_calls=True)
    async with Client(server, extensions=[APPS], elicitation_callback=Asker()) as client:
        asked = data(await client.call_tool("place_call", LIVE))
    async with Client(server, extensions=[APPS]) as client:
        shown = await client.call_tool("place_call", {**LIVE, "destination": "+14155550111"})
        token = error(await client.call_tool("place_call", {**LIVE, "confirmation_token": "a.b"}))
    async with Client(server) as client:
        plain = error(await client.call_tool("place_call", LIVE))
    assert asked["status"] == "initiated" and (asked.get("replayed") is None)
    assert card_of(shown)["call"]["destination"] == "+14155550111"
    assert "confirmation card" in token["message"] and token["setting"] == "BIMPE_CONFIRM"
    assert plain["rule"] == "confirmation" and "declared neither elicitation nor MCP Apps" in plain["message"]
    assert posts(sandbox) == 1


@pytest.mark.parametrize(
    "settings",
    [{"confirm": "elicit", "allow_live_calls": True}, {"confirm": "token", "allow_live_calls": True},
     {"confirm": "off", "allow_live_calls": True}, {"confirm": "app"}, {"confirm": "app", "read_only": True}],
)  # fmt: skip
async def test_no_card_and_no_confirm_call_where_no_call_is_confirmed_on_a_card(
    make_server: ServerFactory, settings: dict[str, Any]
) -> None:
    async with Client(make_server(**settings), extensions=[APPS]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert "confirm_call" not in tools
    assert "ui" not in (tools["place_call"].meta or {}) if "place_call" in tools else settings.get("read_only")


async def test_app_mode_refuses_a_client_that_renders_no_apps_and_says_which_setting(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="app")) as client:
        info = error(await client.call_tool("place_call", LIVE))
    assert info["setting"] == "BIMPE_CONFIRM" and "does not render MCP Apps" in info["message"]
    assert posts(sandbox) == 0


async def test_the_card_in_the_reference_host_shows_the_exact_call_and_one_press_places_it_once(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    server = make_server(allow_live_calls=True, confirm="app", max_live_calls_per_day=5, quiet_hours="01:00-02:00")
    async with Client(server, extensions=[APPS]) as client:
        shown = await client.call_tool("place_call", LIVE)
        card = card_of(shown)
        async with view_host(client, shown, LIVE, uri=CONFIRM_URI) as host:
            confirm = host.view.get_by_role("button", name="Confirm")
            await confirm.wait_for()
            assert await host.view.locator("#to").inner_text() == card["call"]["display"]
            assert card["call"]["display"].startswith("+1 415-555-0100")
            where = await host.view.locator("#where").inner_text()
            assert where.endswith(f" there ({card['call']['time_zone']})") and "United States" not in where
            agent = await host.view.locator("#agent").inner_text()
            assert agent.startswith(f"{card['call']['agent_name']} ({card['call']['agent_id']})")
            assert "LIVE" in await host.view.locator("#title").inner_text()
            policy = await host.view.locator("#policy").inner_text()
            assert "01:00-02:00" in policy and "5 of 5 calls left this day" in policy
            await host.screenshot("confirm-card.png")
            await host.set_theme("dark")
            await host.screenshot("confirm-card-dark.png")
            assert posts(sandbox) == 0

            await confirm.click()
            outcome = host.view.locator("#outcome.ok")
            await outcome.wait_for()
            assert await confirm.is_disabled() and await host.view.get_by_role("button", name="Decline").is_disabled()
            await confirm.click(force=True)
            assert posts(sandbox) == 1, "a second press places nothing"
            learned = data(await client.call_tool("place_call", LIVE))
            assert learned["call_id"] in await outcome.inner_text()
            told = await host.page.evaluate("() => window.modelContext")
            (block,) = told["content"]
            assert block["text"].startswith("On the confirmation card the user pressed Confirm: LIVE call to ")
            assert f"call_id {learned['call_id']}" in block["text"] and "wait_for_call" in block["text"]
            assert card["nonce"] not in json.dumps(told), "the model is told the call, never the nonce"
        assert host.problems == []
    assert learned["replayed"] is True and posts(sandbox) == 1


async def test_decline_on_the_card_places_nothing_and_an_expired_card_says_so(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="app"), extensions=[APPS]) as client:
        shown = await client.call_tool("place_call", LIVE)
        async with view_host(client, shown, LIVE, uri=CONFIRM_URI) as host:
            await host.view.get_by_role("button", name="Decline").click()
            await host.view.locator("#outcome", has_text="Declined: nothing was dialled.").wait_for()
        assert error(await client.call_tool("place_call", LIVE))["code"] == "confirmation_declined"
        late = await client.call_tool("place_call", LIVE)
        await sandbox_time.sleep(301)
        async with view_host(client, late, LIVE, uri=CONFIRM_URI) as host:
            await host.view.get_by_role("button", name="Confirm").click()
            expired = host.view.locator("#outcome.error")
            await expired.wait_for()
            assert "has expired" in await expired.inner_text()
        assert host.problems == []
    assert posts(sandbox) == 0


SEND_FROM_VIEW = """async ([id, args]) => new Promise((resolve) => {
  window.addEventListener("message", (event) => {
    if (event.data && event.data.id === id) resolve(event.data);
  });
  const params = { name: "confirm_call", arguments: args };
  window.parent.postMessage({ jsonrpc: "2.0", id, method: "tools/call", params }, "*");
})"""


async def test_confirm_call_sent_through_the_host_without_the_nonce_or_with_a_spent_one_is_refused(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="app"), extensions=[APPS]) as client:
        shown = await client.call_tool("place_call", LIVE)
        nonce = card_of(shown)["nonce"]
        async with view_host(client, shown, LIVE, uri=CONFIRM_URI) as host:
            await host.view.get_by_role("button", name="Confirm").click()
            await host.view.locator("#outcome.ok").wait_for()
            bare = await host.frame.evaluate(SEND_FROM_VIEW, [9001, {"confirm": True}])
            spent = await host.frame.evaluate(SEND_FROM_VIEW, [9002, {"nonce": nonce, "confirm": True}])
        assert host.problems == []
    for answer, why in ((bare, "nonce"), (spent, "already answered")):
        result = answer["result"]
        assert result["isError"] is True and why in result["content"][0]["text"]
    assert posts(sandbox) == 1


async def test_the_card_keeps_within_the_hosts_box_follows_its_fonts_and_counts_down_its_expiry(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    context = {
        "containerDimensions": {"maxHeight": 160},
        "styles": {"variables": {"--font-sans": "Georgia, serif"}},
    }
    async with Client(make_server(allow_live_calls=True, confirm="app"), extensions=[APPS]) as client:
        shown = await client.call_tool("place_call", LIVE)
        async with view_host(client, shown, LIVE, uri=CONFIRM_URI, context=context, fake_clock=True) as host:
            confirm = host.view.get_by_role("button", name="Confirm")
            # The card is shown, its expiry timer with it, before the clock moves: the button is in the page before.
            await host.view.locator("#expiry", has_text="valid until").wait_for()
            font = await host.frame.evaluate("() => getComputedStyle(document.body).fontFamily")
            assert font == "Georgia, serif"
            sizes = await host.sizes()
            assert sizes and max(s["height"] for s in sizes) <= 160 and await host.frame_height() <= 160
            scroll = "() => [document.body.scrollHeight, document.body.clientHeight]"
            inner, shown_height = await host.frame.evaluate(scroll)
            assert inner > shown_height, "the card scrolls inside the box the host gave it"
            await host.page.clock.fast_forward(299_000)
            assert await confirm.is_enabled()
            await host.page.clock.fast_forward(2_000)
            expired = host.view.locator("#outcome.error", has_text="This confirmation card has expired")
            await expired.wait_for(state="attached")
            assert await confirm.is_disabled()
        assert host.problems == []
    assert posts(sandbox) == 0


async def test_test_calls_are_confirmed_on_the_card_when_the_operator_says_so(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(confirm="app", confirm_test_calls=True), extensions=[APPS]) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        shown = await client.call_tool("place_call", {"destination": US})
        card = card_of(shown)
        assert posts(sandbox) == 0
        placed = data(await press(client, card))
    assert "confirm_call" in listed and card["call"]["kind"] == "test"
    assert placed["is_test_call"] is True and placed["status"] == "initiated" and posts(sandbox) == 1


def test_a_destination_zone_the_time_zone_database_lacks_leaves_the_local_time_out() -> None:
    when = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time(("Nowhere/Atlantis", "Europe/London"), when) == ("Europe/London", "2026-07-01T13:00+01:00")
    assert local_time(("Nowhere/Atlantis",), when) == (None, None)
