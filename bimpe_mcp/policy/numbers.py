"""Destinations read with libphonenumber: a number as people write it, what it is, where it is, and the kinds that
are never rung. A national form (no country code) is never dialled on a guess of its country: it is answered with
the international form it has in the agent's country, to send if that is the number meant."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from bimpe_mcp.policy.country_names import COUNTRY_NAMES

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

# libphonenumber is imported where a number is first read, never at start-up, which it would slow by a tenth.


@dataclass(frozen=True)
class Destination:
    e164: str
    country_code: int
    region: str | None
    display: str = ""
    zones: tuple[str, ...] = ()
    refused_as: str | None = None
    # A national form's international form in the agent's country, shown as `display` ("" when there is none).
    suggested: str = ""


# What people put between digits: spaces, dashes, dots and parentheses.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.()]+")
_WRITTEN = re.compile(r"\+?[0-9]+")
# At most this many digits without a country code is a short number (112, 911, 999, 000, a short code), never
# a national number a person is reached on.
SHORT_DIGITS = 6


def written(raw: str) -> str:
    """A number as people write it, read as one string: separators dropped and a leading 00 read as + (unless the
    number is short: 000 is an emergency number). The result is "" when anything but digits and one leading + remains.
    """
    compact = _SEPARATORS.sub("", raw.strip())
    if compact.startswith("00") and compact[2:3] != "0" and len(compact) > SHORT_DIGITS:
        compact = "+" + compact[2:]
    return compact if _WRITTEN.fullmatch(compact) else ""


def is_national(raw: str) -> bool:
    """Written without its country code, and long enough to be a national number rather than a short one."""
    compact = written(raw)
    return compact != "" and not compact.startswith("+") and len(compact) > SHORT_DIGITS


def read_number(raw: str, home: str | None = None) -> Destination:
    """A destination as libphonenumber sees it; `refused_as` names why it may never be rung (invalid, premium_rate,
    shared_cost, emergency) or why it is not rung as written (national: no country code; `suggested` holds its form
    in `home`, the agent's country, when it can be one there)."""
    import phonenumbers
    from phonenumbers import shortnumberinfo, timezone

    compact = written(raw)
    if not compact.startswith("+"):
        return _unplaced(compact, home)
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        return Destination(compact, 0, None, compact, refused_as="invalid")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    region = phonenumbers.region_code_for_number(number)
    national = phonenumbers.national_significant_number(number)
    country = country_name(number)
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    display = f"{shown} ({country})" if country else shown
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != timezone.UNKNOWN_TIMEZONE)
    base = Destination(e164, number.country_code or 0, region, display, zones)
    # An invalid number has no region of its own: its country code's main region decides what is an emergency number.
    home = region or phonenumbers.region_code_for_country_code(number.country_code or 0)
    if shortnumberinfo.connects_to_emergency_number(national, home):
        return _refused(base, "emergency")
    if not phonenumbers.is_valid_number(number):
        return _refused(base, "invalid")
    kind = _costly_kind(number)
    return _refused(base, kind) if kind else base


def _costly_kind(number: PhoneNumber) -> str | None:
    """The kind of a number that costs the caller extra or reaches a service, never a person to talk to."""
    from phonenumbers import PhoneNumberType, number_type

    kinds = {PhoneNumberType.PREMIUM_RATE: "premium_rate", PhoneNumberType.SHARED_COST: "shared_cost"}
    return kinds.get(number_type(number))


def country_name(number: PhoneNumber) -> str:
    """The number's country in English, as libphonenumber's geocoder names it (`country_name_for_number`), read
    from a table of names instead of the geocoder's data: "" when the number could belong to several regions of its
    country code, or to none."""
    import phonenumbers

    regions = phonenumbers.region_codes_for_country_code(number.country_code or 0)
    if len(regions) == 1:
        return COUNTRY_NAMES.get(regions[0], "")
    valid_in = [region for region in regions if phonenumbers.is_valid_number_for_region(number, region)]
    return COUNTRY_NAMES.get(valid_in[0], "") if len(valid_in) == 1 else ""


def _refused(base: Destination, why: str) -> Destination:
    return Destination(base.e164, base.country_code, base.region, base.display, base.zones, why)


def _unplaced(compact: str, home: str | None) -> Destination:
    """A number without its country code: a short number (an emergency number, a short code), a national form, or
    nothing a number is written as."""
    import phonenumbers

    if not compact:
        return Destination("", 0, None, "", refused_as="invalid")
    if len(compact) <= SHORT_DIGITS:
        return Destination(compact, 0, None, compact, refused_as="emergency")
    national = Destination(compact, 0, None, compact, refused_as="national")
    if home is None:
        return national
    try:
        number = phonenumbers.parse(compact, home)
    except phonenumbers.NumberParseException:
        return national
    if not phonenumbers.is_possible_number(number):
        return national
    shown = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    country = COUNTRY_NAMES.get(home, home)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Destination(compact, 0, home, f"{shown} ({country})", refused_as="national", suggested=e164)


def home_region(line_numbers: list[str], time_zone: str | None) -> str | None:
    """The agent's country: where its own phone numbers are (when they are all in one), else where its time zone
    is; None when neither says."""
    import phonenumbers

    regions = {phonenumbers.region_code_for_number(phonenumbers.parse(n, None)) for n in line_numbers}
    regions.discard(None)
    if regions:
        return regions.pop() if len(regions) == 1 else None
    return _zone_countries().get(time_zone or "")


@cache
def _zone_countries() -> dict[str, str]:
    """Each time zone's country, from the time zone database's zone.tab (a zone there belongs to one country)."""
    for root in zoneinfo.TZPATH:
        table = Path(root) / "zone.tab"
        if table.is_file():
            lines = table.read_text(encoding="utf-8").splitlines()
            return {
                f[2]: f[0] for f in (line.split("\t") for line in lines) if len(f) >= 3 and not f[0].startswith("#")
            }
    return {}


def matches(entries: tuple[str, ...], e164: str, country_code: int) -> str | None:
    """The entry that covers a number, if any."""
    for entry in entries:
        if entry == e164 or entry == f"+{country_code}":
            return entry
    return None
