"""Destinations read with libphonenumber: what a number is, where it is, and the kinds that are never rung."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType, shortnumberinfo, timezone

from bimpe_mcp.policy.country_names import COUNTRY_NAMES

# Kinds of number that cost the caller extra or reach services, never a person to talk to.
REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
}


@dataclass(frozen=True)
class Destination:
    e164: str
    country_code: int
    region: str | None
    display: str = ""
    zones: tuple[str, ...] = ()
    refused_as: str | None = None


def read_number(raw: str) -> Destination:
    """A destination as libphonenumber sees it; `refused_as` names why it may never be rung (invalid, premium_rate,
    shared_cost, emergency)."""
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return Destination(raw, 0, None, raw, refused_as="invalid")
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
    kind = REFUSED_TYPES.get(phonenumbers.number_type(number))
    return _refused(base, kind) if kind else base


def country_name(number: PhoneNumber) -> str:
    """The number's country in English, as libphonenumber's geocoder names it (`country_name_for_number`), read
    from a table of names instead of the geocoder's data: "" when the number could belong to several regions of its
    country code, or to none."""
    regions = phonenumbers.region_codes_for_country_code(number.country_code or 0)
    if len(regions) == 1:
        return COUNTRY_NAMES.get(regions[0], "")
    valid_in = [region for region in regions if phonenumbers.is_valid_number_for_region(number, region)]
    return COUNTRY_NAMES.get(valid_in[0], "") if len(valid_in) == 1 else ""


def _refused(base: Destination, why: str) -> Destination:
    return Destination(base.e164, base.country_code, base.region, base.display, base.zones, why)


def matches(entries: tuple[str, ...], e164: str, country_code: int) -> str | None:
    """The entry that covers a number, if any."""
    for entry in entries:
        if entry == e164 or entry == f"+{country_code}":
            return entry
    return None
