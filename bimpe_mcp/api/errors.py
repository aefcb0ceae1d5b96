"""The failures the API client reports. Kept apart from the client so that importing them costs nothing."""

from __future__ import annotations


class BimpeError(Exception):
    """Base of every failure the client reports."""


class InvalidIdError(BimpeError):
    """An id failed the contract's pattern; nothing was sent."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} must be 1-50 characters of letters, digits, '_' or '-'")
        self.field = field


class ApiError(BimpeError):
    """The API answered with an error status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        field_errors: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.field_errors = field_errors or []


class TransportError(BimpeError):
    """No usable HTTP response: connection refused or dropped, or a timeout."""


class ProtocolError(BimpeError):
    """A 2xx response that is not the documented envelope."""

    def __init__(self, detail: str, request_id: str | None = None) -> None:
        super().__init__(detail)
        self.request_id = request_id
