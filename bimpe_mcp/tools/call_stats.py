"""call_stats: what a window of an agent's calls adds up to, computed here (the API has no statistics)."""

from __future__ import annotations

from datetime import timedelta

from bimpe_mcp.core import render
from bimpe_mcp.core.models import CallStats
from bimpe_mcp.reading import stats
from bimpe_mcp.reading.scan import agent_window, scan
from bimpe_mcp.reading.windows import zone_of
from bimpe_mcp.tools.arguments import AgentIdArg, MaxPagesArg, SinceArg, UntilArg
from bimpe_mcp.tools.runtime import READ, Ctx, Reply, state_of, tool


@tool("Call stats", READ)
async def call_stats(
    ctx: Ctx,
    agent_id: AgentIdArg = None,
    since: SinceArg = None,
    until: UntilArg = None,
    is_test_call: bool | None = None,
    max_pages: MaxPagesArg = 20,
) -> Reply[CallStats]:
    """Counts an agent's calls in a window: by status and reason, answered rate, durations, per day, busiest hour."""
    state = state_of(ctx)
    api = state.api()
    agent = state.agent(agent_id)
    win = await agent_window(api, agent, since, until, state.clock.wall())
    walk = await scan(api, agent, win, max_pages=max_pages, is_test_call=is_test_call)
    calls = walk.calls
    lengths = sorted(c.duration_seconds for c in calls if c.duration_seconds is not None)
    finished, answered, rate = stats.answered_rate(calls)
    zone = zone_of(win.zone)[1]
    # Days before the oldest call read are unknown when the walk stopped short: those are not listed as 0.
    first = win.since.astimezone(zone).date() if win.since and walk.complete else None
    last = (win.until - timedelta(microseconds=1) if win.until else state.clock.wall()).astimezone(zone).date()
    per_day, hour, hour_calls = stats.by_day_and_hour(calls, zone, first, last)
    result = CallStats(
        agent_id=agent,
        total=len(calls),
        by_status=stats.tally([c.status for c in calls]),
        by_end_reason=stats.tally([c.end_reason for c in calls if c.end_reason or c.status in stats.OVER]),
        by_error_reason=stats.tally([c.error_reason for c in calls if c.error_reason]),
        in_flight=len(calls) - finished,
        answered=answered,
        answered_rate=rate,
        durations=len(lengths),
        duration_sum=sum(lengths),
        duration_median=stats.median(lengths) if lengths else None,
        duration_p90=stats.p90(lengths),
        per_day=per_day,
        busiest_hour=hour,
        busiest_hour_calls=hour_calls,
        coverage=walk.coverage(win),
    )
    return Reply(result, render.call_stats(result))
