"""Wire models (lenient: an unknown enum value passes through as a string) and the small output models tools return."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

CallStatus = Literal["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]


# --- wire (what the API sends) ---------------------------------------------------------------------------------


def _timestamp(value: object) -> object:
    """Timestamps are RFC 3339 strings; a number (Unix seconds) from a drifting server is converted, not refused."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    return value


Timestamp = Annotated[str | None, BeforeValidator(_timestamp)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


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
    id: str | None = None
    role: str | None = None
    message: str | None = None
    message_type: str | None = None
    created_at: Timestamp = None
    attachments: list[WireAttachment] | None = None


class WireCall(_Wire):
    id: str
    source: str | None = None
    destination: str | None = None
    status: str | None = None
    direction: str | None = None
    created_on: Timestamp = None
    duration_seconds: float | None = None
    is_test_call: bool | None = None
    error_reason: str | None = None
    end_reason: str | None = None
    ringing_at: Timestamp = None
    ended_at: Timestamp = None


class WireCallDetail(WireCall):
    started_at: Timestamp = None
    answered_at: Timestamp = None
    conversation_logs: list[WireMessage] | None = None


class WireChannel(_Wire):
    id: str | None = None
    type: str | None = None
    name: str | None = None
    status: str | None = None
    is_connected: bool | None = None


class WireAgent(_Wire):
    id: str
    name: str | None = None
    description: str | None = None
    status: str | None = None
    language: str | None = None
    timezone: str | None = None
    business_name: str | None = None
    created_at: Timestamp = None


class WireMakeCallResult(_Wire):
    status: str
    call_id: str | None = None
    detail: str | None = None


T = TypeVar("T")


class WirePage(BaseModel, Generic[T]):
    """One page of a list: the items that parsed, and how many records were skipped as unreadable."""

    items: list[T]
    meta: PageMeta
    skipped: int = 0


# --- output (what tools return) ---------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Paged(_Out):
    page: int
    page_count: int
    total_count: int
    next_page: int | None = None


class Call(_Out):
    id: str
    status: str
    direction: str | None = None
    is_test_call: bool | None = None
    destination: str | None = None
    source: str | None = None
    created_on: str | None = None
    ringing_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    end_reason: str | None = None
    error_reason: str | None = None


class CallPage(Paged):
    agent_id: str
    calls: list[Call]
    applied_filters: dict[str, Any]
    skipped_records: int = Field(0, description="Unreadable records left out")


class Turn(_Out):
    offset: str | None = Field(None, description="m:ss since the call started")
    speaker: str
    text: str | None = None
    attachments: list[str] | None = None


class TranscriptPart(_Out):
    total_turns: int
    turns: list[Turn]
    truncated: bool
    next_cursor: str | None = Field(None, description="get_transcript cursor for the rest")


class Transcript(TranscriptPart):
    call_id: str
    agent_id: str
    start_turn: int
    end_turn: int = Field(description="Exclusive")
    resource_uri: str


class CallWait(Call):
    finished: bool
    waited_seconds: float


class CallDetail(Call):
    started_at: str | None = None
    answered_at: str | None = None
    transcript: TranscriptPart


class Agent(_Out):
    id: str
    name: str | None = None
    status: str | None = None
    description: str | None = None
    language: str | None = None
    timezone: str | None = None
    business_name: str | None = None


class AgentPage(Paged):
    agents: list[Agent]
    default_agent_id: str | None = None


class PlacedCall(_Out):
    status: str = Field(description="initiated, busy or failed")
    call_id: str | None = None
    detail: str | None = None
    agent_id: str
    destination: str
    is_test_call: bool
    idempotency_key: str
    next_step: str
