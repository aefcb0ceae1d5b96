"""place_call reads numbers as people write them, through the MCP client: separators ignored, 00 read as +; a number
without its country code is never dialled on a guess but answered with its E.164 form in the agent's country; short
and emergency numbers meet their rule; no error shows a regular expression; each refusal is in the audit trail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult, TextResourceContents

from bimpe_mcp.api.redact import mask_number
from bimpe_mcp.sandbox import Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

UK = "+447400900123"
# Traces of a regular expression in an error: anchors, classes, quantifiers, and the word itself.
REGEX_TRACES = ("^", "$", "[0-9]", "\\d", "{8,64}", "{6,14}", "pattern")


def posts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "POST")


async def recent(client: Client) -> list[dict[str, Any]]:
    (contents,) = (await client.read_resource("bimpe://audit/recent")).contents
    assert isinstance(contents, TextResourceContents)
    return [json.loads(line) for line in contents.text.splitlines()]


def no_regex(result: Any) -> str:
    shown = text(result) + json.dumps(result.meta)
    assert not [t for t in REGEX_TRACES if t in shown], shown
    return shown


@pytest.mark.parametrize("written", ["+44 7400 900123", "+44-7400-900-123", "+44 (7400) 900.123", "0044 7400 900123"])
async def test_a_number_written_with_separators_or_00_is_dialled_as_its_e164_form(
    client: Client, sandbox: Sandbox, written: str
) -> None:
    placed = data(await client.call_tool("place_call", {"destination": written}))
    assert (placed["status"], placed["destination"]) == ("initiated", UK)
    calls = data(await client.call_tool("list_calls", {"search": UK, "limit": 100}))["calls"]
    assert [c["id"] for c in calls] == [placed["call_id"]]
    assert posts(sandbox) == 1


async def test_a_national_form_is_answered_with_its_e164_form_in_the_agents_country_and_dials_nothing(
    client: Client, sandbox: Sandbox
) -> None:
    # The default agent's own number is Nigerian (+234...): a national form is read there, and only there.
    result = await client.call_tool("place_call", {"destination": "0801 234 5678"})
    info = error(result)
    assert (info["code"], info["rule"]) == ("invalid_argument", "national_number")
    assert "no country code" in info["message"]
    assert "In Nigeria, the agent's country, it is +234 801 234 5678 (Nigeria)" in info["next_step"]
    assert "destination +2348012345678" in info["next_step"] and "which country" in info["next_step"]
    no_regex(result)
    # A number the user wrote as they would in the United Kingdom is still read in the agent's country, Nigeria.
    uk_written = error(await client.call_tool("place_call", {"destination": "07700 900123"}))
    assert "+2347700900123" in uk_written["next_step"] and "+44" not in uk_written["next_step"]
    assert posts(sandbox) == 0, "a national form never dials"
    placed = data(await client.call_tool("place_call", {"destination": "+2348012345678"}))
    assert placed["destination"] == "+2348012345678" and posts(sandbox) == 1


async def test_an_agent_without_a_number_has_its_country_from_its_time_zone(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    # The tutoring agent has no channel and the time zone Europe/London.
    async with Client(make_server(agent_id=sandbox.world.role_id("tutoring"))) as client:
        info = error(await client.call_tool("place_call", {"destination": "07400 900123"}))
    assert info["rule"] == "national_number"
    assert "In United Kingdom, the agent's country, it is +44 7400 900123 (United Kingdom)" in info["next_step"]
    assert f"destination {UK}" in info["next_step"]
    assert posts(sandbox) == 0


async def test_an_agent_whose_country_cannot_be_read_gets_no_guess(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    # An agent with no telephony number: its time zone (Africa/Lagos) says Nigeria.
    async with Client(make_server(agent_id=sandbox.agents.no_channel)) as client:
        info = error(await client.call_tool("place_call", {"destination": "0801 234 5678"}))
    assert "+2348012345678" in info["next_step"]
    # An agent the API does not know: no country, so no E.164 form is offered, only how to write one.
    async with Client(make_server(agent_id="agt_doesnotexist1")) as client:
        unknown = error(await client.call_tool("place_call", {"destination": "0801 234 5678"}))
    assert unknown["rule"] == "national_number" and "+234" not in unknown["next_step"]
    assert "E.164 form: +, the country code" in unknown["next_step"]
    assert posts(sandbox) == 0


@pytest.mark.parametrize("short", ["112", "911", "999", "000", "0 0 0", "116-123", "+44 999", "+1 911"])
async def test_short_and_emergency_numbers_meet_the_emergency_rule(
    client: Client, sandbox: Sandbox, short: str
) -> None:
    result = await client.call_tool("place_call", {"destination": short})
    info = error(result)
    assert (info["code"], info["rule"]) == ("policy_refused", "emergency_number")
    assert "is an emergency or short number" in info["message"]
    no_regex(result)
    assert posts(sandbox) == 0


@pytest.mark.parametrize("key", ["abc-123", "a" * 65, "key with spaces", "ключ-ключ-ключ"])
async def test_an_idempotency_key_of_the_wrong_form_is_worded_without_a_pattern(
    client: Client, sandbox: Sandbox, key: str
) -> None:
    result = await client.call_tool("place_call", {"destination": UK, "idempotency_key": key})
    info = error(result)
    assert info["code"] == "invalid_argument"
    assert "idempotency_key: not an idempotency key: a key is 8 to 64 letters, digits, - or _" in info["message"]
    assert "omit idempotency_key for a new call" in info["message"]
    assert key not in no_regex(result)
    assert posts(sandbox) == 0


@pytest.mark.parametrize("bad", ["tel:+447400900123", "call mom", "+44 7400 900123 x12", "", "++447400900123"])
async def test_a_destination_that_is_not_a_number_says_the_form_to_send(
    client: Client, sandbox: Sandbox, bad: str
) -> None:
    result = await client.call_tool("place_call", {"destination": bad})
    info = error(result)
    assert (info["code"], info["rule"]) == ("invalid_argument", "invalid_number")
    assert info["message"] == "destination is not a phone number as written"
    assert "E.164 form: +, the country code, then the number (e.g. +2348012345678)" in info["next_step"]
    assert "spaces, dashes, dots and parentheses are ignored" in info["next_step"]
    no_regex(result)
    assert posts(sandbox) == 0


async def test_a_destination_too_long_is_refused_before_the_tool_runs(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("place_call", {"destination": "+44 " + "7" * 60})
    info = error(result)
    assert info["code"] == "invalid_argument" and "at most 40 characters" in info["message"]
    assert "destination: E.164 number, e.g. +2348012345678" in info["next_step"]
    no_regex(result)


async def test_each_refusal_of_a_written_number_is_in_the_audit_trail(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    async with Client(make_server(audit_log=str(log))) as client:
        error(await client.call_tool("place_call", {"destination": "0801 234 5678"}))
        error(await client.call_tool("place_call", {"destination": "112"}))
        error(await client.call_tool("place_call", {"destination": "call mom"}))
        error(await client.call_tool("place_call", {"destination": UK, "idempotency_key": "abc-123"}))
        data(await client.call_tool("place_call", {"destination": "0044 7400 900 123"}))
        shown = await recent(client)
    written = [json.loads(line) for line in log.read_text().splitlines()]
    assert written == shown
    assert [(e["decision"], e.get("rule")) for e in written] == [
        ("refused", "national_number"),
        ("refused", "emergency_number"),
        ("refused", "invalid_number"),
        ("refused", "invalid_argument"),
        ("initiated", None),
    ]
    assert [e["destination"] for e in written] == [
        mask_number("08012345678"),
        mask_number("112"),
        mask_number(""),
        mask_number(UK),
        mask_number("0044 7400 900 123"),
    ]
    assert {e["agent_id"] for e in written} == {sandbox.agents.live}


class Human:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})


async def test_the_question_and_the_preview_show_the_full_international_number_with_its_country(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    human = Human()
    async with Client(make_server(allow_live_calls=True), elicitation_callback=human) as client:
        placed = data(await client.call_tool("place_call", {"destination": "0044 7400-900.123", "is_test_call": False}))
    assert placed["destination"] == UK
    (question,) = human.asked
    assert "LIVE call to +44 7400 900123 (United Kingdom) from agent" in question
    async with Client(make_server(allow_live_calls=True, confirm="token")) as client:
        preview = data(
            await client.call_tool("place_call", {"destination": "(+44) 7400 900123", "is_test_call": False})
        )
    assert preview["status"] == "confirmation_required" and preview["destination"] == UK
    assert "place a LIVE call to +44 7400 900123 (United Kingdom) from agent" in preview["next_step"]
