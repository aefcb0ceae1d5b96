"""The models tools return: structured content, and with it each tool's published outputSchema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from bimpe_mcp.api.wire import PageMeta, WireAgent, WireCall

CallStatus = Literal["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]


class _Out(BaseModel):
    # from_attributes: an output model is filled from the wire model it mirrors, field by field, by pydantic.
    # defer_build: its validator is built on first use (tools/list publishes the stored schemas), not at start.
    model_config = ConfigDict(extra="ignore", from_attributes=True, defer_build=True)


class Paged(_Out):
    page: int
    page_count: int
    total_count: int
    next_page: int | None = None


def paging(meta: PageMeta) -> dict[str, Any]:
    """The paging fields of a list result, from the API's page meta."""
    return {
        "page": meta.current_page,
        "page_count": meta.page_count,
        "total_count": meta.total_count,
        "next_page": meta.current_page + 1 if meta.has_next_page else None,
    }


def _known(value: object) -> object:
    return "unknown" if value is None else value


class Call(WireCall):
    # A call as tools publish it: the wire fields, with a status always present. (No docstring: it would be
    # published in every outputSchema that holds a call.)
    model_config = _Out.model_config
    status: Annotated[str, BeforeValidator(_known)]  # pyright: ignore[reportIncompatibleVariableOverride, reportGeneralTypeIssues]


class CallPage(Paged):
    agent_id: str
    calls: list[Call]
    applied_filters: dict[str, Any]
    skipped_records: int = Field(0, description="Unreadable records left out")


class Turn(_Out):
    offset: str | None = None
    speaker: str
    text: str | None = None
    attachments: list[str] | None = None


class TranscriptPart(_Out):
    total_turns: int
    turns: list[Turn]
    truncated: bool
    next_cursor: str | None = None


class Transcript(TranscriptPart):
    call_id: str
    agent_id: str
    start_turn: int
    end_turn: int = Field(description="Exclusive")
    resource_uri: str


class TranscriptLines(_Out):
    total_turns: int
    lines: list[str]
    next_cursor: str | None = None


class CallWait(Call):
    finished: bool
    waited_seconds: float
    transcript: TranscriptLines | None = None


class CallDetail(Call):
    started_at: str | None = None
    answered_at: str | None = None
    transcript: TranscriptPart


class Agent(WireAgent):
    model_config = _Out.model_config


class AgentPage(Paged):
    agents: list[Agent]
    default_agent_id: str | None = None


class PlacedCall(_Out):
    status: str = Field(description="initiated, busy, failed, confirmation_required or declined")
    call_id: str | None = None
    detail: str | None = None
    agent_id: str
    destination: str
    is_test_call: bool
    idempotency_key: str
    next_step: str
    # A preview's token, to pass back once the user agreed; `replayed` marks a repeat answered without dialling.
    confirmation_token: str | None = None
    replayed: bool | None = None


class Coverage(_Out):
    # The window read (in `timezone`; until exclusive), and whether it was read whole before the page budget ran out.
    timezone: str
    since: str | None = None
    until: str | None = None
    complete: bool
    reached: str | None = None


class CallList(CallPage):
    coverage: Coverage | None = None


class CallStats(_Out):
    agent_id: str
    total: int
    by_status: dict[str, int]
    by_end_reason: dict[str, int]
    by_error_reason: dict[str, int]
    # Calls still queued, ringing or answered: counted apart, answered and its rate are over the finished calls.
    in_flight: int
    answered: int
    answered_rate: float | None = None
    durations: int
    duration_sum: float
    duration_median: float | None = None
    duration_p90: float | None = None
    per_day: dict[str, int]
    busiest_hour: int | None = None
    busiest_hour_calls: int
    coverage: Coverage


class CallTranscript(_Out):
    call_id: str
    status: str | None = None
    end_reason: str | None = None
    error_reason: str | None = None
    duration_seconds: float | None = None
    created_on: str | None = None
    transcript: TranscriptLines | None = None
    error: str | None = None


class TranscriptSet(_Out):
    agent_id: str
    calls: list[CallTranscript]
    left_out: list[str]


class Channel(_Out):
    type: str | None = None
    name: str | None = None
    is_connected: bool | None = None


class AgentReadiness(Agent):
    is_default: bool
    channels: list[Channel]
    phone_numbers: list[str]
    can_place_live_calls: bool
    live_calls_blocked_by: list[str]
