"""The examples of the README's "Safety" section hold as written: the numbers it says are always refused are, its
list of allowed destinations admits what it names and nothing else, and the bad value it quotes stops the server
with one line naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mcp import Client

from bimpe_mcp.cli.main import main
from bimpe_mcp.sandbox import Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error

README = Path(__file__).parents[1] / "README.md"

pytestmark = pytest.mark.anyio


def safety() -> str:
    return README.read_text(encoding="utf-8").split("## Safety", 1)[1].split("\n## ", 1)[0]


def quoted(pattern: str) -> list[str]:
    """The values in backticks of the section that match `pattern`."""
    return [v for v in re.findall(r"`([^`]+)`", safety()) if re.fullmatch(pattern, v)]


async def test_the_numbers_safety_says_are_always_refused_are_refused_for_test_and_live_calls(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    (premium,) = quoted(r"\+\d{8,15}")
    async with Client(make_server(allow_live_calls=True, confirm="off")) as client:
        for is_test_call in (True, False):
            info = error(await client.call_tool("place_call", {"destination": premium, "is_test_call": is_test_call}))
            assert (info["code"], info["rule"]) == ("policy_refused", "premium_rate"), info
    assert not any(r.method == "POST" for r in sandbox.requests)


async def test_the_allowed_destinations_example_admits_what_it_names_and_nothing_else(
    make_server: ServerFactory,
) -> None:
    (listed,) = quoted(r"\+\d+(,\+\d+)+")
    code = next(entry for entry in listed.split(",") if len(entry) <= 4)
    async with Client(make_server(allowed_destinations=listed)) as client:
        admitted = data(await client.call_tool("place_call", {"destination": f"{code}8012345678"}))
        other = error(await client.call_tool("place_call", {"destination": "+14155550100"}))
    assert admitted["status"] == "initiated"
    assert (other["rule"], other["setting"]) == ("allowed_destinations", "BIMPE_ALLOWED_DESTINATIONS")


def test_the_bad_value_safety_quotes_stops_the_server_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = re.search(r"A bad value \(`(BIMPE_[A-Z_]+=[^`]+)`", safety())
    assert found, "Safety quotes a bad value"
    assignment = found.group(1)
    variable, value = assignment.split("=", 1)
    monkeypatch.setenv(variable, value)
    assert main(["--sandbox"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err.count("\n") == 1 and variable in said.err
