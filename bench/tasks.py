"""Ops questions asked in chat, each answered by a scripted tool sequence against the sandbox through the MCP client:
tool calls and characters returned (the text a model reads) per task, the current tools against the first tool set
in the same run.

The baseline uses only what the first tool set had: list_calls without since/until and with one status,
get_call, list_agents, place_call and wait_for_call. wait_for_call now carries the transcript of a finished call;
the baseline counts its reply as the first tool set wrote it (rebuilt from the structured content without the
transcript), so the baseline is not inflated by the new field.

Run: python bench/tasks.py            (prints the table; exit 1 when a goal is missed)
Goals: every question in at most 2 tool calls, none of them an error; at least 5x fewer characters on the
cross-call tasks taken together. Questions about what callers said return the speech itself, so their own cut is
smaller; questions about counts and reasons are cut the most.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent
from pydantic import SecretStr

from bimpe_mcp.core import render
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.models import CallWait
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server

NUMBER = "+447400900123"
CUT_GOAL = 5.0
CALLS_GOAL = 2


class SandboxClock(Clock):
    """Waits move the sandbox's clock instead of taking time, so a call placed in the run ends in the run."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sandbox.clock.advance(seconds)

    def wall(self) -> datetime:
        return self.sandbox.clock.now()


@dataclass
class Run:
    """One scripted answer: the tools it called and the characters they returned."""

    client: Client
    first_set: bool
    calls: int = 0
    chars: int = 0
    names: list[str] = field(default_factory=list[str])
    errors: int = 0

    async def tool(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        result = await self.client.call_tool(name, args or {})
        self.calls += 1
        self.errors += bool(result.is_error)
        self.names.append(name)
        self.chars += len(self._text(name, result))
        return dict(result.structured_content or {})

    def _text(self, name: str, result: CallToolResult) -> str:
        shown = "".join(c.text for c in result.content if isinstance(c, TextContent))
        if self.first_set and name == "wait_for_call" and result.structured_content:
            # The first wait_for_call carried no transcript: count its reply as the first tool set wrote it.
            return render.call_wait(CallWait.model_validate(result.structured_content | {"transcript": None}))
        return shown


Script = Callable[[Run, "World"], Awaitable[None]]


@dataclass(frozen=True)
class World:
    """Facts of the seeded sandbox the scripts need: the agent, its zone, and today's date there."""

    agent: str
    other_agent: str
    zone: ZoneInfo
    today: date


@dataclass(frozen=True)
class Task:
    question: str
    cross_call: bool
    current: Script
    baseline: Script


def day_of(call: dict[str, Any], zone: ZoneInfo) -> date:
    return datetime.fromisoformat(call["created_on"].replace("Z", "+00:00")).astimezone(zone).date()


async def pages_back_to(run: Run, oldest: date, world: World, **filters: Any) -> list[dict[str, Any]]:
    """First tool set: pages of 100 calls, newest first, until a page reaches back past `oldest` (the model's own date
    filtering, over every page it had to read)."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        got = await run.tool("list_calls", {"limit": 100, "page": page, **filters})
        out += got["calls"]
        if not got.get("next_page") or (got["calls"] and day_of(got["calls"][-1], world.zone) < oldest):
            return out
        page += 1


# --- how many calls failed yesterday -----------------------------------------------------------------------------


async def failed_yesterday(run: Run, w: World) -> None:
    await run.tool("call_stats", {"since": "yesterday", "until": "yesterday"})


async def failed_yesterday_before(run: Run, w: World) -> None:
    for status in ("failed", "busy", "cancelled"):
        await pages_back_to(run, w.today - timedelta(days=1), w, status=status)


# --- summarize today's calls -------------------------------------------------------------------------------------


async def today_summary(run: Run, w: World) -> None:
    today = await run.tool("list_calls", {"since": "today", "limit": 100})
    ended = [c["id"] for c in today["calls"] if c["status"] == "ended"][:20]
    await run.tool("get_transcripts", {"call_ids": ended})


async def today_summary_before(run: Run, w: World) -> None:
    calls = await pages_back_to(run, w.today, w)
    for call in calls:
        if day_of(call, w.zone) == w.today and call["status"] == "ended":
            await run.tool("get_call", {"call_id": call["id"]})


# --- failure reasons this week -----------------------------------------------------------------------------------


async def week_failures(run: Run, w: World) -> None:
    # The reasons, counted: by_error_reason and by_end_reason.
    await run.tool("call_stats", {"since": "7d"})


async def week_failures_before(run: Run, w: World) -> None:
    for status in ("failed", "busy", "cancelled"):
        await pages_back_to(run, w.today - timedelta(days=7), w, status=status)


# --- answered rate and durations over 7 days ---------------------------------------------------------------------


async def week_stats(run: Run, w: World) -> None:
    await run.tool("call_stats", {"since": "7d"})


async def week_stats_before(run: Run, w: World) -> None:
    await pages_back_to(run, w.today - timedelta(days=7), w)


# --- calls per day over two weeks, live only ---------------------------------------------------------------------


async def per_day(run: Run, w: World) -> None:
    await run.tool("call_stats", {"since": "14d", "is_test_call": False})


async def per_day_before(run: Run, w: World) -> None:
    await pages_back_to(run, w.today - timedelta(days=14), w, is_test_call=False)


# --- what the last five answered callers said --------------------------------------------------------------------


async def last_five(run: Run, w: World) -> None:
    recent = await run.tool("list_calls", {"status": "ended", "limit": 5})
    await run.tool("get_transcripts", {"call_ids": [c["id"] for c in recent["calls"]]})


async def last_five_before(run: Run, w: World) -> None:
    recent = await run.tool("list_calls", {"status": "ended", "limit": 5})
    for call in recent["calls"]:
        await run.tool("get_call", {"call_id": call["id"]})


# --- can agent X make live calls ---------------------------------------------------------------------------------


async def live_ready(run: Run, w: World) -> None:
    await run.tool("get_agent", {"agent_id": w.other_agent})


async def live_ready_before(run: Run, w: World) -> None:
    # The first tool set had no agent detail: the only way to know was to try (the server refuses a live call it
    # may not place).
    await run.tool("list_agents", {})
    await run.tool("place_call", {"agent_id": w.other_agent, "destination": NUMBER, "is_test_call": False})


# --- call this number and tell me what they said -----------------------------------------------------------------


async def call_and_tell(run: Run, w: World) -> None:
    placed = await run.tool("place_call", {"destination": NUMBER})
    await run.tool("wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 120})


async def call_and_tell_before(run: Run, w: World) -> None:
    placed = await run.tool("place_call", {"destination": NUMBER})
    await run.tool("wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 120})
    await run.tool("get_call", {"call_id": placed["call_id"]})


TASKS: tuple[Task, ...] = (
    Task("How many calls failed yesterday?", True, failed_yesterday, failed_yesterday_before),
    Task("Summarize today's calls", True, today_summary, today_summary_before),
    Task("Why did calls fail in the last 7 days?", True, week_failures, week_failures_before),
    Task("Answered rate and median duration, last 7 days?", True, week_stats, week_stats_before),
    Task("Live calls per day over the last 14 days?", True, per_day, per_day_before),
    Task("What did the last five answered callers say?", True, last_five, last_five_before),
    Task("Can agent X make live calls?", False, live_ready, live_ready_before),
    Task("Call this number and tell me what they said", False, call_and_tell, call_and_tell_before),
)


@dataclass(frozen=True)
class Row:
    task: Task
    current: Run
    baseline: Run

    @property
    def cut(self) -> float:
        return self.baseline.chars / max(1, self.current.chars)


async def world_of(client: Client, sandbox: Sandbox) -> World:
    agent = await client.call_tool("get_agent", {})
    info: dict[str, Any] = dict(agent.structured_content or {})
    zone = ZoneInfo(str(info["timezone"]))
    return World(
        agent=str(info["id"]),
        other_agent=sandbox.agents.no_channel,
        zone=zone,
        today=sandbox.clock.now().astimezone(zone).date(),
    )


async def answer(task: Task, script: Script, first_set: bool) -> Run:
    """One scripted answer on a fresh sandbox (each starts from the same seeded world)."""
    sandbox = Sandbox(SandboxConfig(seed=7, speed=0.0))
    settings = Settings(api_key=SecretStr(sandbox.keys.full), base_url=sandbox.origin, agent_id=sandbox.agents.live)
    server = build_server(settings, transport=sandbox.transport(), clock=SandboxClock(sandbox))
    async with Client(server) as client:
        world = await world_of(client, sandbox)
        run = Run(client, first_set)
        await script(run, world)
    return run


async def measure() -> list[Row]:
    return [Row(t, await answer(t, t.current, False), await answer(t, t.baseline, True)) for t in TASKS]


def table(rows: list[Row]) -> str:
    lines = [
        "| question | cross-call | calls now | chars now | calls before | chars before | cut |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.task.question} | {'yes' if r.task.cross_call else 'no'} | {r.current.calls} | "
            f"{r.current.chars:,} | {r.baseline.calls} | {r.baseline.chars:,} | {r.cut:.1f}x |"
        )
    cross = [r for r in rows if r.task.cross_call]
    now = sum(r.current.chars for r in cross)
    before = sum(r.baseline.chars for r in cross)
    lines.append(f"| all cross-call tasks | | | {now:,} | | {before:,} | {cross_call_cut(rows):.1f}x |")
    return "\n".join(lines)


def cross_call_cut(rows: list[Row]) -> float:
    cross = [r for r in rows if r.task.cross_call]
    return sum(r.baseline.chars for r in cross) / max(1, sum(r.current.chars for r in cross))


def missed(rows: list[Row]) -> list[str]:
    out = [f"{r.task.question}: {r.current.calls} calls" for r in rows if r.current.calls > CALLS_GOAL]
    out += [f"{r.task.question}: {r.current.errors} tool error(s)" for r in rows if r.current.errors]
    if cross_call_cut(rows) < CUT_GOAL:
        out.append(f"cross-call tasks: only {cross_call_cut(rows):.1f}x fewer characters")
    return out


def main() -> int:
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    rows = anyio.run(measure)
    print(table(rows))
    problems = missed(rows)
    for problem in problems:
        print(f"goal missed: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
