"""Reading a window of an agent's calls: pages of the call log newest first, a few at a time, until the window's
start, the end of the log, or the page budget. The API has no date filter, so this is how windows are answered."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bimpe_mcp.api.errors import ApiError
from bimpe_mcp.api.wire import WireCall, WirePage
from bimpe_mcp.core import render
from bimpe_mcp.core.models import Coverage
from bimpe_mcp.reading.pages import CONCURRENCY, walk_pages
from bimpe_mcp.reading.windows import Window, window

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient

PAGE_SIZE = 100
NEWEST_FIRST = "-created_on"
FORBIDDEN = 403


@dataclass
class Scan:
    """The calls read inside the window (newest first, each once) and how far the walk got."""

    calls: list[WireCall] = field(default_factory=list[WireCall])
    complete: bool = False
    oldest: datetime | None = None
    newest: datetime | None = None
    pages_read: int = 0
    skipped: int = 0

    def coverage(self, win: Window) -> Coverage:
        return Coverage(
            **win.describe(),
            complete=self.complete,
            reached=None if self.complete or self.oldest is None else render.iso(self.oldest),
        )


async def scan(
    api: BimpeClient,
    agent: str,
    win: Window,
    *,
    max_pages: int,
    status: str | None = None,
    is_test_call: bool | None = None,
    search: str | None = None,
) -> Scan:
    """Every call of `agent` in `win` (with the API's own status and test filters), within `max_pages` pages."""

    async def fetch(page: int) -> WirePage[WireCall]:
        return await api.list_calls(
            agent,
            page=page,
            limit=PAGE_SIZE,
            sort=NEWEST_FIRST,
            status=status,
            is_test_call=is_test_call,
            search=search,
        )

    result = Scan()
    seen: set[str] = set()

    def take(pages: list[WirePage[WireCall]]) -> int:
        result.pages_read += len(pages)
        done = False
        for page in pages:
            result.skipped += page.skipped
            done = _take(page, win, result, seen) or done or not page.meta.has_next_page
        result.complete = done
        return 0 if done else _width(result, win)

    await walk_pages(fetch, take, max_pages=max_pages)
    return result


def _width(read: Scan, win: Window) -> int:
    """How many pages to fetch together after the first: with a start to reach, as many as the pages read so far
    say it is away (at most CONCURRENCY), so that a walk seldom reads a page past the window."""
    if win.since is None or read.oldest is None or read.newest is None:
        return CONCURRENCY
    per_page = (read.newest - read.oldest) / read.pages_read
    ahead = (read.oldest - win.since) / per_page if per_page else CONCURRENCY
    return max(1, min(CONCURRENCY, math.ceil(ahead)))


def _take(page: WirePage[WireCall], win: Window, result: Scan, seen: set[str]) -> bool:
    """Add a page's calls inside the window; True when the page reaches back past the window's start."""
    past = False
    for call in page.items:
        when = render.parse_time(call.created_on)
        if when is None:
            result.skipped += 1
            continue
        if result.oldest is None or when < result.oldest:
            result.oldest = when
        if result.newest is None or when > result.newest:
            result.newest = when
        past = past or win.before(when)
        if win.contains(when) and call.id not in seen:
            seen.add(call.id)
            result.calls.append(call)
    return past


async def agent_window(api: BimpeClient, agent: str, since: str | None, until: str | None, now: datetime) -> Window:
    """The window `since`/`until` name, in the agent's own time zone (UTC when the key may not read agents)."""
    try:
        zone = (await api.get_agent(agent)).timezone
    except ApiError as exc:
        if exc.status != FORBIDDEN:
            raise
        zone = None
    return window(since, until, now, zone)
