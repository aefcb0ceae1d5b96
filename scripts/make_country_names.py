"""Write bimpe_mcp/policy/country_names.py: the English name of every region libphonenumber knows, from its
geocoder's locale data, so that the server names a number's country without loading the geocoder (about 100 MiB
and a quarter of a second at start-up).

    python scripts/make_country_names.py [--check]

Run it after upgrading phonenumbers; `--check` (and tests/test_call_policy.py) fail when the table is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import geocoder

TARGET = Path(__file__).resolve().parent.parent / "bimpe_mcp" / "policy" / "country_names.py"
HEAD = '''"""The English name of each region libphonenumber knows, by region code: what its geocoder's
`country_name_for_number(number, "en")` answers, without loading the geocoder's data.

Written by scripts/make_country_names.py from phonenumbers' data; do not edit by hand.
"""

COUNTRY_NAMES = {
'''


def table() -> str:
    names = {region: geocoder._region_display_name(region, "en") for region in phonenumbers.SUPPORTED_REGIONS}  # pyright: ignore[reportPrivateUsage]
    rows = "".join(
        f"    {json.dumps(region)}: {json.dumps(name, ensure_ascii=False)},\n"
        for region, name in sorted(names.items())
        if name
    )
    return HEAD + rows + "}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the table of country names from phonenumbers' data.")
    parser.add_argument("--check", action="store_true", help="fail if the committed table differs")
    check = parser.parse_args().check
    if check:
        if TARGET.read_text() != table():
            sys.exit(f"{TARGET} is stale: run python scripts/make_country_names.py")
        return
    TARGET.write_text(table())


if __name__ == "__main__":
    main()
