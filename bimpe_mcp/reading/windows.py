"""Time windows for reading calls: `since` and `until` as a model writes them, read in the agent's time zone.

The API has no date filters, so a window is applied by the server while it pages newest first (see scan.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bimpe_mcp.core import render
from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.failures import ToolFailure

FORMS = (
    "an ISO 8601 date or date-time (2026-07-01, 2026-07-01T14:00, ...Z), today, yesterday, now, "
    "or Nh / Nd ago (24h, 7d)"
)
_RELATIVE = re.compile(r"^(\d{1,4})\s*([hd])$")
_SHOWN = 40


@dataclass(frozen=True)
class Window:
    """[since, until): either end may be open. `zone` is the time zone days and hours are counted in."""

    since: datetime | None
    until: datetime | None
    zone: str

    def contains(self, when: datetime) -> bool:
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)

    def before(self, when: datetime) -> bool:
        """Whether `when` is older than the window: a newest-first walk past it can stop."""
        return self.since is not None and when < self.since

    def describe(self) -> dict[str, str]:
        out = {"timezone": self.zone}
        if self.since is not None:
            out["since"] = render.iso(self.since)
        if self.until is not None:
            out["until"] = render.iso(self.until)
        return out


def zone_of(name: str | None) -> tuple[str, tzinfo]:
    """The agent's time zone by its IANA name; UTC when the agent has none or one this machine does not know."""
    if name:
        try:
            return name, ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return "UTC", UTC


def window(since: str | None, until: str | None, now: datetime, zone_name: str | None) -> Window:
    """The window `since`/`until` name, `now` being the server's clock. A day (a date, today, yesterday) covers
    the whole day: as `since` from its first moment, as `until` to its last, so since=until=yesterday is
    yesterday. Unreadable input is an invalid_argument that lists the accepted forms."""
    name, zone = zone_of(zone_name)
    start = _bound("since", since, now, zone, end=False) if since else None
    stop = _bound("until", until, now, zone, end=True) if until else None
    if start is not None and stop is not None and stop <= start:
        raise ToolFailure(
            "invalid_argument",
            f"the window is empty: until ({render.iso(stop)}) is not after since ({render.iso(start)})",
            "Give an until later than since, or omit until to read up to now.",
        )
    return Window(start, stop, name)


def _bound(field: str, text: str, now: datetime, zone: tzinfo, *, end: bool) -> datetime:
    word = text.strip().lower()
    local_today = now.astimezone(zone).date()
    day: date | None = None
    if word == "now":
        return now
    if word == "today":
        day = local_today
    elif word == "yesterday":
        day = local_today - timedelta(days=1)
    elif match := _RELATIVE.fullmatch(word):
        amount, unit = int(match.group(1)), match.group(2)
        return now - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    else:
        day, moment = _iso(text.strip(), zone)
        if moment is not None:
            return moment
    if day is None:
        quoted = shown(text, _SHOWN, cut="...", clean=_quoted)
        raise ToolFailure("invalid_argument", f"{field}: cannot read {quoted} as a time", f"Use {FORMS}.")
    return datetime.combine(day + timedelta(days=1) if end else day, time(), zone)


def _quoted(text: str) -> str:
    """Text quoted as one line, its breaks and invisible characters neutralised."""
    return repr(render.safe_line(text))


def _iso(text: str, zone: tzinfo) -> tuple[date | None, datetime | None]:
    """(a day, None) for a date, (None, the moment) for a date-time; (None, None) when neither."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text), None
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None, None
    return None, moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
