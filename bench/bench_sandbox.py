"""Sandbox benchmark: a page of 100 calls out of 100,000 against a page out of 300, side by side in one run.

- page cost ratio: median time of a limit=100 page from the 100,000-call agent over the 300-call agent,
  requests interleaved, through the in-process transport (goal <= 1.5)
- memory of the 100,000-call store: tracemalloc of building it, and the RSS delta (goal < 150 MB)

Run: python bench/bench_sandbox.py [--requests N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import tracemalloc
from pathlib import Path

import anyio
import httpx2

from bimpe_mcp.sandbox import API_PREFIX, Sandbox, SandboxConfig

SMALL_CALLS = 360  # the live agent gets 300 of them
LARGE_CALLS = 100_060  # the live agent gets 100,000 of them


def rss_bytes() -> int:
    statm = Path("/proc/self/statm")
    if not statm.exists():  # pragma: no cover - not Linux
        return 0
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_store(calls: int) -> tuple[Sandbox, float, int, int]:
    """A sandbox with its call store built; returns (sandbox, seconds, traced bytes, RSS delta)."""
    rss_before = rss_bytes()
    sandbox = Sandbox(SandboxConfig(calls=calls, speed=0.0, rate_limit=10**9))
    started = time.perf_counter()
    _ = sandbox.world.seeded
    seconds = time.perf_counter() - started
    rss_after = rss_bytes()
    tracemalloc.start()
    traced = Sandbox(SandboxConfig(calls=calls, speed=0.0))
    _ = traced.world.seeded
    traced_bytes, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    return sandbox, seconds, traced_bytes, rss_after - rss_before


async def time_pages(
    small: Sandbox, large: Sandbox, requests: int, params: dict[str, str]
) -> tuple[float, float, int, int]:
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {small.keys.full}"}
    async with (
        httpx2.AsyncClient(transport=small.transport(), base_url=small.origin + API_PREFIX, headers=headers) as a,
        httpx2.AsyncClient(transport=large.transport(), base_url=large.origin + API_PREFIX, headers=headers) as b,
    ):
        small_path = f"/agents/{small.agents.live}/calls"
        large_path = f"/agents/{large.agents.live}/calls"
        first_small = (await a.get(small_path, params={**params, "limit": 100})).json()["meta"]
        first_large = (await b.get(large_path, params={**params, "limit": 100})).json()["meta"]
        small_times: list[float] = []
        large_times: list[float] = []
        for i in range(requests):
            small_page = rng.randint(1, max(1, first_small["page_count"]))
            large_page = rng.randint(1, max(1, first_large["page_count"]))
            for client, path, page, times in (
                (a, small_path, small_page, small_times),
                (b, large_path, large_page, large_times),
            )[:: 1 if i % 2 == 0 else -1]:
                started = time.perf_counter()
                response = await client.get(path, params={**params, "page": page, "limit": 100})
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
                assert response.json()["data"]
    return (
        statistics.median(small_times),
        statistics.median(large_times),
        first_small["total_count"],
        first_large["total_count"],
    )


async def main(requests: int) -> None:
    small, small_build, _small_traced, _ = build_store(SMALL_CALLS)
    large, large_build, large_traced, large_rss = build_store(LARGE_CALLS)
    print(
        f"store build: {small_build * 1000:.1f} ms for {SMALL_CALLS:,} calls, {large_build:.2f} s for {LARGE_CALLS:,}"
    )
    traced_mb, rss_mb = large_traced / 1e6, large_rss / 1e6
    print(f"memory of the {LARGE_CALLS:,}-call store: {traced_mb:.1f} MB traced, {rss_mb:.1f} MB RSS delta")
    print(f"  goal < 150 MB: {'met' if max(large_traced, large_rss) < 150e6 else 'NOT met'}")
    cases: list[tuple[str, dict[str, str]]] = [
        ("default order (-created_on)", {}),
        ("status=ended", {"status": "ended"}),
        ("sort=-duration_seconds", {"sort": "-duration_seconds"}),
        ("is_test_call=false, sort=ended_at", {"is_test_call": "false", "sort": "ended_at"}),
    ]
    for label, params in cases:
        small_s, large_s, small_total, large_total = await time_pages(small, large, requests, params)
        ratio = large_s / small_s
        goal = "  (goal <= 1.5: " + ("met" if ratio <= 1.5 else "NOT met") + ")" if not params else ""
        print(
            f"page of 100, {label}: {small_s * 1000:.3f} ms of {small_total:,}"
            f" vs {large_s * 1000:.3f} ms of {large_total:,}"
            f" -> ratio {ratio:.2f}{goal}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="page requests per store and case")
    args = parser.parse_args()
    anyio.run(main, args.requests)
