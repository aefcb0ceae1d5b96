"""Seeded data is deterministic and scales; the clock; the settings' own checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bimpe_mcp.sandbox import API_PREFIX, Sandbox, SandboxClock, SandboxConfig
from tests.sandbox_support import api, calls_path, items, meta, obj


@pytest.mark.anyio
async def test_the_same_seed_gives_the_same_data_and_another_seed_different_data() -> None:
    one, same, other = (Sandbox(SandboxConfig(seed=s, speed=0.0)) for s in (7, 7, 8))
    pages: list[tuple[object, list[dict[str, Any]], dict[str, Any]]] = []
    for sb in (one, same, other):
        async with api(sb) as client:
            page = items(await client.get(calls_path(sb.agents.live), params={"limit": 50}))
            detail = obj(await client.get(calls_path(sb.agents.live, page[-1]["id"])))
        pages.append((sb.agents, page, detail))
    assert pages[0] == pages[1]
    assert pages[0][0] != pages[2][0]
    assert [c["destination"] for c in pages[0][1]] != [c["destination"] for c in pages[2][1]]


@pytest.mark.anyio
async def test_the_call_count_is_a_setting_and_small_stores_still_have_every_agent() -> None:
    small = Sandbox(SandboxConfig(speed=0.0, calls=60))
    empty = Sandbox(SandboxConfig(speed=0.0, calls=0))
    async with api(small) as client:
        live = meta(await client.get(calls_path(small.agents.live)))["total_count"]
        paused = meta(await client.get(calls_path(small.agents.paused)))["total_count"]
        no_channel = meta(await client.get(calls_path(small.agents.no_channel)))["total_count"]
    async with api(empty) as client:
        nothing = await client.get(calls_path(empty.agents.live))
        placed = await client.post(
            calls_path(empty.agents.live), json={"destination": "+14155550100", "is_test_call": True}
        )
        found = await client.get(calls_path(empty.agents.live, obj(placed)["call_id"]))
    assert (live, paused, no_channel) == (51, 4, 2)
    assert items(nothing) == []
    assert meta(nothing)["page_count"] == 0
    assert found.status_code == 200


@pytest.mark.anyio
async def test_a_large_store_serves_deep_pages_filters_and_placed_calls() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, calls=20_060))
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        first = await client.get(calls_path(agent), params={"limit": 100})
        deep = await client.get(calls_path(agent), params={"limit": 100, "page": 150})
        failed = await client.get(calls_path(agent), params={"status": "failed", "sort": "-ended_at", "limit": 100})
        placed = obj(await client.post(calls_path(agent), json={"destination": "+14155550100", "is_test_call": True}))
        after = await client.get(calls_path(agent), params={"limit": 1})
        found = await client.get(calls_path(agent, items(deep)[-1]["id"]))
    assert meta(first)["total_count"] == 20_000
    assert len(items(deep)) == 100
    assert items(deep)[0]["created_on"] < items(first)[-1]["created_on"]
    assert {c["status"] for c in items(failed)} == {"failed"}
    assert meta(failed)["total_count"] > 1000
    assert items(after)[0]["id"] == placed["call_id"]
    assert meta(after)["total_count"] == 20_001
    assert found.status_code == 200


def test_building_a_sandbox_does_not_build_the_call_store() -> None:
    sandbox = Sandbox(SandboxConfig(calls=100_000))
    assert sandbox.world.total_calls == 100_000
    assert sandbox.world._seeded is None  # pyright: ignore[reportPrivateUsage]


def test_the_clock_scales_real_time_and_moves_by_hand() -> None:
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    frozen = SandboxClock(start, speed=0.0)
    running = SandboxClock(start, speed=1000.0)
    assert frozen.now() == start
    frozen.advance(1.5)
    assert frozen.now() == datetime(2026, 1, 2, 3, 4, 6, 500000, tzinfo=UTC)
    assert frozen.now().tzinfo is UTC
    assert running.now() >= start
    assert running.speed == 1000.0
    with pytest.raises(ValueError, match="forward"):
        frozen.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        frozen.advance(float("inf"))


def test_the_default_clock_starts_at_a_fixed_recent_instant(sandbox: Sandbox) -> None:
    assert sandbox.clock.now() == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert sandbox.origin + API_PREFIX == "http://sandbox.bimpe.local/api/v1/console"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"calls": -1},
        {"speed": -1.0},
        {"start": datetime(2026, 1, 1)},
        {"rate_limit": 0},
        {"rate_window_seconds": 0},
        {"test_call_capacity": -1},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SandboxConfig(**kwargs)  # pyright: ignore[reportArgumentType]
