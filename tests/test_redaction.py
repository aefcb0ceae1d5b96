"""With BIMPE_REDACT=true, what the mask hides stays hidden: however a number or an address is written in a
transcript, and however list_calls' search is used to probe for it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox
from bimpe_mcp.server.build import build_server
from tests.conftest import SandboxTime, ServerFactory
from tests.sandbox_support import Planted
from tests.support import data, text

pytestmark = pytest.mark.anyio

PHONES = [
    "+1 415 555 0100",
    "(415) 555-0100",
    "415-555-0100",
    "415.555.0100",
    "415. 555. 0100",
    "415 / 555 / 0100",
    "415/555/0100",
    "415_555_0100",
    "415,555,0100",
    "415\\555\\0100",
    "415\u2014555\u20140100",  # em dash
    "415\u2013555\u20130100",  # en dash
    "415\u2012555\u20120100",  # figure dash
    "415\u2011555\u20110100",  # non-breaking hyphen
    "415\u2212555\u22120100",  # minus sign
    "415 - 555 - 0100",
    "+1 (415) 555 - 0100",
    "+14155550100",
    "\uff0b1 415 555 0100",  # full-width plus
    "\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10",  # full-width digits
    "415\u00a0555\u00a00100",  # no-break spaces
    "415\u2009555\u202f0100",  # thin and narrow no-break spaces
    "4 1 5 5 5 5 0 1 0 0",
    "4\u200b1\u200b5\u200b5\u200b5\u200b5\u200b0\u200b1\u200b0\u200b0",  # zero-width spaces
    "415\ufe0f555\U000e0101 0100",  # variation selectors
    "+44 (0) 7700 900100",
    "0044 7700 900100",
]
ADDRESSES = [
    "john.smith@example.com",
    "JOHN.SMITH@EXAMPLE.COM",
    "john.smith\uff20example.com",  # full-width at sign
    "john.smith\ufe6bexample.com",  # small commercial at
    "john.smith @ example . com",
    "john.smith@example dot com",
    "john at example dot com",
    "john AT example DOT com",
    "john (at) example (dot) com",
    "john [at] example [dot] com",
    "john {at} example {dot} com",
    "john at example.com",
    "john dot smith at example dot com",
    "john.smith at example\uff0ecom",  # full-width full stop
]
KEPT = [
    "I'm at home. Can you call back at 10.30 tomorrow?",
    "It cost 250 dollars and I waited 45 minutes.",
    "Look at this: the order number is ABC-123.",
]


def planted_server(sandbox: Sandbox, clock: SandboxTime, said: list[str]) -> Any:
    values: dict[str, Any] = {"api_key": SecretStr(sandbox.keys.full), "agent_id": sandbox.agents.live}
    return build_server(Settings(**values, redact=True), transport=Planted(sandbox, said), clock=clock)


async def test_a_number_is_masked_whatever_separates_its_digits(sandbox: Sandbox, sandbox_time: SandboxTime) -> None:
    said = [f"Reach me on {phone}, thanks." for phone in PHONES]
    async with Client(planted_server(sandbox, sandbox_time, said)) as client:
        call_id = data(await client.call_tool("list_calls", {"limit": 1}))["calls"][0]["id"]
        result = await client.call_tool("get_transcript", {"call_id": call_id, "max_chars": 50_000})
    turns = [t["text"] for t in data(result)["turns"][-len(PHONES) :]]
    for phone, turn in zip(PHONES, turns, strict=True):
        assert len(re.findall(r"\d", turn)) == 2 and turn.endswith(", thanks."), (phone, turn)
    assert "4155550100" not in re.sub(r"\D", "", text(result))


async def test_an_address_is_masked_written_with_signs_or_spelled_out(
    sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    said = [f"Mail {address} please." for address in ADDRESSES] + KEPT
    async with Client(planted_server(sandbox, sandbox_time, said)) as client:
        call_id = data(await client.call_tool("list_calls", {"limit": 1}))["calls"][0]["id"]
        result = await client.call_tool("get_call", {"call_id": call_id, "max_transcript_chars": 50_000})
    turns = [t["text"] for t in data(result)["transcript"]["turns"][-len(said) :]]
    for address, turn in zip(ADDRESSES, turns[: len(ADDRESSES)], strict=True):
        assert "john" not in turn.lower() and "smith" not in turn.lower(), (address, turn)
        assert turn.startswith("Mail ***") and "example" in turn.lower(), (address, turn)
    assert turns[len(ADDRESSES) :] == KEPT, "speech without a number or an address is left as it was said"


async def calls_found(client: Client, search: str) -> list[dict[str, Any]]:
    """Every call a search finds, page after page."""
    calls: list[dict[str, Any]] = []
    page: int | None = 1
    while page is not None:
        found = data(await client.call_tool("list_calls", {"search": search, "limit": 100, "page": page}))
        calls += found["calls"]
        page = found.get("next_page")
    return calls


async def test_search_cannot_probe_a_masked_number_digit_by_digit(make_server: ServerFactory) -> None:
    async with Client(make_server()) as plain:
        calls = data(await plain.call_tool("list_calls", {"limit": 100}))["calls"]
        target = next(c for c in calls if c["direction"] == "outbound" and c["destination"])
        own = re.sub(r"\D", "", target["source"])
        truth = re.sub(r"\D", "", target["destination"])
        # Prefixes of the hidden number that nothing shown holds: each one a probe that must tell nothing.
        probes = ["+" + truth[:k] for k in range(5, len(truth) + 1) if truth[:k] not in own]
        assert len(probes) >= 4, (truth, own)
        # Without the mask, each probe finds the call: that is the channel the mask has to close.
        for probe in probes:
            assert target["id"] in {c["id"] for c in await calls_found(plain, probe)}, probe
    async with Client(make_server(redact=True)) as masked:
        for probe in probes:
            found = await calls_found(masked, probe)
            assert target["id"] not in {c["id"] for c in found}, probe
            shown = [re.sub(r"\D", "", f"{c.get('source')}{c.get('destination')}") for c in found]
            assert all(probe[1:] in digits for digits in shown), "only a call showing the digits is found"
        shown_target = next(c for c in await calls_found(masked, target["id"]) if c["id"] == target["id"])
        assert re.fullmatch(r"\+\*+\d\d", shown_target["destination"])
        by_mask = await calls_found(masked, shown_target["destination"])
        by_own = await calls_found(masked, target["source"])
    assert target["id"] in {c["id"] for c in by_mask}, "a number can be searched as it is shown"
    assert target["id"] in {c["id"] for c in by_own}, "the agent's own number is shown, and found"
