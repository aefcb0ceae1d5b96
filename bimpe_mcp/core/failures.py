"""One translation from API and transport failures to tool errors a model can act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import anyio
from pydantic import BaseModel, Field

from bimpe_mcp.api.errors import (
    ApiError,
    BimpeError,
    InvalidIdError,
    ProtocolError,
    TransportError,
    recording_request_ids,
)
from bimpe_mcp.core import render

T = TypeVar("T")

ErrorCode = Literal[
    "invalid_argument",
    "not_configured",
    "auth_failed",
    "missing_scope",
    "forbidden",
    "not_found",
    "conflict",
    "precondition_failed",
    "rate_limited",
    "upstream_unavailable",
    "upstream_protocol_error",
    "deadline_exceeded",
    "outcome_unknown",
    "policy_refused",
    "confirmation_declined",
    "confirmation_unanswered",
]


class ToolFailure(Exception):
    """A failure the model should read: what failed, what to do next, and whether retrying can help."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        next_step: str,
        *,
        retryable: bool = False,
        retry_after_seconds: float | None = None,
        request_id: str | None = None,
        api_code: str | None = None,
        idempotency_key: str | None = None,
        rule: str | None = None,
        setting: str | None = None,
        retry_at: str | None = None,
    ) -> None:
        super().__init__(message)
        self.info = ErrorInfo(
            code=code,
            message=message,
            next_step=next_step,
            retryable=retryable,
            retry_after_seconds=None if retry_after_seconds is None else round(retry_after_seconds, 1),
            request_id=request_id,
            api_code=api_code,
            idempotency_key=idempotency_key,
            rule=rule,
            setting=setting,
            retry_at=retry_at,
        )


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    next_step: str
    retryable: bool
    retry_after_seconds: float | None = None
    request_id: str | None = None
    api_code: str | None = None
    idempotency_key: str | None = Field(None, description="outcome_unknown: retry with this key, never without")
    rule: str | None = Field(None, description="policy_refused: the rule that refused the call")
    setting: str | None = Field(None, description="policy_refused: the setting that controls the rule")
    retry_at: str | None = Field(None, description="policy_refused: when a retry can succeed (RFC 3339)")

    def text(self) -> str:
        """The error as one line of text; API wording in it can never break the line."""
        parts = [f"{self.code}: {self.message}", f"Next: {self.next_step}"]
        if self.retry_after_seconds is not None:
            parts.append(f"Retry after {self.retry_after_seconds:g} s.")
        if self.retry_at is not None:
            parts.append(f"Retry at {self.retry_at}.")
        parts.append("Retrying can help." if self.retryable else "Retrying the same call will not help.")
        if self.request_id:
            parts.append(f"(request_id {self.request_id})")
        return render.safe_line(" ".join(parts))


def not_configured() -> ToolFailure:
    return ToolFailure(
        "not_configured",
        "no BimpeAI API key is configured",
        "Ask the operator to set BIMPE_API_KEY in the server's environment, or to start the server with --sandbox "
        "to try it on the embedded sandbox.",
    )


def deadline_exceeded(seconds: float) -> ToolFailure:
    return ToolFailure(
        "deadline_exceeded",
        f"the API did not finish within the {seconds:g} s deadline",
        "Try again; if it keeps happening, ask for fewer results (smaller limit) or try later.",
        retryable=True,
    )


def outcome_unknown(cause: ToolFailure, key: str) -> ToolFailure:
    """A call that may or may not have been placed: the cause, and the one safe way on (the same idempotency key)."""
    info = cause.info
    return ToolFailure(
        "outcome_unknown",
        f"the call may have been placed: {info.message}",
        f"Retry place_call with the same arguments and idempotency_key={key}: if the call was placed, the API returns "
        "that call and rings no one again. Never retry without this key; list_calls (search the number) shows "
        "whether the call exists.",
        retryable=True,
        retry_after_seconds=info.retry_after_seconds,
        request_id=info.request_id,
        api_code=info.api_code,
        idempotency_key=key,
    )


async def guarded(seconds: float, work: Callable[[], Awaitable[T]], *, idempotency_key: str | None = None) -> T:
    """Run API work under a deadline; every client failure and a missed deadline come out as a ToolFailure that
    names the request id sent. With an idempotency key (a write), a failure that does not prove the API did nothing
    is outcome_unknown, carrying the key."""
    with recording_request_ids() as sent:
        try:
            with anyio.fail_after(seconds):
                return await work()
        except BimpeError as exc:
            failure, settled = translate(exc), exc.refused_before_acting
        except TimeoutError:
            failure, settled = deadline_exceeded(seconds), False
    if idempotency_key is not None and not settled:
        failure = outcome_unknown(failure, idempotency_key)
    if failure.info.request_id is None and sent:
        failure.info.request_id = sent[-1]
    raise failure


# Failures with no API answer to read, worth a retry: the client's error, the tool's code, what happened, what to do.
_UNREAD: tuple[tuple[type[TransportError | ProtocolError], ErrorCode, str, str], ...] = (
    (
        TransportError,
        "upstream_unavailable",
        "the BimpeAI API did not answer",
        "Retry in a few seconds; if it persists the service is down or the network is blocked.",
    ),
    (
        ProtocolError,
        "upstream_protocol_error",
        "the BimpeAI API sent a response this server cannot read",
        "Retry once; if it persists, report the request_id to BimpeAI support.",
    ),
)


def translate(exc: BimpeError) -> ToolFailure:
    """Map a client failure to the tool error the model reads."""
    if isinstance(exc, InvalidIdError):
        return ToolFailure(
            "invalid_argument",
            str(exc),
            f"Use an id exactly as list_agents or list_calls returned it; check {exc.field}.",
        )
    for kind, code, what, next_step in _UNREAD:
        if isinstance(exc, kind):
            return ToolFailure(code, f"{what}: {exc}", next_step, retryable=True, request_id=exc.request_id)
    if isinstance(exc, ApiError):
        return _from_api(exc)
    raise TypeError(f"untranslated client error {type(exc).__name__}")  # pragma: no cover


AUTH_STEPS = {
    "api_key_expired": "The API key has expired: ask the operator to create a new key in the BimpeAI Console "
    "(Settings > API keys) and update BIMPE_API_KEY.",
    "api_key_invalid": "The API key is not valid for any team: ask the operator to check BIMPE_API_KEY.",
}
NO_CHANNEL_STEP = (
    "Place a test call instead (is_test_call=true), or ask the operator to link a phone number to the agent in the "
    "BimpeAI dashboard."
)
SCOPE_STEP = "This key cannot do this. Use read-only tools, or ask the operator for a key with the named scope."
AGENT_ID_STEP = "Agent ids come from list_agents: list them and use an id from there."
CONFLICT_STEP = (
    "This idempotency_key was already used with different arguments. Reuse a key only to retry the exact same call; "
    "omit it to place a new one."
)
READ_CONFLICT_STEP = (
    "Nothing was changed. Retry in a few seconds; if it persists, report the request_id to BimpeAI support."
)
RETRYABLE_CODES: frozenset[ErrorCode] = frozenset({"rate_limited", "upstream_unavailable"})


def _from_api(exc: ApiError) -> ToolFailure:
    kind, message, step = _meaning(exc)
    # A conflict on a read concerns the API's state at that moment, not the arguments: reading again is safe.
    retryable = kind in RETRYABLE_CODES or (kind == "conflict" and exc.method == "GET")
    return ToolFailure(
        kind,
        message,
        step,
        retryable=retryable,
        retry_after_seconds=exc.retry_after if retryable else None,
        request_id=exc.request_id,
        api_code=exc.code,
    )


def _meaning(exc: ApiError) -> tuple[ErrorCode, str, str]:
    """What an API error status means for the model: our code, what failed, and what to do next."""
    status, code = exc.status, exc.code
    if status == 400 and code == "channel_not_configured":
        return (
            "precondition_failed",
            "this agent has no live telephony channel, so it cannot place live calls",
            (NO_CHANNEL_STEP),
        )
    if status in (400, 422):
        fields = "; ".join(f"{p}: {m}" if p else m for p, m in exc.field_errors) or exc.message
        return "invalid_argument", f"the API rejected the request: {fields}", "Correct the named argument."
    if status == 401:
        step = AUTH_STEPS.get(code or "", "Ask the operator to check BIMPE_API_KEY.")
        return "auth_failed", f"the API refused the key ({code or 'unauthorized'})", step
    if status == 403 and code == "insufficient_scope":
        return "missing_scope", exc.message, SCOPE_STEP
    if status == 403:
        return "forbidden", exc.message, "This key's team is not permitted to do this; do not retry."
    if status == 404:
        return _not_found(exc)
    if status == 409 and exc.method == "GET":
        return "conflict", f"the API reported a conflict on a read: {exc.message}", READ_CONFLICT_STEP
    if status == 409:
        return "conflict", exc.message, CONFLICT_STEP
    if status == 429:
        wait = exc.retry_after
        step = f"Wait {wait:g} s, then retry." if wait is not None else "Wait a minute, then retry."
        return "rate_limited", "the API is rate limiting this key", step
    if status == 408 or (status >= 500 and status != 501):
        step = "Retry in a few seconds; if it persists, report the request_id to BimpeAI support."
        return "upstream_unavailable", f"the BimpeAI API failed (HTTP {status})", step
    return (
        "upstream_protocol_error",
        f"the API answered HTTP {status}: {exc.message}",
        ("This endpoint or answer is not supported by this server version; report the request_id."),
    )


def _not_found(exc: ApiError) -> tuple[ErrorCode, str, str]:
    """A 404 explained by what the request asked for; the API's own words follow in parentheses."""
    agent, call = exc.asked.get("agent_id"), exc.asked.get("call_id")
    if agent and call:
        return (
            "not_found",
            f"no call {call} was found for agent {agent} (API: {exc.message})",
            f"Call ids come from list_calls for the same agent: list the calls of agent {agent} and use an id from "
            "there. If the call belongs to another agent, pass that agent_id (agent ids come from list_agents).",
        )
    if agent:
        return "not_found", f"no agent {agent} was found (API: {exc.message})", AGENT_ID_STEP
    return (
        "not_found",
        f"the API has no such endpoint (API: {exc.message})",
        "This server's requests go to the wrong place: ask the operator to check BIMPE_BASE_URL.",
    )
