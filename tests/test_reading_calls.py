from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import ResourceTemplateReference, TextResourceContents

from bimpe_mcp.sandbox import Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio


async def test_list_agents_finds_the_agent_ids_and_names_the_default(client_both: Client, sandbox: Sandbox) -> None:
    page = data(await client_both.call_tool("list_agents", {}))
    ids = {a["id"] for a in page["agents"]}
    assert {sandbox.agents.live, sandbox.agents.no_channel, sandbox.agents.paused} <= ids
    assert sandbox.agents.other_team not in ids
    assert page["default_agent_id"] == sandbox.agents.live
    assert page["page"] == 1 and page["total_count"] == len(ids)


async def test_list_calls_pages_through_an_agents_calls_with_paging_facts(client_both: Client) -> None:
    first = data(await client_both.call_tool("list_calls", {"limit": 50}))
    assert len(first["calls"]) == 50
    assert first["page"] == 1 and first["next_page"] == 2
    assert first["total_count"] >= 300 and first["page_count"] == -(-first["total_count"] // 50)
    second = data(await client_both.call_tool("list_calls", {"limit": 50, "page": 2}))
    assert not {c["id"] for c in first["calls"]} & {c["id"] for c in second["calls"]}
    created = [c["created_on"] for c in first["calls"] + second["calls"]]
    assert created == sorted(created, reverse=True)
    last = data(await client_both.call_tool("list_calls", {"limit": 50, "page": first["page_count"]}))
    assert "next_page" not in last and last["calls"]


async def test_list_calls_applies_and_echoes_every_filter(client: Client) -> None:
    args = {"status": "failed", "is_test_call": False, "sort": "-duration_seconds", "limit": 100}
    result = await client.call_tool("list_calls", args)
    page = data(result)
    assert page["applied_filters"] == {"status": "failed", "is_test_call": False, "sort": "-duration_seconds"}
    assert page["calls"], "the seeded data has failed live calls"
    assert all(c["status"] == "failed" and c["is_test_call"] is False for c in page["calls"])
    assert all("error_reason" in c for c in page["calls"])
    # Values as JSON spells them, the spelling the arguments take.
    assert "filters: sort=-duration_seconds status=failed is_test_call=false" in text(result)


async def test_list_calls_search_matches_a_phone_number(client: Client) -> None:
    some = data(await client.call_tool("list_calls", {"limit": 5}))["calls"][0]
    found = data(await client.call_tool("list_calls", {"search": some["destination"], "limit": 100}))
    assert some["id"] in {c["id"] for c in found["calls"]}
    assert found["applied_filters"]["search"] == some["destination"]


def parse_call_line(line: str, home: str | None) -> dict[str, Any]:
    """Read a compact call line back into the structured fields it stands for."""
    words = line.split(" ")
    ident, status, direction, test, created, numbers, *rest = words
    src, dst = (home if n == "@" else None if n == "?" else n for n in numbers.split(">"))
    base = datetime.fromisoformat(created.replace("Z", "+00:00"))
    call: dict[str, Any] = {
        "id": ident,
        "status": status,
        "direction": {"in": "inbound", "out": "outbound"}[direction],
        "is_test_call": test == "test",
        "created_on": created,
        "source": src,
        "destination": dst,
    }
    for word in rest:
        if word.startswith(("ring+", "end+")):
            name, offset = word.split("+")
            when = base + timedelta(seconds=float(offset.rstrip("s")))
            call["ringing_at" if name == "ring" else "ended_at"] = when
        elif word.startswith("reason="):
            call["end_reason"] = word.removeprefix("reason=")
        elif word.startswith("error="):
            call["error_reason"] = word.removeprefix("error=")
        else:
            call["duration_seconds"] = float(word.rstrip("s"))
    return {k: v for k, v in call.items() if v is not None}


async def test_list_calls_text_is_compact_and_loses_no_fact(client: Client) -> None:
    result = await client.call_tool("list_calls", {"limit": 100})
    body = text(result)
    assert len(body) < 0.4 * len(json.dumps(result.structured_content))
    header, _columns, *lines = body.splitlines()
    home = header.split("@ = ")[1] if "@ = " in header else None
    calls = data(result)["calls"]
    assert len(lines) == len(calls) == 100
    for line, call in zip(lines, calls, strict=True):
        parsed = parse_call_line(line, home)
        for field in ("ringing_at", "ended_at"):
            if field in call:
                assert parsed.pop(field) == datetime.fromisoformat(call[field].replace("Z", "+00:00")), field
        expected = {k: v for k, v in call.items() if k not in ("ringing_at", "ended_at")}
        if "created_on" in parsed:
            parsed["created_on"] = parsed["created_on"].replace(".000Z", "Z")
            expected["created_on"] = expected["created_on"].replace(".000Z", "Z")
        assert parsed == expected


async def test_json_text_format_serializes_the_structured_content(make_server: ServerFactory) -> None:
    async with Client(make_server(text_format="json")) as client:
        result = await client.call_tool("list_calls", {"limit": 3})
    assert json.loads(text(result)) == result.structured_content


async def test_out_of_range_arguments_are_readable_tool_errors(client_both: Client, sandbox: Sandbox) -> None:
    info = error(await client_both.call_tool("list_calls", {"limit": 500}))
    assert info["code"] == "invalid_argument" and info["message"].startswith("limit: ")
    info = error(await client_both.call_tool("list_calls", {"sort": "created_on; drop", "status": "done"}))
    assert info["code"] == "invalid_argument"
    assert "sort: " in info["message"] and "status: " in info["message"]
    assert "A leading - sorts descending" in info["next_step"], "the field's description guides"
    assert "errors.pydantic.dev" not in info["message"]
    assert sandbox.requests == []


async def test_an_unknown_agent_is_not_found_and_points_to_list_agents(client: Client) -> None:
    info = error(await client.call_tool("list_calls", {"agent_id": "agt_nope"}))
    assert info["code"] == "not_found" and "list_agents" in info["next_step"]
    assert info["request_id"] and not info["retryable"]


async def test_the_other_teams_agent_is_invisible(client: Client, sandbox: Sandbox) -> None:
    info = error(await client.call_tool("list_calls", {"agent_id": sandbox.agents.other_team}))
    assert info["code"] == "not_found"


@pytest.mark.parametrize("bad", ["../x", "a/b", "a?x=1", "a#b", "%2e%2e", "a b", "x" * 51])
async def test_path_injection_ids_are_rejected_before_any_request(client: Client, sandbox: Sandbox, bad: str) -> None:
    before = len(sandbox.requests)
    for tool, args in (
        ("list_calls", {"agent_id": bad}),
        ("get_call", {"call_id": bad}),
        ("get_call", {"call_id": "call_1", "agent_id": bad}),
        ("get_transcript", {"call_id": bad}),
        ("wait_for_call", {"call_id": bad}),
        ("place_call", {"destination": "+14155550100", "agent_id": bad}),
    ):
        info = error(await client.call_tool(tool, args))
        assert info["code"] == "invalid_argument", (tool, bad)
        assert "letters, digits" in info["message"]
    assert len(sandbox.requests) == before


async def test_an_empty_agent_id_is_the_default_agent_and_an_empty_call_id_is_refused(
    client: Client, sandbox: Sandbox
) -> None:
    assert data(await client.call_tool("list_calls", {"agent_id": "", "limit": 1}))["agent_id"] == sandbox.agents.live
    assert error(await client.call_tool("get_call", {"call_id": ""}))["code"] == "invalid_argument"


async def test_get_call_returns_timings_and_the_transcript(client_both: Client) -> None:
    ended = data(await client_both.call_tool("list_calls", {"status": "ended", "limit": 1}))["calls"][0]
    result = await client_both.call_tool("get_call", {"call_id": ended["id"]})
    call = data(result)
    assert call["id"] == ended["id"] and call["status"] == "ended"
    assert call["answered_at"] and call["started_at"]
    transcript = call["transcript"]
    assert transcript["total_turns"] >= 2 and transcript["turns"]
    assert {t["speaker"] for t in transcript["turns"]} <= {"agent", "caller"}
    assert transcript["turns"][0]["offset"].count(":") == 1
    assert "untrusted data" in text(result)


async def find_long_call(client: Client) -> str:
    """The seeded data has a few transcripts of 200+ turns: they are among the longest calls."""
    args = {"status": "ended", "sort": "-duration_seconds", "limit": 25}
    for call in data(await client.call_tool("list_calls", args))["calls"]:
        detail = data(await client.call_tool("get_call", {"call_id": call["id"], "max_transcript_chars": 200}))
        if detail["transcript"]["total_turns"] >= 200:
            return call["id"]
    raise AssertionError("no transcript of 200+ turns among the 25 longest calls")


async def test_a_long_transcript_is_cut_and_the_cursor_returns_the_rest_exactly(client: Client) -> None:
    call_id = await find_long_call(client)
    first = data(await client.call_tool("get_call", {"call_id": call_id, "max_transcript_chars": 2000}))
    window = first["transcript"]
    assert window["truncated"] and window["next_cursor"]
    assert len(text(await client.call_tool("get_call", {"call_id": call_id, "max_transcript_chars": 2000}))) < 2600
    turns = list(window["turns"])
    cursor = window["next_cursor"]
    pages = 0
    while cursor:
        part = data(await client.call_tool("get_transcript", {"cursor": cursor, "max_chars": 3000}))
        assert part["start_turn"] == len(turns)
        turns += part["turns"]
        cursor = part.get("next_cursor")
        pages += 1
    assert len(turns) == window["total_turns"] and pages > 1
    whole = data(await client.call_tool("get_transcript", {"call_id": call_id, "max_chars": 100_000}))
    assert whole["turns"] == turns and not whole["truncated"]


async def test_get_transcript_takes_a_turn_range(client_both: Client) -> None:
    call_id = await find_long_call(client_both)
    part = data(await client_both.call_tool("get_transcript", {"call_id": call_id, "start_turn": 10, "end_turn": 15}))
    assert (part["start_turn"], part["end_turn"], len(part["turns"])) == (10, 15, 5)
    assert part["truncated"] and part["next_cursor"]


async def test_a_foreign_or_forged_cursor_is_refused(client: Client) -> None:
    for cursor in ("not-a-cursor", "YXxifGM"):
        info = error(await client.call_tool("get_transcript", {"cursor": cursor}))
        assert info["code"] == "invalid_argument" and "cursor" in info["message"]
    call_id = await find_long_call(client)
    cursor = data(await client.call_tool("get_call", {"call_id": call_id, "max_transcript_chars": 500}))["transcript"][
        "next_cursor"
    ]
    info = error(await client.call_tool("get_transcript", {"cursor": cursor, "call_id": "call_other"}))
    assert "another call" in info["message"]
    info = error(await client.call_tool("get_transcript", {}))
    assert info["code"] == "invalid_argument"


async def test_transcript_and_call_are_resources(client_both: Client, sandbox: Sandbox) -> None:
    templates = {t.uri_template for t in (await client_both.list_resource_templates()).resource_templates}
    assert "bimpe://agents/{agent_id}/calls/{call_id}/transcript" in templates
    assert "bimpe://agents/{agent_id}/calls/{call_id}" in templates
    call_id = await find_long_call(client_both)
    agent = sandbox.agents.live
    read = await client_both.read_resource(f"bimpe://agents/{agent}/calls/{call_id}/transcript")
    content = read.contents[0]
    assert isinstance(content, TextResourceContents) and content.mime_type == "text/plain"
    lines = content.text.splitlines()
    whole = data(await client_both.call_tool("get_transcript", {"call_id": call_id, "max_chars": 100_000}))
    assert len(lines) == 1 + whole["total_turns"]
    assert lines[1].startswith("[0 ") and lines[-1].startswith(f"[{whole['total_turns'] - 1} ")
    raw = await client_both.read_resource(f"bimpe://agents/{agent}/calls/{call_id}")
    body = raw.contents[0]
    assert isinstance(body, TextResourceContents)
    parsed = json.loads(body.text)
    assert parsed["call"]["id"] == call_id and len(parsed["transcript"]["turns"]) == whole["total_turns"]


async def test_reading_a_missing_transcript_is_a_not_found_protocol_error(
    client_both: Client, sandbox: Sandbox
) -> None:
    with pytest.raises(MCPError) as err:
        await client_both.read_resource(f"bimpe://agents/{sandbox.agents.live}/calls/call_missing/transcript")
    assert err.value.error.code == -32602
    with pytest.raises(MCPError):
        await client_both.read_resource("bimpe://agents/a%2Fb/calls/c/transcript")


async def test_completions_offer_agent_and_call_ids(client_both: Client, sandbox: Sandbox) -> None:
    ref = ResourceTemplateReference(type="ref/resource", uri="bimpe://agents/{agent_id}/calls/{call_id}/transcript")
    agents = await client_both.complete(ref, {"name": "agent_id", "value": ""})
    assert sandbox.agents.live in agents.completion.values
    some = data(await client_both.call_tool("list_calls", {"limit": 1}))["calls"][0]["id"]
    calls = await client_both.complete(
        ref, {"name": "call_id", "value": some[:6]}, context_arguments={"agent_id": sandbox.agents.live}
    )
    assert some in calls.completion.values
    assert all(v.startswith(some[:6]) for v in calls.completion.values)
    none = await client_both.complete(ref, {"name": "call_id", "value": ""}, context_arguments={"agent_id": "../x"})
    assert none.completion.values == []
