"""Settings whose values need parsing (destination lists, quiet hours, request rates), so that a bad value fails at
start-up."""

from __future__ import annotations

import re
from datetime import time

from bimpe_mcp.core.echo import shown

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_CODE = re.compile(r"^\+\d{1,3}$")
ENTRY_CHARS = 24


def destination_entry(entry: str) -> str:
    """One list entry: a country calling code (`+234`) as given, or a number in its E.164 form."""
    import phonenumbers  # where a list is set: start-up without one never loads it

    if _CODE.match(entry) and phonenumbers.region_code_for_country_code(int(entry[1:])) != "ZZ":
        return entry
    try:
        number = phonenumbers.parse(entry, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not entry.startswith("+") or not phonenumbers.is_valid_number(number):
        named = shown(entry, ENTRY_CHARS, noun="an entry")
        raise ValueError(f"{named} is neither a valid E.164 number (+14155550100) nor a country calling code (+234)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def destination_list(raw: str) -> tuple[str, ...]:
    """A comma-separated list of E.164 numbers and country calling codes."""
    entries = tuple(destination_entry(part.strip()) for part in raw.split(",") if part.strip())
    if not entries:
        raise ValueError("lists no number or country code (leave it unset for no list)")
    return entries


def quiet_window(raw: str) -> tuple[time, time]:
    """`21:00-08:00`: the start and end of the quiet hours (the window may cross midnight)."""
    found = _WINDOW.match(raw)
    if found is None:
        raise ValueError("must be HH:MM-HH:MM in 24-hour time, e.g. 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError("has a time that does not exist: hours run 00 to 23, minutes 00 to 59")
    start, end = time(h1, m1), time(h2, m2)
    if start == end:
        raise ValueError("starts and ends at the same time: give a window such as 21:00-08:00")
    return start, end


_RATE = re.compile(r"^\s*(\d{1,7})\s*/\s*([a-z]+)\s*$", re.IGNORECASE)
RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}


def request_rate(raw: str) -> tuple[int, float]:
    """`120/min`: how many requests, and in how many seconds (`/s`, `/min` or `/hour`)."""
    found = _RATE.match(raw)
    span = RATE_UNITS.get(found.group(2).lower()) if found else None
    if found is None or span is None:
        raise ValueError("must be N/s, N/min or N/hour, e.g. 120/min")
    count = int(found.group(1))
    if count < 1:
        raise ValueError("allows no request at all: give at least 1 (leave it unset for no limit)")
    return count, span
