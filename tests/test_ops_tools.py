"""The tools that answer ops questions across calls: an agent's readiness, transcripts of several calls, the outcome
of a call waited for, and the daily report prompt."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client, MCPError

from bimpe_mcp.core.render import UNTRUSTED
from bimpe_mcp.sandbox import Sandbox
from tests.conftest import ServerFactory
from tests.sandbox_support import all_calls, api
from tests.support import data, error, text

pytestmark = pytest.mark.anyio
NUMBER = "+447400900123"


async def ended_calls(sandbox: Sandbox) -> list[dict[str, Any]]:
    async with api(sandbox) as client:
        return await all_calls(client, sandbox.agents.live, status="ended", sort="-created_on")


async def test_get_agent_names_the_default_agent_its_numbers_and_why_live_calls_are_off(
    client_both: Client, sandbox: Sandbox
) -> None:
    result = await client_both.call_tool("get_agent", {})
    agent = data(result)
    assert agent["id"] == sandbox.agents.live and agent["is_default"] is True
    assert agent["timezone"] == "Africa/Lagos" and agent["language"] and agent["status"]
    telephony = [c for c in agent["channels"] if c["type"] == "telephony"]
    assert telephony and all(n in " ".join(c["name"] for c in telephony) for n in agent["phone_numbers"])
    assert agent["phone_numbers"], "the live agent has a linked number"
    assert agent["can_place_live_calls"] is False
    assert agent["live_calls_blocked_by"] == ["live calls are disabled on this server (BIMPE_ALLOW_LIVE_CALLS)"]
    shown = text(result)
    assert "(the default agent)" in shown and agent["phone_numbers"][0] in shown and "BIMPE_ALLOW_LIVE_CALLS" in shown


async def test_get_agent_says_live_calls_work_when_the_server_allows_them_and_a_number_is_linked(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="token")) as client:
        answer = await client.call_tool("get_agent", {})
        bare = data(await client.call_tool("get_agent", {"agent_id": sandbox.agents.no_channel}))
        live = {"destination": NUMBER, "is_test_call": False}
        preview = data(await client.call_tool("place_call", live))
        placed = data(
            await client.call_tool("place_call", live | {"confirmation_token": preview["confirmation_token"]})
        )
    ready = data(answer)
    assert ready["can_place_live_calls"] is True and ready["live_calls_blocked_by"] == []
    assert "live calls: yes, each once the user confirms it" in text(answer)
    assert preview["status"] == "confirmation_required"
    assert placed["status"] == "initiated", "what get_agent promised holds"
    assert bare["is_default"] is False and bare["phone_numbers"] == [] and bare["can_place_live_calls"] is False
    assert bare["live_calls_blocked_by"] == [
        "no connected telephony channel: link a phone number to the agent in the dashboard"
    ]


async def test_get_agent_says_a_client_that_cannot_ask_cannot_place_live_calls_and_place_call_agrees(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(allow_live_calls=True)) as client:
        ready = data(await client.call_tool("get_agent", {}))
        refused = error(await client.call_tool("place_call", {"destination": NUMBER, "is_test_call": False}))
    assert ready["can_place_live_calls"] is False
    assert ready["live_calls_blocked_by"] == ["this client cannot ask the user to confirm a call (BIMPE_CONFIRM=auto)"]
    assert (refused["rule"], refused["setting"]) == ("confirmation", "BIMPE_CONFIRM")


async def test_get_agent_without_confirmation_says_plainly_that_live_calls_work(make_server: ServerFactory) -> None:
    async with Client(make_server(allow_live_calls=True, confirm="off")) as client:
        result = await client.call_tool("get_agent", {})
    assert "live calls: yes" in text(result).splitlines()
    assert data(result)["can_place_live_calls"] is True


async def test_get_agent_on_a_read_only_server_says_no_call_can_be_placed(make_server: ServerFactory) -> None:
    async with Client(make_server(read_only=True, allow_live_calls=True)) as client:
        result = await client.call_tool("get_agent", {})
    assert data(result)["live_calls_blocked_by"] == ["this server is read-only"]
    assert "live calls: no: this server is read-only" in text(result)


async def test_get_transcripts_reads_several_calls_within_each_budget(client: Client, sandbox: Sandbox) -> None:
    ids = [c["id"] for c in (await ended_calls(sandbox))[:5]]
    result = await client.call_tool("get_transcripts", {"call_ids": ids, "max_chars_per_call": 400})
    got = data(result)
    assert [c["call_id"] for c in got["calls"]] == ids and got["left_out"] == []
    for call in got["calls"]:
        lines = call["transcript"]["lines"]
        assert call["status"] == "ended" and lines and sum(len(line) + 1 for line in lines) <= 400
        assert call["transcript"]["total_turns"] >= len(lines)
        cut = call["transcript"]["total_turns"] > len(lines)
        assert ("next_cursor" in call["transcript"]) == cut
        assert not cut or lines[-1].startswith(f"[{call['transcript']['total_turns'] - 1} "), "ends with the end"
    shown = text(result)
    assert UNTRUSTED in shown and all(f"## {i} ended" in shown for i in ids)
    assert "left out: get_transcript with cursor=" in shown


async def test_get_transcripts_leaves_out_what_the_overall_budget_cannot_hold_and_reports_failed_reads(
    client: Client, sandbox: Sandbox
) -> None:
    ids = [c["id"] for c in (await ended_calls(sandbox))[:6]]
    args = {"call_ids": [*ids, "call_nope0000", ids[0]], "max_chars_per_call": 400, "max_chars": 1000}
    result = await client.call_tool("get_transcripts", args)
    got = data(result)
    read = [c for c in got["calls"] if "transcript" in c]
    assert sum(len(line) + 1 for c in read for line in c["transcript"]["lines"]) <= 1000
    assert got["left_out"] and [c["call_id"] for c in read] + got["left_out"] == ids, "each id once, in order"
    missing = next(c for c in got["calls"] if c["call_id"] == "call_nope0000")
    assert missing["error"].startswith("not_found")
    shown = text(result)
    assert "call_nope0000: not read (not_found" in shown and "max_chars" in shown


async def test_waiting_for_a_call_to_finish_returns_what_was_said(client: Client) -> None:
    call_id = data(await client.call_tool("place_call", {"destination": NUMBER}))["call_id"]
    done = await client.call_tool("wait_for_call", {"call_id": call_id, "timeout_seconds": 120})
    finished = data(done)
    detail = data(await client.call_tool("get_call", {"call_id": call_id}))
    assert finished["finished"] is True and finished["status"] == "ended"
    turns = detail["transcript"]["turns"]
    assert finished["transcript"]["total_turns"] == detail["transcript"]["total_turns"] == len(turns) > 0
    assert [line.split("] ", 1)[1] for line in finished["transcript"]["lines"]] == [t["text"] for t in turns]
    shown = text(done)
    assert f"finished as ended (reason {finished['end_reason']})" in shown
    assert UNTRUSTED in shown and turns[0]["text"] in shown


async def test_a_finished_call_with_a_long_transcript_points_to_get_transcript(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(transcript_chars=500)) as client:
        call_id = data(await client.call_tool("place_call", {"destination": NUMBER}))["call_id"]
        done = await client.call_tool("wait_for_call", {"call_id": call_id, "timeout_seconds": 120})
        cursor = data(done)["transcript"]["next_cursor"]
        rest = data(await client.call_tool("get_transcript", {"cursor": cursor}))
    transcript = data(done)["transcript"]
    gap = next(line for line in transcript["lines"] if line.startswith("[turns "))
    assert f"left out: get_transcript with cursor={cursor}]" in gap and gap in text(done)
    assert sum(len(line) + 1 for line in transcript["lines"]) <= 500
    # The start and the end of the call (where its outcome is), the turns between read on by the cursor.
    assert transcript["lines"][0].startswith("[0 ")
    assert transcript["lines"][-1].startswith(f"[{transcript['total_turns'] - 1} ")
    assert gap.startswith(f"[turns {rest['start_turn']}-")


async def test_a_finished_call_without_turns_says_so(client: Client) -> None:
    from bimpe_mcp.sandbox import BUSY_DESTINATION

    placed = data(await client.call_tool("place_call", {"destination": BUSY_DESTINATION}))
    done = await client.call_tool("wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 120})
    assert data(done)["transcript"]["total_turns"] == 0
    assert "finished as busy (reason busy, error callee_busy)" in text(done)
    assert "no transcript turns" in text(done)


async def test_the_daily_report_prompt_reads_yesterdays_stats_and_failures(client_both: Client) -> None:
    prompts = {p.name for p in (await client_both.list_prompts()).prompts}
    assert "daily_report" in prompts
    got = await client_both.get_prompt("daily_report", {})
    body = getattr(got.messages[0].content, "text", "")
    assert "call_stats with since=yesterday and until=yesterday" in body
    assert 'status=["failed","busy"]' in body and "cancelled" not in body and "error_reason" in body
    dated = await client_both.get_prompt("daily_report", {"day": "2026-06-30", "agent_id": "agt_x1"})
    assert "since=2026-06-30 and until=2026-06-30, agent_id=agt_x1" in getattr(dated.messages[0].content, "text", "")
    for bad in ({"day": "last week"}, {"agent_id": "../x"}):
        with pytest.raises(MCPError) as err:
            await client_both.get_prompt("daily_report", bad)
        assert err.value.error.code == -32602


async def test_an_empty_page_past_the_end_names_the_last_page(client: Client) -> None:
    first = data(await client.call_tool("list_calls", {"limit": 50}))
    result = await client.call_tool("list_calls", {"limit": 50, "page": 999})
    shown = text(result)
    last = first["page_count"]
    assert f"page 999 is past the end, {first['total_count']} in all: the last page is page={last}" in shown
    assert f"ask for page={last}" in shown and "999/" not in shown


async def test_an_empty_list_says_no_calls_match_instead_of_page_one_of_none(client: Client) -> None:
    result = await client.call_tool("list_calls", {"search": "+19999999999"})
    assert data(result)["total_count"] == 0
    shown = text(result)
    assert "page 1/0" not in shown and "none match" in shown and "No calls match. Try fewer filters" in shown


async def test_an_empty_agent_list_says_none_match(client: Client) -> None:
    result = await client.call_tool("list_agents", {"search": "no agent is called this"})
    assert "agents: none match" in text(result) and "1/0" not in text(result)


async def test_arguments_of_the_new_tools_are_checked_before_any_request(client: Client, sandbox: Sandbox) -> None:
    info = error(await client.call_tool("get_transcripts", {"call_ids": []}))
    assert info["code"] == "invalid_argument" and info["message"].startswith("call_ids: ")
    info = error(await client.call_tool("list_calls", {"status": ["failed", "done"]}))
    assert info["code"] == "invalid_argument" and info["message"].startswith("status: ")
    assert sandbox.requests == []


async def test_the_instructions_point_to_the_tools_for_questions_across_calls(client: Client) -> None:
    instructions = client.instructions or ""
    assert all(name in instructions for name in ("call_stats", "get_transcripts", "get_agent", "since/until"))
