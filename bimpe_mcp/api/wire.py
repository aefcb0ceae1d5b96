"""Wire models: what the API sends, read leniently (an unknown enum value passes through as a string)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _timestamp(value: object) -> object:
    """Timestamps are RFC 3339 strings; a number (Unix seconds) from a drifting server is converted, not refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    return value


Timestamp = Annotated[str | None, BeforeValidator(_timestamp)]


class _Wire(BaseModel):
    # Validators are built when the first answer is read, not while the server starts: tools/list needs none.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class PageMeta(_Wire):
    total_count: int = 0
    page_count: int = 0
    current_page: int = 1
    limit: int = 20
    has_next_page: bool = False
    has_previous_page: bool = False


class WireAttachment(_Wire):
    type: str | None = None
    url: str | None = None


class WireMessage(_Wire):
    role: str | None = None
    message: str | None = None
    created_at: Timestamp = None
    attachments: list[WireAttachment] | None = None


class WireCall(_Wire):
    # In the order tools publish a call's fields: the output model extends this one.
    id: str
    status: str | None = None
    direction: str | None = None
    is_test_call: bool | None = None
    destination: str | None = None
    source: str | None = None
    created_on: Timestamp = None
    ringing_at: Timestamp = None
    ended_at: Timestamp = None
    duration_seconds: float | None = None
    end_reason: str | None = None
    error_reason: str | None = None


class WireCallDetail(WireCall):
    started_at: Timestamp = None
    answered_at: Timestamp = None
    conversation_logs: list[WireMessage] | None = None


class WireChannel(_Wire):
    type: str | None = None
    name: str | None = None
    is_connected: bool | None = None


TELEPHONY_TYPES = frozenset({"telephony", "voice"})


def is_telephony(channel: WireChannel) -> bool:
    """A channel that carries phone calls. Its type is read without regard to case ("Telephony", "VOICE")."""
    return (channel.type or "").lower() in TELEPHONY_TYPES


def live_lines(channels: Iterable[WireChannel]) -> list[WireChannel]:
    """The connected telephony channels an agent dials out over: with none, it cannot place live calls."""
    return [c for c in channels if is_telephony(c) and c.is_connected]


E164_IN_TEXT = re.compile(r"\+[1-9][0-9]{6,14}")


def line_numbers(channels: Iterable[WireChannel]) -> list[str]:
    """The agent's own phone numbers: the E.164 numbers its telephony channels are named with."""
    found = [m.group(0) for c in channels if is_telephony(c) for m in E164_IN_TEXT.finditer(c.name or "")]
    return list(dict.fromkeys(found))


class WireAgent(_Wire):
    # In the order tools publish an agent's fields: the output model extends this one.
    id: str
    name: str | None = None
    status: str | None = None
    description: str | None = None
    language: str | None = None
    timezone: str | None = None
    business_name: str | None = None


class WireAgentDetail(WireAgent):
    channels: list[WireChannel] | None = None


class WireMakeCallResult(_Wire):
    status: str
    call_id: str | None = None
    detail: str | None = None


T = TypeVar("T")


@dataclass
class WirePage(Generic[T]):
    """One page of a list: the items that parsed, and how many records were skipped as unreadable (built from
    already-validated parts, so a plain dataclass: a generic model would build a class on every page)."""

    items: list[T]
    meta: PageMeta
    skipped: int = 0
