"""The sandbox's world reads like a contact centre: conversations that follow their scenario turn by turn and end the
way their call ends, the days a user asks about holding failed, busy and answered calls, and calls in progress at the
start that move on the sandbox clock and end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from mcp import Client

from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from tests.sandbox_support import all_calls, api, calls_path, obj
from tests.support import data, text

pytestmark = pytest.mark.anyio

FINISHED = {"ended", "busy", "failed", "cancelled"}
IN_FLIGHT = {"queued", "ringing", "answered"}
A_NAME = re.compile(r"^(It's |My name na )?[A-Z][a-z]+ [A-Z][a-z]+\.$")


async def details(sandbox: Sandbox, agent: str) -> list[dict[str, Any]]:
    async with api(sandbox) as client:
        calls = await all_calls(client, agent)
        return [obj(await client.get(calls_path(agent, c["id"]))) for c in calls]


def check_conversation(call: dict[str, Any]) -> None:
    logs = call["conversation_logs"]
    said = [m["message"] for m in logs]
    assert [m["role"] for m in logs] == [("assistant", "user")[i % 2] for i in range(len(logs))], call["id"]
    assert not any("{" in line or "}" in line for line in said), "every slot is filled"
    for asked, answer in pairwise(said):
        if asked.endswith("Can I have your full name, please?"):
            assert A_NAME.match(answer), (asked, answer)
    agent_turns = said[::2]
    if call["end_reason"] == "transferred":
        assert any("transferring you" in line or "putting you through" in line for line in agent_turns[-2:])
    if call["end_reason"] == "agent_hangup":
        assert "leave a message" in said[1], "a message left on a voicemail"
    if call["direction"] == "outbound":
        assert said[0].startswith("Hello, this is "), "an outbound call opens by saying who is calling"


@pytest.mark.parametrize("seed", [7, 8])
async def test_every_conversation_follows_its_scenario_and_ends_as_its_call_ends(seed: int) -> None:
    sandbox = Sandbox(SandboxConfig(seed=seed, speed=0.0))
    for agent in (sandbox.agents.live, sandbox.agents.no_channel, sandbox.agents.paused):
        calls = await details(sandbox, agent)
        for call in calls:
            if call["status"] == "ended":
                assert call["conversation_logs"], call["id"]
                check_conversation(call)
            else:
                assert call["conversation_logs"] == [], "a call that was never answered has no conversation"
        reasons = {c["end_reason"] for c in calls if c["status"] == "ended"}
        assert "completed" in reasons


async def test_a_call_placed_from_each_agent_has_a_conversation_of_its_business(sandbox: Sandbox) -> None:
    agents = (sandbox.agents.live, sandbox.agents.no_channel, sandbox.agents.paused)
    async with api(sandbox) as client:
        placed = [
            obj(await client.post(calls_path(a), json={"destination": "+442079460123", "is_test_call": True}))
            for a in agents[:2]
        ]
        sandbox.clock.advance(600)
        placed.append(
            obj(await client.post(calls_path(agents[2]), json={"destination": "+442079460123", "is_test_call": True}))
        )
        sandbox.clock.advance(600)
        ended = [obj(await client.get(calls_path(a, p["call_id"]))) for a, p in zip(agents, placed, strict=True)]
    businesses = ("Lekki Smile Dental Clinic", "Harbor Freight Logistics", "Kilimanjaro Coffee Roasters")
    for call, business in zip(ended, businesses, strict=True):
        assert call["status"] == "ended" and business in call["conversation_logs"][0]["message"]
        check_conversation(call)


@pytest.mark.parametrize(
    ("seed", "start"),
    [(7, None), (8, datetime(2026, 12, 2, 12, 0, tzinfo=UTC)), (11, datetime(2027, 3, 1, 20, 30, tzinfo=UTC))],
)
async def test_yesterday_and_today_hold_failed_busy_and_answered_calls_of_the_support_and_sales_agents(
    seed: int, start: datetime | None
) -> None:
    config = SandboxConfig(seed=seed, speed=0.0) if start is None else SandboxConfig(seed=seed, speed=0.0, start=start)
    sandbox = Sandbox(config)
    for agent in (sandbox.agents.live, sandbox.agents.no_channel):
        async with api(sandbox) as client:
            calls = await all_calls(client, agent)
            zone = ZoneInfo(obj(await client.get(f"/agents/{agent}"))["timezone"])
        today = sandbox.clock.now().astimezone(zone).date()
        for day in (today, today - timedelta(days=1)):
            first = datetime.combine(day, time(), zone)
            on_day = [
                c
                for c in calls
                if first <= datetime.fromisoformat(c["created_on"].replace("Z", "+00:00")) < first + timedelta(days=1)
            ]
            assert {"failed", "busy", "ended"} <= {c["status"] for c in on_day}, (agent, day)


async def test_the_calls_in_progress_at_the_start_move_on_the_sandbox_clock_and_end(
    client: Client, sandbox: Sandbox
) -> None:
    page = data(await client.call_tool("list_calls", {"since": "today"}))
    moving = [c for c in page["calls"] if c["status"] in IN_FLIGHT]
    assert {c["status"] for c in moving} == IN_FLIGHT
    queued = next(c["id"] for c in moving if c["status"] == "queued")
    sandbox.clock.advance(6)
    assert data(await client.call_tool("get_call", {"call_id": queued}))["status"] == "ringing"
    for c in moving:
        for _ in range(12):
            waited = data(await client.call_tool("wait_for_call", {"call_id": c["id"]}))
            if waited["finished"]:
                break
        else:
            pytest.fail(f"{c['id']} never ended")
        assert waited["status"] in FINISHED
        transcript: dict[str, Any] = waited.get("transcript") or {}
        assert bool(transcript.get("lines")) == (waited["status"] == "ended"), "a conversation only if answered"
    stats = data(await client.call_tool("call_stats", {"since": "today"}))
    assert stats["in_flight"] == 0 and stats["total"] == len(page["calls"])
    assert (
        not {c["status"] for c in data(await client.call_tool("list_calls", {"since": "today"}))["calls"]} & IN_FLIGHT
    )


async def test_call_stats_count_calls_in_flight_apart_from_the_answered_rate(client: Client) -> None:
    result = await client.call_tool("call_stats", {"since": "today"})
    stats = data(result)
    finished = sum(n for status, n in stats["by_status"].items() if status in FINISHED)
    assert stats["in_flight"] == stats["total"] - finished == 3
    assert stats["answered"] == stats["by_status"]["ended"]
    assert stats["answered_rate"] == round(stats["answered"] / finished, 3)
    assert f"answered: {stats['answered']} of {finished} finished call(s)" in text(result)
    assert "3 still in flight" in text(result)


async def test_times_read_in_one_form_and_a_call_answered_as_it_started_says_so_once(client: Client) -> None:
    page = text(await client.call_tool("list_calls", {"limit": 100}))
    stamps = re.findall(r"\d{4}-\d\d-\d\dT[\d:.]+Z", page)
    assert len(stamps) >= 100 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", s) for s in stamps)
    newest = data(await client.call_tool("list_calls", {"status": "ended", "limit": 1}))["calls"][0]
    detail = await client.call_tool("get_call", {"call_id": newest["id"]})
    facts = text(detail).splitlines()[0]
    assert data(detail)["started_at"] == data(detail)["answered_at"]
    assert "; answered created+" in facts and "started" not in facts
