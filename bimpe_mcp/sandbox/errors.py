"""The error answers of the emulated API: status, code and message, in the API's error envelope."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# (field, message) pairs, in the order a client should read them.
Problems = list[tuple[str, str]]


class SandboxApiError(Exception):
    """An error answer of the emulated API, raised by any step of a request and sent as its body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | list[str],
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "error": phrase(self.status),
            "code": self.code,
            "statusCode": self.status,
            "request_id": request_id,
        }
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def phrase(status: int) -> str:
    """The reason phrase of a status; a code the standard does not name (a fault may use any) is an "Error"."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Client Error" if status < 500 else "Server Error"


def validation_error(problems: Problems) -> SandboxApiError:
    return SandboxApiError(
        400,
        "validation_error",
        [f"{path}: {message}" for path, message in problems],
        errors=[{"path": path, "message": message} for path, message in problems],
    )


def not_found(message: str) -> SandboxApiError:
    return SandboxApiError(404, "not_found", message)
