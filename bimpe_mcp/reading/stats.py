"""Statistics of a window of calls: the arithmetic of call_stats, over calls already read (see scan.py)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta, tzinfo

from bimpe_mcp.api.contract import TERMINAL
from bimpe_mcp.api.wire import WireCall
from bimpe_mcp.core import render

# Calls that are over, which is when an end reason is due.
OVER = TERMINAL
# A longer window lists its days from the first call on, so that per_day stays short.
MAX_FILLED_DAYS = 62


def tally(values: Sequence[str | None]) -> dict[str, int]:
    """Counts by value, largest first (ties by name); a missing value counts as "none"."""
    counts = Counter(v or "none" for v in values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def median(values: Sequence[float]) -> float:
    """The median, as the standard library's `statistics` computes it (imported here: start-up never needs it)."""
    import statistics

    return statistics.median(values)


def p90(values: Sequence[float]) -> float | None:
    """The 90th percentile of sorted values, by nearest rank."""
    return values[math.ceil(0.9 * len(values)) - 1] if values else None


def by_day_and_hour(
    calls: Sequence[WireCall], zone: tzinfo, first: date | None, last: date
) -> tuple[dict[str, int], int | None, int]:
    """Calls per local day, oldest first, every day from `first` (else the first call's day) to `last` listed, a
    day without calls as 0; and the local hour with the most calls (the earliest of a tie)."""
    days: Counter[date] = Counter()
    hours: Counter[int] = Counter()
    # The scan leaves out a call without a readable created_on, so every time here is one.
    times = [t for t in (render.parse_time(c.created_on) for c in calls) if t]
    for when in times:
        local = when.astimezone(zone)
        days[local.date()] += 1
        hours[local.hour] += 1
    start = first if first is not None and (last - first).days <= MAX_FILLED_DAYS else min(days, default=None)
    end = max([last, *days])
    every = [start + timedelta(days=n) for n in range((end - start).days + 1)] if start else []
    hour = min(hours, key=lambda h: (-hours[h], h), default=None)
    return {d.isoformat(): days[d] for d in every}, hour, hours[hour] if hour is not None else 0


def answered_rate(calls: Sequence[WireCall]) -> tuple[int, int, float | None]:
    """(finished calls, those answered, the answered rate among them). A finished call was answered when it ended
    (an unanswered one ends busy, failed or cancelled); a call still in flight counts in neither."""
    finished = [c for c in calls if c.status in OVER]
    answered = sum(1 for c in finished if c.status == "ended")
    return len(finished), answered, round(answered / len(finished), 3) if finished else None
