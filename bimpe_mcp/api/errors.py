"""The failures the API client reports. Kept apart from the client so that importing them costs nothing."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

_sent: ContextVar[list[str] | None] = ContextVar("bimpe_sent_request_ids", default=None)


@contextmanager
def recording_request_ids() -> Generator[list[str]]:
    """Collect the X-Request-Id of every request the client sends inside the block (in this task): a deadline that
    cancels a request mid-flight leaves no client error behind to carry the id."""
    sent: list[str] = []
    outer = _sent.get()
    token = _sent.set(sent)
    try:
        yield sent
    finally:
        _sent.reset(token)
        # An enclosing block records these too.
        if outer is not None:
            outer.extend(sent)


def note_request_id(request_id: str) -> None:
    sent = _sent.get()
    if sent is not None:
        sent.append(request_id)


# Statuses the API answers before it acts on a request (checks of route, key, scope, idempotency key, body and
# agent), so that a write answered with one of them certainly did nothing. A 429 is left out: nothing documents
# where the rate limit sits, and a burst limiter may answer it after the write went through.
REFUSED_BEFORE_ACTING = frozenset({400, 401, 403, 404, 409, 422})


class BimpeError(Exception):
    """Base of every failure the client reports. `refused_before_acting` is True only when the failure proves the
    API did nothing: a write that failed otherwise may have happened."""

    refused_before_acting = False


class InvalidIdError(BimpeError):
    """An id failed the contract's pattern; nothing was sent."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must be 1-50 characters of letters, digits, '_' or '-'")
        self.field = field
        self.refused_before_acting = True


class ApiError(BimpeError):
    """The API answered with an error status. `method` and `asked` (the ids the request named, e.g. agent_id and
    call_id) say what was asked, so that advice never depends on the wording of the API's message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        field_errors: list[tuple[str, str]] | None = None,
        method: str = "GET",
        asked: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.field_errors = field_errors or []
        self.method = method
        self.asked = dict(asked or {})
        self.refused_before_acting = status in REFUSED_BEFORE_ACTING


class TransportError(BimpeError):
    """No usable HTTP response: connection refused or dropped, or a timeout. The request may have reached the API."""

    def __init__(self, detail: str, request_id: str | None = None) -> None:
        super().__init__(detail)
        self.request_id = request_id


class ProtocolError(BimpeError):
    """A 2xx response that is not the documented envelope."""

    def __init__(self, detail: str, request_id: str | None = None) -> None:
        super().__init__(detail)
        self.request_id = request_id
