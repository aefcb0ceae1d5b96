"""The active faults and what each one does to a response."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, cast

from .config import Fault

STATUS_CODES: dict[int, tuple[str, str]] = {
    # status: (code, message)
    408: ("request_timeout", "The request timed out."),
    429: ("too_many_requests", "Burst limit exceeded. Slow down."),
    500: ("internal_error", "An unexpected error occurred."),
    502: ("bad_gateway", "The upstream service returned an invalid response."),
    503: ("service_unavailable", "The service is temporarily unavailable."),
    504: ("gateway_timeout", "The upstream service did not answer in time."),
}


@dataclass
class _Active:
    fault: Fault
    remaining: int | None


class FaultSet:
    """Faults in force, in the order added. Thread-unsafe by design: the sandbox runs on one loop."""

    def __init__(self, initial: tuple[Fault, ...] = ()) -> None:
        self._items: list[_Active] = [_Active(f, f.times) for f in initial]

    def add(self, fault: Fault) -> None:
        self._items.append(_Active(fault, fault.times))

    def clear(self) -> None:
        self._items.clear()

    @property
    def active(self) -> tuple[Fault, ...]:
        """The faults in force; `times` shows how many requests each still affects."""
        return tuple(replace(a.fault, times=a.remaining) for a in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def take(self, method: str, path: str, kinds: frozenset[str], *, after: bool | None = None) -> list[Fault]:
        """Consume and return every matching fault of the given kinds (all latency ones, one other)."""
        taken: list[Fault] = []
        for item in list(self._items):
            f = item.fault
            if f.kind not in kinds or not f.matches(method, path):
                continue
            if after is not None and f.kind in ("status", "drop", "non_json") and f.after != after:
                continue
            if f.kind != "latency" and any(t.kind != "latency" for t in taken):
                continue
            taken.append(f)
            if item.remaining is not None:
                item.remaining -= 1
                if item.remaining <= 0:
                    self._items.remove(item)
        return taken


def non_json_body(status: int) -> bytes:
    return (
        f"<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center>"
        "<hr><center>nginx</center></body></html>"
    ).encode()


def malformed(variant: str, body: bytes) -> tuple[bytes, str]:
    """Turn a 2xx JSON envelope into a broken one; returns (body, content type)."""
    if variant == "html_200":
        return b"<!doctype html><html><body><h1>Welcome</h1></body></html>", "text/html; charset=utf-8"
    if variant == "empty_body":
        return b"", "application/json"
    if variant == "truncated_json":
        return body[: max(1, len(body) // 2)], "application/json"
    envelope = _as_dict(json.loads(body))
    if variant == "no_message":
        envelope.pop("message", None)
    elif variant == "data_null":
        envelope["data"] = None
    else:  # partial_meta
        envelope["meta"] = {"total_count": 1, "current_page": 1}
    return json.dumps(envelope).encode(), "application/json"


def _as_dict(value: Any) -> dict[str, Any]:
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {"message": "Success", "data": value}


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [cast("dict[str, Any]", x) for x in cast("list[Any]", data) if isinstance(x, dict)]
    if isinstance(data, dict):
        return [cast("dict[str, Any]", data)]
    return []


def drift(variant: str, body: bytes) -> bytes:
    """Change a 2xx envelope the way a newer server version might."""
    envelope = _as_dict(json.loads(body))
    items = _items(envelope.get("data"))
    for item in items:
        if variant == "unknown_status":
            if "status" in item:
                item["status"] = "in_progress" if "direction" in item else "queued" if "call_id" in item else "archived"
        elif variant == "extra_fields":
            item["sentiment"] = "positive"
            item["x_trace"] = {"region": "eu-west-1", "shard": 7}
        elif variant == "nulls":
            for key in ("destination", "conversation_logs", "description", "is_test_call", "e164", "created_on"):
                if key in item:
                    item[key] = None
        else:  # types
            if "duration_seconds" in item:
                item["duration_seconds"] = 42.5
            if "created_on" in item:
                item["created_on"] = 1782896400
            if "is_connected" in item:
                item["is_connected"] = "yes"
    if variant == "extra_fields":
        envelope["api_version"] = "2026-09-01"
        meta = envelope.get("meta")
        if isinstance(meta, dict):
            cast("dict[str, Any]", meta)["next_cursor"] = "opaque"
    return json.dumps(envelope).encode()
