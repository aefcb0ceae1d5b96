"""The server's log records reach the client that asked for them, at the level it asked for, and no other."""

from __future__ import annotations

import warnings
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import LoggingLevel, LoggingMessageNotificationParams
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
from tests.support import assert_no_secret, data

pytestmark = pytest.mark.anyio

KEY = "sk_crafted_key_0123456789"
CALL = {"id": "call_1", "status": "ended", "destination": "+2348012345678", "created_on": "2026-11-01T10:00:00Z"}


def answer(_: httpx2.Request) -> httpx2.Response:
    """A page with one record the server cannot read, which it skips with a WARNING."""
    return httpx2.Response(200, json={"message": "Success", "data": [CALL, {"status": "ended"}]})


def crafted_server() -> Any:
    settings = Settings(api_key=SecretStr(KEY), agent_id="agt_1", max_retries=0)
    return build_server(settings, transport=httpx2.MockTransport(answer))


class Heard:
    def __init__(self) -> None:
        self.messages: list[LoggingMessageNotificationParams] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        assert_no_secret(str(params.data))
        assert KEY not in str(params.data)
        self.messages.append(params)


async def set_level(client: Client, level: LoggingLevel) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.set_logging_level(level)  # pyright: ignore[reportDeprecated]


async def test_on_the_handshake_era_records_at_or_above_the_set_level_reach_the_client() -> None:
    heard = Heard()
    async with Client(crafted_server(), mode="legacy", logging_callback=heard) as client:
        data(await client.call_tool("list_calls", {}))
        assert heard.messages == [], "nothing before the client sets a level"
        await set_level(client, "warning")
        data(await client.call_tool("list_calls", {}))
        assert [(m.level, m.logger) for m in heard.messages] == [("warning", "bimpe_mcp.api.client")]
        assert "skipped 1 unreadable" in str(heard.messages[0].data)
        await set_level(client, "error")
        data(await client.call_tool("list_calls", {}))
        assert len(heard.messages) == 1, "a warning is below error"


@pytest.mark.parametrize(("level", "expected"), [("notice", 1), ("warning", 1), ("error", 0), (None, 0)])
async def test_on_the_2026_era_each_request_opts_in_with_its_own_level(
    level: LoggingLevel | None, expected: int
) -> None:
    heard = Heard()
    async with Client(crafted_server(), log_level=level, logging_callback=heard) as client:
        data(await client.call_tool("list_calls", {}))
    assert len(heard.messages) == expected
    assert all(m.level == "warning" for m in heard.messages)


async def test_records_of_one_client_never_reach_another() -> None:
    server = crafted_server()
    heard, other = Heard(), Heard()
    async with (
        Client(server, mode="legacy", logging_callback=heard) as client,
        Client(server, mode="legacy", logging_callback=other) as bystander,
    ):
        await set_level(client, "debug")
        await set_level(bystander, "debug")
        data(await client.call_tool("list_calls", {}))
        await bystander.list_prompts()
    assert any("unreadable" in str(m.data) for m in heard.messages)
    assert not any("unreadable" in str(m.data) for m in other.messages)
