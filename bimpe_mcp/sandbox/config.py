"""Settings of the sandbox and the fault description."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

FaultKind = Literal["status", "latency", "drop", "non_json", "malformed", "drift"]

FAULT_KINDS: frozenset[str] = frozenset({"status", "latency", "drop", "non_json", "malformed", "drift"})
MALFORMED_VARIANTS: tuple[str, ...] = (
    "no_message",
    "data_null",
    "truncated_json",
    "html_200",
    "empty_body",
    "partial_meta",
)
DRIFT_VARIANTS: tuple[str, ...] = ("unknown_status", "extra_fields", "nulls", "types")

DEFAULT_START = datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC)

DEFAULT_SCOPE_MAP: Mapping[str, str] = MappingProxyType(
    {
        "agents.list": "agents:read",
        "agents.retrieve": "agents:read",
        "agents.channels": "agents:read",
        "calls.list": "calls:read",
        "calls.retrieve": "calls:read",
        "calls.make": "calls:write",
        "phone_numbers.list": "phone_numbers:read",
        "phone_numbers.retrieve": "phone_numbers:read",
        "phone_numbers.update": "phone_numbers:write",
    }
)


@dataclass(frozen=True)
class Fault:
    """One injected failure, matched against API requests (never control routes).

    `times` counts the matching requests it affects before it expires (None: until cleared).
    `method` (exact, case-insensitive) and `path` (a regex searched in the path after
    `/api/v1/console`) narrow which requests match. With `after=True` a "status" or "drop"
    fault lets the request run first, so the operation happens and only the answer is lost.
    """

    kind: FaultKind
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    times: int | None = None
    method: str | None = None
    path: str | None = None
    variant: str | None = None
    code: str | None = None
    after: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.kind == "status" and (self.status is None or not 400 <= self.status <= 599):
            raise ValueError("a 'status' fault needs a status between 400 and 599")
        if self.kind == "non_json" and self.status is not None and not 200 <= self.status <= 599:
            raise ValueError("a 'non_json' fault needs a status between 200 and 599")
        if self.kind == "latency" and self.seconds < 0:
            raise ValueError("latency seconds must be >= 0")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None")
        if self.kind == "malformed" and self.variant is not None and self.variant not in MALFORMED_VARIANTS:
            raise ValueError(f"unknown malformed variant {self.variant!r}; one of {MALFORMED_VARIANTS}")
        if self.kind == "drift" and self.variant is not None and self.variant not in DRIFT_VARIANTS:
            raise ValueError(f"unknown drift variant {self.variant!r}; one of {DRIFT_VARIANTS}")
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a valid regular expression: {exc}") from None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass(frozen=True)
class SandboxConfig:
    """Every knob of the sandbox; all defaulted. See docs/sandbox.md for the meaning of each."""

    seed: int = 7
    calls: int = 360
    speed: float = 1.0
    start: datetime = DEFAULT_START
    test_call_capacity: int = 2
    rate_limit: int = 600
    rate_window_seconds: int = 60
    idempotency_window_seconds: int = 86400
    idempotency_conflict_on_body_mismatch: bool = True
    reject_unknown_sort: bool = True
    paused_agent_blocks_calls: bool = False
    scope_map: Mapping[str, str] = field(default_factory=lambda: DEFAULT_SCOPE_MAP)
    accept_conversations_read_for_call_reads: bool = True
    faults: tuple[Fault, ...] = ()
    max_recorded_requests: int = 10_000

    def __post_init__(self) -> None:
        if self.calls < 0:
            raise ValueError("calls must be >= 0")
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.rate_window_seconds < 1 or self.rate_limit < 1:
            raise ValueError("rate_limit and rate_window_seconds must be >= 1")
        if self.test_call_capacity < 0:
            raise ValueError("test_call_capacity must be >= 0")
