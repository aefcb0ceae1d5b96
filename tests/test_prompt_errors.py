"""A prompt request that names an unknown prompt, leaves out a required argument or adds one the prompt does not take
is invalid params (-32602) naming what is wrong, on both eras, and never an internal error with a traceback."""

from __future__ import annotations

import logging

import pytest
from mcp import Client, MCPError

pytestmark = pytest.mark.anyio


async def refusal(client: Client, name: str, arguments: dict[str, str] | None) -> MCPError:
    with pytest.raises(MCPError) as refused:
        await client.get_prompt(name, arguments)
    return refused.value


async def test_a_missing_required_argument_is_named(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    error = await refusal(client, "summarize_call", {"agent_id": "agt_1"})
    assert error.error.code == -32602
    assert "summarize_call" in error.error.message and "call_id" in error.error.message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no traceback for a bad request"


async def test_an_unknown_prompt_is_named_with_the_prompts_there_are(client: Client) -> None:
    error = await refusal(client, "summarise_call", {"call_id": "call_1"})
    assert error.error.code == -32602
    assert "summarise_call" in error.error.message and "summarize_call" in error.error.message


async def test_an_argument_the_prompt_does_not_take_is_named(client: Client) -> None:
    error = await refusal(client, "review_failed_calls", {"limit": "5", "since": "monday"})
    assert error.error.code == -32602
    assert "since" in error.error.message and "limit" in error.error.message


async def test_a_very_long_unknown_name_is_cut_in_the_message(client: Client) -> None:
    error = await refusal(client, "x" * 5000, None)
    assert error.error.code == -32602 and len(error.error.message) < 300


async def test_prompts_without_arguments_given_still_render(client: Client) -> None:
    review = await client.get_prompt("review_failed_calls")
    assert "list_calls" in getattr(review.messages[0].content, "text", "")
