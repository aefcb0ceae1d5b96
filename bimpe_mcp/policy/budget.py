"""Call budgets per hour and per day, on the server's clock: the limits of a kind as the store counts them, and when
a window whose limit is reached lets a call through again."""

from __future__ import annotations

from datetime import datetime

WINDOWS = {"hour": 3_600.0, "day": 86_400.0}


def limits(per_hour: int | None, per_day: int | None) -> tuple[tuple[str, float, int], ...]:
    """(window, seconds, limit) of each window that has a limit."""
    given = (("hour", per_hour), ("day", per_day))
    return tuple((name, WINDOWS[name], limit) for name, limit in given if limit is not None)


def reached(
    times: list[float], now: datetime, budget: tuple[tuple[str, float, int], ...]
) -> tuple[str, datetime | None] | None:
    """The window whose limit the dials at `times` (epoch seconds) reach at `now`, and when a dial is possible again
    (None: never, a limit of 0)."""
    at = now.timestamp()
    for name, span, limit in budget:
        inside = sorted(t for t in times if at - t < span)
        if len(inside) >= limit:
            return name, (datetime.fromtimestamp(inside[-limit] + span, now.tzinfo) if limit else None)
    return None
