"""Facts of the API contract that callers check before sending anything."""

from __future__ import annotations

import re

from bimpe_mcp.api.errors import InvalidIdError

API_PREFIX = "/api/v1/console"

# Agent and call ids: the contract gives 50 characters at most; the character set keeps ids safe in a URL path.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"
ID_RE = re.compile(ID_PATTERN)

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"

# A call in one of these statuses is over: it changes no more.
TERMINAL = frozenset({"ended", "busy", "failed", "cancelled"})


def check_id(field: str, value: str) -> str:
    if not ID_RE.fullmatch(value):
        raise InvalidIdError(field)
    return value
