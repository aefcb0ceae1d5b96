"""The records the API serves: agents, phone numbers and calls, with the call statuses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .clock import iso_ms
from .data import AgentSeed


class CallStatus:
    """Call status codes, indexes into `STATUSES`. Plain ints rather than an enum: seeded calls keep them in
    an array, and comparing them is on the path of every call read."""

    QUEUED = 0
    RINGING = 1
    ANSWERED = 2
    ENDED = 3
    BUSY = 4
    FAILED = 5
    CANCELLED = 6


STATUSES: tuple[str, ...] = ("queued", "ringing", "answered", "ended", "busy", "failed", "cancelled")
STATUS_CODE: dict[str, int] = {name: code for code, name in enumerate(STATUSES)}
TERMINAL = frozenset({CallStatus.ENDED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.CANCELLED})
# Alphabetical rank of each status code, for sort=status.
STATUS_RANK: dict[int, int] = {code: rank for rank, code in enumerate(sorted(range(7), key=lambda c: STATUSES[c]))}

# The digits of every generated id.
B36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class CallRow(NamedTuple):
    """Every field of one call at a given instant (seeded or placed)."""

    ordinal: int
    agent_index: int
    source: str | None
    destination: str
    status: int
    inbound: bool
    is_test: bool
    created_ms: int
    ringing_ms: int | None
    answered_ms: int | None
    ended_ms: int | None
    duration: int | None
    end_reason: str | None
    error_reason: str | None
    turns: int
    # The conversation's script (conversations.SCENARIOS), for a call that reached one.
    scenario: int = 0


@dataclass
class AgentRecord:
    index: int
    id: str
    seed: AgentSeed
    team: str
    created_ms: int
    updated_ms: int
    status: str
    status_reason: str | None
    channel_ids: tuple[str, ...]
    kb_ids: tuple[str, ...]
    integration_ids: tuple[str, ...]
    test_channel_code: str
    workflow_id: str
    home_number: str | None = None

    @property
    def first_name(self) -> str:
        return self.seed.name.split(" - ")[0]

    def to_json(self) -> dict[str, Any]:
        s = self.seed
        return {
            "id": self.id,
            "name": s.name,
            "description": s.description,
            "language": s.language,
            "persona": s.persona,
            "workflow_id": self.workflow_id,
            "timezone": s.timezone,
            "logo": s.logo,
            "business_name": s.business_name,
            "business_address": s.business_address,
            "business_email": s.business_email,
            "business_description": s.business_description,
            "test_channel_code": self.test_channel_code,
            "status": self.status,
            "status_reason": self.status_reason,
            "escalation_email": s.escalation_email,
            "created_at": iso_ms(self.created_ms),
            "updated_at": iso_ms(self.updated_ms),
        }


@dataclass
class PhoneNumber:
    id: str
    e164: str
    label: str | None
    agent_id: str | None
    team: str
    inbound_enabled: bool
    created_ms: int
    updated_ms: int

    def to_json(self, detail: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "agent_id": self.agent_id, "label": self.label, "e164": self.e164}
        if detail:
            out.update(
                created_at=iso_ms(self.created_ms),
                updated_at=iso_ms(self.updated_ms),
                inbound_enabled=self.inbound_enabled,
            )
        return out
