"""Every question of the README's "Try asking" works as written on the sandbox: each is walked through the tools a
model would pick (scripted, no model), and the answer is checked to be the one the question wants."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import TextContent

from bimpe_mcp.sandbox import Sandbox
from tests.support import data, text

README = Path(__file__).parents[1] / "README.md"
NUMBER = "+442079460123"
FAILURES = {"failed", "busy"}

pytestmark = pytest.mark.anyio


def questions() -> list[str]:
    """The questions of the section, each as quoted (the prompt item by its first words)."""
    section = README.read_text(encoding="utf-8").split("## Try asking", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^- (.+(?:\n  .+)*)", section, flags=re.MULTILINE)
    assert len(items) >= 10, "the section lists its questions as items"
    return [m.group(1) if (m := re.match(r'"([^"]+)"', item)) else item.split(" (")[0] for item in items]


async def call(client: Client, tool: str, **arguments: Any) -> tuple[dict[str, Any], str]:
    """A tool's structured content and the text a model reads."""
    result = await client.call_tool(tool, arguments)
    return data(result), text(result)


async def agent_named(client: Client, word: str) -> str:
    """The agent a model picks for "the <word> agent": the one whose name says so."""
    agents, _ = await call(client, "list_agents")
    found = [a["id"] for a in agents["agents"] if word.lower() in a["name"].lower()]
    assert len(found) == 1, f"exactly one agent is named for {word}"
    return found[0]


async def placed_and_waited(client: Client, agent: str) -> dict[str, Any]:
    """A test call placed, then waited for as often as wait_for_call asks (a bounded number of times)."""
    placed, _ = await call(client, "place_call", destination=NUMBER, agent_id=agent)
    assert placed["status"] == "initiated", placed
    for _ in range(10):
        waited, said = await call(client, "wait_for_call", call_id=placed["call_id"], agent_id=agent)
        if waited["finished"]:
            assert waited["status"] == "ended" and "finished as ended" in said
            return waited
    pytest.fail("the placed call never ended")


def lines_of(call: dict[str, Any]) -> list[str]:
    """The transcript lines of a call read by wait_for_call or get_transcripts (none when it has no transcript)."""
    transcript: dict[str, Any] = call.get("transcript") or {}
    return list(transcript.get("lines") or [])


def caller_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " caller] " in line]


async def which_agents(client: Client, sandbox: Sandbox) -> None:
    agents, said = await call(client, "list_agents")
    live = [a for a in agents["agents"] if a["status"] == "live"]
    assert [a["id"] for a in live] == [sandbox.agents.live] and said.count("[live]") == 1
    assert "Support" in live[0]["name"]


async def failed_yesterday_of_support(client: Client, _sandbox: Sandbox) -> None:
    support = await agent_named(client, "support")
    page, said = await call(
        client, "list_calls", agent_id=support, since="yesterday", until="yesterday", status="failed"
    )
    assert len(page["calls"]) >= 2 and page["coverage"]["complete"]
    assert all(c["status"] == "failed" and c["error_reason"] for c in page["calls"]), "each says why"
    lines = [line for line in said.splitlines() if line.startswith("call_")]
    assert len(lines) == len(page["calls"]) and all(" error=" in line for line in lines)


async def busy_this_week(client: Client, _sandbox: Sandbox) -> None:
    page, _ = await call(client, "list_calls", status="busy", since="7d", limit=100)
    groups = Counter(c["destination"] for c in page["calls"])
    assert page["calls"] and all(c["status"] == "busy" for c in page["calls"])
    assert groups.most_common(1)[0][1] >= 3, "one customer was busy again and again"


async def newest_answered_call(client: Client) -> tuple[str, list[str]]:
    page, _ = await call(client, "list_calls", status="ended", limit=1)
    call_id = page["calls"][0]["id"]
    transcript, _ = await call(client, "get_transcript", call_id=call_id)
    assert transcript["total_turns"] == len(transcript["turns"]), "the whole transcript"
    return call_id, [f"[{t['speaker']}] {t['text']}" for t in transcript["turns"]]


async def summarize_newest(client: Client, _sandbox: Sandbox) -> None:
    page, _ = await call(client, "list_calls", status="ended", limit=1)
    detail, said = await call(client, "get_call", call_id=page["calls"][0]["id"])
    assert detail["end_reason"] == "completed"
    assert "refund" in said.split("caller] ", 1)[1].split("\n", 1)[0], "the caller's first words say what they want"
    assert "raised a refund" in said, "and the agent did it"


async def quote_the_refund(client: Client, _sandbox: Sandbox) -> None:
    _, turns = await newest_answered_call(client)
    asked = [t for t in turns if t.startswith("[caller]") and "I'd like a refund" in t]
    assert len(asked) == 1


async def sales_test_call(client: Client, _sandbox: Sandbox) -> None:
    sales = await agent_named(client, "sales")
    waited = await placed_and_waited(client, sales)
    lines = waited["transcript"]["lines"]
    assert "calling from Harbor Freight Logistics" in lines[0] and len(caller_lines(lines)) >= 4


async def failed_yesterday_and_why(client: Client, _sandbox: Sandbox) -> None:
    stats, said = await call(client, "call_stats", since="yesterday", until="yesterday")
    failed = stats["by_status"]["failed"]
    reasons = {k: n for k, n in stats["by_error_reason"].items() if k != "callee_busy"}
    assert failed >= 2 and sum(reasons.values()) == failed and "by error reason: " in said


async def summarize_today(client: Client, _sandbox: Sandbox) -> None:
    page, _ = await call(client, "list_calls", since="today")
    ids = [c["id"] for c in page["calls"]]
    assert 0 < len(ids) <= 20 and page["coverage"]["complete"]
    read, _ = await call(client, "get_transcripts", call_ids=ids)
    by_id = {c["call_id"]: c for c in read["calls"]}
    assert list(by_id) == ids and not read["left_out"]
    ended = [c for c in by_id.values() if c["status"] == "ended"]
    assert ended and all(lines_of(c) for c in ended)
    assert all(not lines_of(c) for c in by_id.values() if c["status"] in FAILURES)


async def last_seven_days(client: Client, _sandbox: Sandbox) -> None:
    stats, said = await call(client, "call_stats", since="7d")
    finished = stats["total"] - stats["in_flight"]
    assert stats["in_flight"] > 0, "the calls in progress at the start are in the window, and counted apart"
    assert stats["answered_rate"] == round(stats["answered"] / finished, 3)
    assert stats["duration_median"] is not None and stats["busiest_hour"] is not None
    assert f"median {stats['duration_median']:g}s" in said and "-s" not in said


async def sales_live_calls(client: Client, _sandbox: Sandbox) -> None:
    agent, said = await call(client, "get_agent", agent_id=await agent_named(client, "sales"))
    assert agent["can_place_live_calls"] is False
    assert any("telephony" in why for why in agent["live_calls_blocked_by"]) and "live calls: no: " in said


async def call_from_support(client: Client, _sandbox: Sandbox) -> None:
    waited = await placed_and_waited(client, await agent_named(client, "support"))
    lines = waited["transcript"]["lines"]
    assert "calling from Lekki Smile Dental Clinic" in lines[0] and len(caller_lines(lines)) >= 4


async def prompt_text(client: Client, name: str, **arguments: str) -> str:
    result = await client.get_prompt(name, arguments)
    content = result.messages[0].content
    assert isinstance(content, TextContent)
    return content.text


async def the_prompts(client: Client, _sandbox: Sandbox) -> None:
    review = await prompt_text(client, "review_failed_calls")
    assert 'status=["failed","busy"]' in review and "limit=10" in review
    failures, _ = await call(client, "list_calls", status=["failed", "busy"], limit=10)
    assert len(failures["calls"]) == 10 and {c["status"] for c in failures["calls"]} == FAILURES, "none cancelled"
    call_id, _ = await newest_answered_call(client)
    summary = await prompt_text(client, "summarize_call", call_id=call_id)
    assert f"get_call with call_id={call_id}" in summary
    _, said = await call(client, "get_call", call_id=call_id)
    assert "refund" in said
    report = await prompt_text(client, "daily_report")
    assert "since=yesterday and until=yesterday" in report
    stats, _ = await call(client, "call_stats", since="yesterday", until="yesterday")
    failures, _ = await call(client, "list_calls", since="yesterday", until="yesterday", status=["failed", "busy"])
    assert len(failures["calls"]) == sum(stats["by_status"].get(s, 0) for s in FAILURES) > 0


WALKS: dict[str, Callable[[Client, Sandbox], Awaitable[None]]] = {
    "Which agents do I have, and which one is live?": which_agents,
    "Show me yesterday's failed calls of the support agent and why each one failed.": failed_yesterday_of_support,
    "Did any calls end busy this week? Group them by the number dialled.": busy_this_week,
    "Summarize the most recent answered call: what did the caller want, and did the agent get it right?": (
        summarize_newest
    ),
    "Read the whole transcript of that call and quote where the caller asked for a refund.": quote_the_refund,
    f"Place a test call from the sales agent to {NUMBER}, wait for it to end, and summarize it.": sales_test_call,
    "How many calls failed yesterday, and why?": failed_yesterday_and_why,
    "Summarize today's calls.": summarize_today,
    "What was the answered rate and the median call length over the last 7 days? Which hour is busiest?": (
        last_seven_days
    ),
    "Can the sales agent make live calls right now? If not, why not?": sales_live_calls,
    f"Call {NUMBER} from the support agent and tell me what they said.": call_from_support,
    "Run the `review_failed_calls`, `summarize_call` or `daily_report` prompt": the_prompts,
}


def test_every_question_of_the_readme_has_its_walk() -> None:
    assert questions() == list(WALKS)


@pytest.mark.parametrize("question", list(WALKS))
async def test_a_readme_question_gets_the_answer_it_wants(client: Client, sandbox: Sandbox, question: str) -> None:
    await WALKS[question](client, sandbox)
