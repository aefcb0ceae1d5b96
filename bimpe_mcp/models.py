"""Wire models (lenient: an unknown enum value passes through as a string) and the small output models tools return."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

CALL_STATUSES = ("queued", "ringing", "answered", "ended", "busy", "failed", "cancelled")
CallStatus = Literal["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]
CALL_SORT_FIELDS = ("created_on", "ended_at", "duration_seconds", "status")
CallSort = Literal[
    "created_on",
    "-created_on",
    "ended_at",
    "-ended_at",
    "duration_seconds",
    "-duration_seconds",
    "status",
    "-status",
]


# --- wire (what the API sends) ---------------------------------------------------------------------------------


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
    created_at: str | None = None
    attachments: list[WireAttachment] | None = None


class WireCall(_Wire):
    id: str
    source: str | None = None
    destination: str | None = None
    status: str | None = None
    direction: str | None = None
    created_on: str | None = None
    duration_seconds: float | None = None
    is_test_call: bool | None = None
    error_reason: str | None = None
    end_reason: str | None = None
    ringing_at: str | None = None
    ended_at: str | None = None


class WireCallDetail(WireCall):
    started_at: str | None = None
    answered_at: str | None = None
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
    created_at: str | None = None
    channels: list[WireChannel] | None = None


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
    request_id: str | None = None


# --- output (what tools return) ---------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paging(_Out):
    page: int
    page_count: int
    total_count: int
    limit: int
    next_page: int | None = Field(description="Pass as `page` for more; null on the last page")


class Call(_Out):
    id: str
    status: str = Field(description="queued|ringing|answered|ended|busy|failed|cancelled, or a newer API value")
    direction: str | None
    is_test_call: bool | None
    destination: str | None
    source: str | None
    created_on: str | None
    ringing_at: str | None
    ended_at: str | None
    duration_seconds: float | None
    end_reason: str | None
    error_reason: str | None


class CallPage(_Out):
    agent_id: str
    calls: list[Call]
    paging: Paging
    applied_filters: dict[str, Any] = Field(description="Filters and sort the API applied")
    skipped_records: int = Field(0, description="Records left out because the API sent them unreadable")


class Turn(_Out):
    index: int
    offset: str | None = Field(description="Time since the call started, m:ss")
    speaker: str = Field(description="agent, caller, or the API's role")
    text: str | None
    attachments: list[str] | None = None


class Transcript(_Out):
    call_id: str
    agent_id: str
    total_turns: int
    start_turn: int
    end_turn: int = Field(description="One past the last turn included")
    turns: list[Turn]
    truncated: bool
    next_cursor: str | None = Field(description="Pass to get_transcript as `cursor` for the following turns")
    resource_uri: str


class CallDetail(_Out):
    call: Call
    started_at: str | None
    answered_at: str | None
    transcript: Transcript


class Agent(_Out):
    id: str
    name: str | None
    status: str | None
    description: str | None
    language: str | None
    timezone: str | None
    business_name: str | None


class AgentPage(_Out):
    agents: list[Agent]
    paging: Paging
    default_agent_id: str | None = Field(description="Agent used when a tool's agent_id is omitted")


class PlacedCall(_Out):
    status: str = Field(description="initiated, busy (retry later) or failed")
    call_id: str | None
    detail: str | None
    agent_id: str
    destination: str
    is_test_call: bool
    idempotency_key: str = Field(description="Reuse it to retry this exact call without placing a second one")
    next_step: str
