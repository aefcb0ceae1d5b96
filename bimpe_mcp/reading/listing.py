"""list_calls over a time window, several statuses, or a search of masked calls: the calls the API's pages hold
inside the window, read by scan.py, filtered, sorted and cut into the page asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bimpe_mcp.api.redact import shown_match
from bimpe_mcp.api.wire import WireCall
from bimpe_mcp.core.models import Call, CallList
from bimpe_mcp.reading.scan import scan
from bimpe_mcp.reading.windows import Window

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient


@dataclass(frozen=True)
class WindowQuery:
    agent: str
    page: int
    limit: int
    statuses: Sequence[str] | None
    is_test_call: bool | None
    search: str | None
    sort: str
    applied: dict[str, Any]
    masked: bool = False
    """Numbers are masked: `search` is matched here against the calls as shown, never sent to the API, whose
    matches on the numbers it knows would tell, probe by probe, what the mask hides."""


async def windowed_page(api: BimpeClient, q: WindowQuery, win: Window, max_pages: int) -> CallList:
    # One status is filtered by the API; several are read together and filtered here.
    one = q.statuses[0] if q.statuses and len(q.statuses) == 1 else None
    sent = None if q.masked else q.search
    walk = await scan(api, q.agent, win, max_pages=max_pages, status=one, is_test_call=q.is_test_call, search=sent)
    matched = [c for c in walk.calls if q.statuses is None or c.status in q.statuses]
    if q.masked and q.search is not None:
        matched = [c for c in matched if shown_match(c, q.search)]
    ordered = sort_calls(matched, q.sort)
    start = (q.page - 1) * q.limit
    shown = ordered[start : start + q.limit]
    page_count = -(-len(ordered) // q.limit)
    return CallList(
        agent_id=q.agent,
        calls=[Call.model_validate(c) for c in shown],
        applied_filters=q.applied,
        page=q.page,
        page_count=page_count,
        total_count=len(ordered),
        next_page=q.page + 1 if q.page < page_count else None,
        skipped_records=walk.skipped,
        coverage=walk.coverage(win),
    )


def sort_calls(calls: list[WireCall], sort: str) -> list[WireCall]:
    """Calls in the order `sort` names; calls without the field last. Ties keep the newest-first order."""
    name = sort.removeprefix("-")
    present = [c for c in calls if getattr(c, name) is not None]
    missing = [c for c in calls if getattr(c, name) is None]
    present.sort(key=lambda c: getattr(c, name), reverse=sort.startswith("-"))
    return present + missing
