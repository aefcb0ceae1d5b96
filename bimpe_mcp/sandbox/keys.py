"""Demo API keys, their teams and scopes."""

from __future__ import annotations

from dataclasses import dataclass

from .data import TEAM_MAIN, TEAM_OTHER

ALL_SCOPES: frozenset[str] = frozenset(
    {
        "agents:read",
        "calls:read",
        "calls:write",
        "phone_numbers:read",
        "phone_numbers:write",
        "conversations:read",
    }
)
READ_SCOPES: frozenset[str] = frozenset(s for s in ALL_SCOPES if s.endswith(":read"))

FULL_KEY = "sk_sandbox_full_4f7c1a9e2b"
READ_ONLY_KEY = "sk_sandbox_read_only_9b2e6d0c"
EXPIRED_KEY = "sk_sandbox_expired_51d0c3a8"
OTHER_TEAM_KEY = "sk_sandbox_other_team_c8a4f2d6"


@dataclass(frozen=True)
class ApiKey:
    key: str
    role: str
    team: str
    scopes: frozenset[str]
    expired: bool = False


@dataclass(frozen=True)
class SandboxKeys:
    """The public demo keys every sandbox accepts (constant, whatever the seed)."""

    full: str = FULL_KEY
    read_only: str = READ_ONLY_KEY
    expired: str = EXPIRED_KEY
    other_team: str = OTHER_TEAM_KEY


def default_keys() -> dict[str, ApiKey]:
    keys = (
        ApiKey(FULL_KEY, "full", TEAM_MAIN, ALL_SCOPES),
        ApiKey(READ_ONLY_KEY, "read_only", TEAM_MAIN, READ_SCOPES),
        ApiKey(EXPIRED_KEY, "expired", TEAM_MAIN, ALL_SCOPES, expired=True),
        ApiKey(OTHER_TEAM_KEY, "other_team", TEAM_OTHER, ALL_SCOPES),
    )
    return {k.key: k for k in keys}
