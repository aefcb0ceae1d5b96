"""Time windows and statistics, checked against the sandbox's own data: every count equals a brute-force count
over all of an agent's calls as the API serves them."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2
import pytest
from mcp import Client
from pydantic import SecretStr

from bimpe_mcp.api.errors import TransportError
from bimpe_mcp.api.wire import PageMeta, WireCall, WirePage
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.reading.pages import read_pages as scan_batch
from bimpe_mcp.reading.scan import Scan
from bimpe_mcp.reading.scan import _take as scan_take  # pyright: ignore[reportPrivateUsage]
from bimpe_mcp.reading.windows import Window, window
from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig
from bimpe_mcp.server.backend import with_sandbox
from bimpe_mcp.server.build import build_server
from tests.conftest import SandboxTime, ServerFactory
from tests.sandbox_support import all_calls, api, obj
from tests.support import data, error, text

pytestmark = pytest.mark.anyio
FINISHED = {"ended", "busy", "failed", "cancelled"}


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def every_call(sandbox: Sandbox, agent: str, **params: str | int) -> list[dict[str, Any]]:
    """All of the agent's calls, newest first, read straight from the sandbox's API."""
    async with api(sandbox) as client:
        return await all_calls(client, agent, sort="-created_on", **params)


async def zone_of(sandbox: Sandbox, agent: str) -> ZoneInfo:
    async with api(sandbox) as client:
        return ZoneInfo(obj(await client.get(f"/agents/{agent}"))["timezone"])


def local_day(sandbox: Sandbox, zone: ZoneInfo, days_ago: int) -> tuple[datetime, datetime]:
    day: date = sandbox.clock.now().astimezone(zone).date() - timedelta(days=days_ago)
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def inside(calls: list[dict[str, Any]], start: datetime | None, stop: datetime | None) -> list[dict[str, Any]]:
    return [
        c
        for c in calls
        if (start is None or moment(c["created_on"]) >= start) and (stop is None or moment(c["created_on"]) < stop)
    ]


def expected_stats(calls: list[dict[str, Any]], zone: ZoneInfo) -> dict[str, Any]:
    """call_stats' figures, counted by hand."""
    lengths = sorted(c["duration_seconds"] for c in calls if c.get("duration_seconds") is not None)
    hours = Counter(moment(c["created_on"]).astimezone(zone).hour for c in calls)
    top = max(hours.values(), default=0)
    return {
        "total": len(calls),
        "by_status": dict(Counter(c["status"] for c in calls)),
        "by_end_reason": dict(Counter(c.get("end_reason") or "none" for c in calls if c["status"] in FINISHED)),
        "by_error_reason": dict(Counter(c["error_reason"] for c in calls if c.get("error_reason"))),
        # Answered among the finished calls; the calls still in flight are counted apart.
        "answered": sum(c["status"] == "ended" for c in calls),
        "in_flight": sum(c["status"] not in FINISHED for c in calls),
        "durations": len(lengths),
        "duration_sum": sum(lengths),
        "duration_median": statistics.median(lengths) if lengths else None,
        "duration_p90": lengths[math.ceil(0.9 * len(lengths)) - 1] if lengths else None,
        "per_day": dict(Counter(moment(c["created_on"]).astimezone(zone).date().isoformat() for c in calls)),
        "busiest_hour": min((h for h, n in hours.items() if n == top), default=None),
        "busiest_hour_calls": top,
    }


def figures(stats: dict[str, Any]) -> dict[str, Any]:
    """call_stats' figures, days without calls left out of per_day (a count by hand has none)."""
    keys = expected_stats([], ZoneInfo("UTC")).keys()
    out = {k: stats.get(k) for k in keys}
    out["per_day"] = {d: n for d, n in stats["per_day"].items() if n}
    return out


@pytest.mark.parametrize(("since", "until"), [("yesterday", "yesterday"), ("7d", None), (None, None), ("today", None)])
async def test_call_stats_equal_a_count_by_hand_over_every_call(
    client: Client, sandbox: Sandbox, since: str | None, until: str | None
) -> None:
    agent = sandbox.agents.live
    zone = await zone_of(sandbox, agent)
    now = sandbox.clock.now()
    starts = {"yesterday": local_day(sandbox, zone, 1)[0], "today": local_day(sandbox, zone, 0)[0]}
    start = starts.get(since or "", now - timedelta(days=7) if since == "7d" else None)
    stop = local_day(sandbox, zone, 1)[1] if until == "yesterday" else None
    args = {k: v for k, v in {"since": since, "until": until}.items() if v}
    stats = data(await client.call_tool("call_stats", args))
    expected = expected_stats(inside(await every_call(sandbox, agent), start, stop), zone)
    assert expected["total"] > 0, "the sandbox has calls in every window asked here"
    assert figures(stats) == expected
    assert sum(stats["by_status"].values()) == stats["total"] == sum(stats["per_day"].values())
    assert stats["coverage"]["complete"] is True and stats["coverage"]["timezone"] == str(zone)


async def test_call_stats_of_test_or_live_calls_only_use_the_apis_own_filter(client: Client, sandbox: Sandbox) -> None:
    zone = await zone_of(sandbox, sandbox.agents.live)
    live = data(await client.call_tool("call_stats", {"since": "14d", "is_test_call": False}))
    calls = inside(await every_call(sandbox, sandbox.agents.live, is_test_call="false"), None, None)
    start = sandbox.clock.now() - timedelta(days=14)
    assert figures(live) == expected_stats(inside(calls, start, None), zone)
    assert any("is_test_call=false" in r.query for r in sandbox.requests)


async def test_the_sandbox_spreads_calls_over_past_days_with_finished_calls_on_each(sandbox: Sandbox) -> None:
    calls = await every_call(sandbox, sandbox.agents.live)
    zone = await zone_of(sandbox, sandbox.agents.live)
    days = Counter(moment(c["created_on"]).astimezone(zone).date() for c in calls)
    assert len(days) >= 20, "calls fall on most of the last four weeks"
    today = sandbox.clock.now().astimezone(zone).date()
    assert days[today] > 0 and days[today - timedelta(days=1)] > 0
    # Calls still in progress began minutes ago: a call on an earlier day is over.
    earlier = [c for c in calls if moment(c["created_on"]) < sandbox.clock.now() - timedelta(hours=1)]
    assert {c["status"] for c in earlier} <= FINISHED


async def test_a_window_across_page_boundaries_lists_exactly_the_calls_inside_it(
    client: Client, sandbox: Sandbox
) -> None:
    agent = sandbox.agents.live
    calls = await every_call(sandbox, agent)
    # From just after the 150th newest call: the window spans the API's first and second pages of 100.
    since = moment(calls[149]["created_on"]) + timedelta(milliseconds=1)
    expected = [c["id"] for c in calls[:149]]
    sandbox.requests.clear()
    args = {"since": since.isoformat(), "limit": 60}
    pages = [data(await client.call_tool("list_calls", args | {"page": n})) for n in (1, 2, 3)]
    assert [c["id"] for p in pages for c in p["calls"]] == expected
    assert [p["total_count"] for p in pages] == [149] * 3 and pages[0]["page_count"] == 3
    assert pages[0]["next_page"] == 2 and "next_page" not in pages[2]
    assert pages[0]["coverage"] == {
        "timezone": "Africa/Lagos",
        "since": since.isoformat(timespec="milliseconds")[:-6] + "Z",
    } | {"complete": True}
    listed = [r for r in sandbox.requests if r.path.endswith("/calls")]
    assert len(listed) == 3 * 2, "each list_calls read the two API pages the window covers, and no more"


async def test_several_statuses_and_a_window_answer_how_many_failed_yesterday(client: Client, sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    args = {"since": "6d", "status": ["failed", "busy", "cancelled"], "limit": 100}
    result = await client.call_tool("list_calls", args)
    page = data(result)
    start = sandbox.clock.now() - timedelta(days=6)
    failures = FINISHED - {"ended"}
    expected = [c["id"] for c in inside(await every_call(sandbox, agent), start, None) if c["status"] in failures]
    assert expected and [c["id"] for c in page["calls"]] == expected
    assert page["total_count"] == len(expected)
    assert 'status=["failed","busy","cancelled"]' in text(result), "the filters line spells values as JSON"


async def test_one_status_of_a_window_is_filtered_by_the_api(client: Client, sandbox: Sandbox) -> None:
    page = data(await client.call_tool("list_calls", {"since": "28d", "status": ["failed"], "limit": 100}))
    assert all("status=failed" in r.query for r in sandbox.requests if r.path.endswith("/calls"))
    everything = await every_call(sandbox, sandbox.agents.live, status="failed")
    start = sandbox.clock.now() - timedelta(days=28)
    assert page["calls"] and [c["id"] for c in page["calls"]] == [c["id"] for c in inside(everything, start, None)]


async def test_an_empty_window_says_no_calls_match_and_what_to_try(client: Client) -> None:
    result = await client.call_tool("list_calls", {"since": "2020-01-01", "until": "2020-01-02"})
    page = data(result)
    assert page["calls"] == [] and page["total_count"] == 0 and page["coverage"]["complete"] is True
    shown = text(result)
    assert "page 1/0" not in shown
    assert "none match" in shown and "No calls match" in shown and "since=7d" in shown


async def test_a_page_budget_cut_short_says_how_far_it_got(client: Client, sandbox: Sandbox) -> None:
    calls = await every_call(sandbox, sandbox.agents.live)
    result = await client.call_tool("call_stats", {"max_pages": 1})
    stats = data(result)
    assert stats["coverage"]["complete"] is False
    assert stats["coverage"]["reached"] == calls[99]["created_on"]
    assert stats["total"] == 100 < len(calls)
    assert "INCOMPLETE" in text(result) and calls[99]["created_on"] in text(result)


async def test_list_calls_reads_a_window_within_its_page_budget() -> None:
    big = Sandbox(SandboxConfig(seed=7, calls=2600, speed=0.0))
    settings = Settings(api_key=SecretStr(big.keys.full), base_url=big.origin, agent_id=big.agents.live)
    async with Client(build_server(settings, transport=big.transport(), clock=SandboxTime(big))) as client:
        result = await client.call_tool("list_calls", {"since": "2020-01-01", "limit": 5})
    page = data(result)
    calls = await every_call(big, big.agents.live)
    assert len(calls) > 2000
    assert page["coverage"]["complete"] is False and page["coverage"]["reached"] == calls[1999]["created_on"]
    assert page["total_count"] == 2000 and [c["id"] for c in page["calls"]] == [c["id"] for c in calls[:5]]
    assert "INCOMPLETE" in text(result)


@pytest.mark.parametrize("role", ["paused", "tutoring"])
async def test_days_are_counted_in_the_agents_own_time_zone(client: Client, sandbox: Sandbox, role: str) -> None:
    agent = sandbox.world.role_id(role)
    zone = await zone_of(sandbox, agent)
    stats = data(await client.call_tool("call_stats", {"agent_id": agent, "since": "yesterday", "until": "today"}))
    start, _ = local_day(sandbox, zone, 1)
    _, stop = local_day(sandbox, zone, 0)
    assert moment(stats["coverage"]["since"]) == start and moment(stats["coverage"]["until"]) == stop
    assert stats["coverage"]["timezone"] == str(zone) != "UTC"
    assert list(stats["per_day"]) == [start.date().isoformat(), (stop - timedelta(days=1)).date().isoformat()]
    assert figures(stats) == expected_stats(inside(await every_call(sandbox, agent), start, stop), zone)


async def test_a_date_time_without_an_offset_is_read_in_the_agents_zone_and_one_with_an_offset_as_given(
    client: Client, sandbox: Sandbox
) -> None:
    naive = data(await client.call_tool("list_calls", {"since": "2026-06-30T10:00", "until": "2026-06-30"}))
    given = data(await client.call_tool("list_calls", {"since": "2026-06-30T10:00:00+03:00"}))
    lagos = ZoneInfo("Africa/Lagos")
    assert moment(naive["coverage"]["since"]) == datetime(2026, 6, 30, 10, tzinfo=lagos)
    assert moment(naive["coverage"]["until"]) == datetime(2026, 7, 1, tzinfo=lagos), "a date as until counts whole"
    assert moment(given["coverage"]["since"]) == datetime(2026, 6, 30, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"since": "last tuesday"}, "since: cannot read 'last tuesday'"),
        ({"until": "2026-13-45"}, "until: cannot read"),
        ({"since": "today", "until": "yesterday"}, "the window is empty"),
    ],
)
async def test_an_unreadable_window_is_an_argument_error_listing_the_forms(
    client: Client, args: dict[str, str], needle: str
) -> None:
    info = error(await client.call_tool("call_stats", args))
    assert info["code"] == "invalid_argument" and needle in info["message"]
    assert "today, yesterday" in info["next_step"] or "later than since" in info["next_step"]


async def test_an_agent_without_a_known_time_zone_counts_in_utc() -> None:
    now = datetime(2026, 7, 1, 9, tzinfo=UTC)
    for zone in (None, "Mars/Olympus_Mons"):
        win = window("today", None, now, zone)
        assert win.zone == "UTC" and win.since == datetime(2026, 7, 1, tzinfo=UTC)


async def test_a_failed_page_read_fails_the_window_with_the_apis_error(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, path=r"/calls$", times=1))
    async with Client(make_server(max_retries=0)) as client:
        failed = error(await client.call_tool("call_stats", {}))
    assert failed["code"] == "upstream_unavailable" and failed["retryable"] is True


async def test_pages_read_together_fail_with_the_first_error_itself_not_a_group() -> None:
    async def fetch(page: int) -> WirePage[WireCall]:
        if page == 3:
            raise TransportError("the API did not answer in time", f"req-{page}")
        return WirePage[WireCall](items=[], meta=PageMeta(current_page=page))

    assert [p.meta.current_page for p in await scan_batch(fetch, range(1, 3))] == [1, 2]
    with pytest.raises(TransportError):
        await scan_batch(fetch, range(2, 5))


async def test_unreadable_creation_times_are_left_out_and_counted() -> None:
    page = WirePage[WireCall](
        items=[
            WireCall(id="call_a", status="ended", created_on="2026-06-30T10:00:00Z"),
            WireCall(id="call_b", status="ended", created_on="not a time"),
            WireCall(id="call_c", status="ended", created_on="2026-06-30T11:00:00Z"),
        ],
        meta=PageMeta(total_count=3, page_count=1),
    )
    read = Scan()
    past = scan_take(page, Window(datetime(2026, 6, 30, 10, 30, tzinfo=UTC), None, "UTC"), read, set())
    assert past is True and [c.id for c in read.calls] == ["call_c"] and read.skipped == 1
    assert read.oldest == datetime(2026, 6, 30, 10, tzinfo=UTC) and read.newest == datetime(2026, 6, 30, 11, tzinfo=UTC)


async def test_the_servers_own_clock_tells_the_date_in_utc() -> None:
    assert Clock().wall().tzinfo is UTC
    assert window("24h", "now", Clock().wall(), None).until is not None


async def test_a_key_that_may_not_read_agents_counts_its_windows_in_utc(sandbox: Sandbox) -> None:
    sandbox.add_key("sk_calls_only_00000000000", scopes={"calls:read"})
    settings = Settings(api_key=SecretStr("sk_calls_only_00000000000"), base_url=sandbox.origin)
    server = build_server(settings, transport=sandbox.transport(), clock=SandboxTime(sandbox))
    async with Client(server) as client:
        stats = data(await client.call_tool("call_stats", {"agent_id": sandbox.agents.live, "since": "today"}))
        agent = error(await client.call_tool("get_agent", {"agent_id": sandbox.agents.live}))
    today = datetime.combine(sandbox.clock.now().date(), time(), UTC)
    assert stats["coverage"]["timezone"] == "UTC" and moment(stats["coverage"]["since"]) == today
    assert agent["code"] == "missing_scope"
    assert figures(stats) == expected_stats(
        inside(await every_call(sandbox, sandbox.agents.live), today, None), ZoneInfo("UTC")
    )


async def test_a_window_of_an_unknown_agent_is_not_found(client: Client) -> None:
    info = error(await client.call_tool("list_calls", {"agent_id": "agt_nobody00000", "since": "today"}))
    assert info["code"] == "not_found" and "list_agents" in info["next_step"]


async def test_call_stats_of_an_empty_window_count_zero_on_each_of_its_days(client: Client) -> None:
    result = await client.call_tool("call_stats", {"since": "2020-01-01", "until": "2020-01-02"})
    stats = data(result)
    assert stats["total"] == 0 and stats["per_day"] == {"2020-01-01": 0, "2020-01-02": 0}
    assert "answered_rate" not in stats and "busiest_hour" not in stats and "duration_median" not in stats
    assert ": 0 call(s); window read whole" in text(result) and "busiest hour: none" in text(result)
    assert "durations: none" in text(result) and "-s" not in text(result), "no unit without its number"


async def test_a_long_window_lists_its_days_from_the_first_call_on(client: Client, sandbox: Sandbox) -> None:
    stats = data(await client.call_tool("call_stats", {"since": "2020-01-01"}))
    zone = await zone_of(sandbox, sandbox.agents.live)
    oldest = (await every_call(sandbox, sandbox.agents.live))[-1]
    days = list(stats["per_day"])
    assert days[0] == day_of(oldest, zone) and days[-1] == sandbox.clock.now().astimezone(zone).date().isoformat()
    assert len(days) == (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days + 1, "every day listed"


def day_of(call: dict[str, Any], zone: ZoneInfo) -> str:
    return moment(call["created_on"]).astimezone(zone).date().isoformat()


async def test_a_window_sorted_by_another_field_keeps_every_call_of_the_window(
    client: Client, sandbox: Sandbox
) -> None:
    page = data(await client.call_tool("list_calls", {"since": "3d", "sort": "-duration_seconds", "limit": 100}))
    start = sandbox.clock.now() - timedelta(days=3)
    calls = inside(await every_call(sandbox, sandbox.agents.live), start, None)
    timed = sorted((c for c in calls if c.get("duration_seconds") is not None), key=lambda c: -c["duration_seconds"])
    untimed = [c["id"] for c in calls if c.get("duration_seconds") is None]
    got = [c["id"] for c in page["calls"]]
    assert [c.get("duration_seconds") for c in page["calls"][: len(timed)]] == [c["duration_seconds"] for c in timed]
    assert got[len(timed) :] == untimed and sorted(got) == sorted(c["id"] for c in calls)


async def test_on_the_embedded_sandbox_today_is_the_sandboxs_today_whatever_its_speed() -> None:
    """At a sandbox speed other than 1 the sandbox's clock runs ahead of the real one; windows follow the sandbox."""
    backend = with_sandbox(Settings(sandbox=True, sandbox_speed=20))
    assert backend.transport is not None
    async with httpx2.AsyncClient(transport=backend.transport, base_url=backend.settings.base_url) as http:
        moved = (await http.post("/_sandbox/clock/advance", json={"seconds": 3 * 86400})).json()
    ahead = datetime.fromisoformat(moved["now"].replace("Z", "+00:00"))
    server = build_server(backend.settings, transport=backend.transport, clock=backend.clock)
    async with Client(server) as client:
        stats = data(await client.call_tool("call_stats", {"since": "24h"}))
    since = datetime.fromisoformat(stats["coverage"]["since"])
    assert abs((since - (ahead - timedelta(hours=24))).total_seconds()) < 60
    assert since - datetime.now(UTC) > timedelta(days=1), "counted from the sandbox's time, days ahead of the real one"
