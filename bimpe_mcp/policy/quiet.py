"""Quiet hours, in the destination's local time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _inside(at: time, start: time, end: time) -> bool:
    return start <= at < end if start < end else at >= start or at < end


def quiet_until(window: tuple[time, time], zones: tuple[str, ...], now: datetime) -> datetime | None:
    """When the quiet hours end, if it is within them now in any of the number's time zones (UTC when unknown)."""
    start, end = window
    ends: list[datetime] = []
    for name in zones or ("UTC",):
        local = now.astimezone(ZoneInfo(name))
        if _inside(local.time(), start, end):
            until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
            if until <= local:
                until += timedelta(days=1)
            ends.append(until.astimezone(UTC))
    return max(ends) if ends else None
