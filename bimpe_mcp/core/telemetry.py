"""What place_call tells the telemetry: its decision as attributes of the MCP request's span, and two counters, the
calls placed by outcome and the refusals by rule. Off until the server's telemetry turns it on (server/telemetry.py):
then each function here returns at once and nothing of OpenTelemetry is imported.

Only words the server chose go out (a decision, a rule, an error code, how the call was confirmed): never the number,
which the audit entry holds masked, nor anything the API sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter

PLACED = "bimpe.calls.placed"
"""Counter of the calls sent to the API, by `bimpe.outcome`: the status the API answered (initiated, busy, failed),
or the error code when no answer came back (outcome_unknown and the like)."""
REFUSED = "bimpe.calls.refused"
"""Counter of place_call attempts refused, by `bimpe.rule` (the rule, or the error code of a refusal without one:
confirmation_declined, confirmation_unanswered)."""
DECISION_ATTRIBUTES = {
    "decision": "bimpe.place_call.decision",
    "rule": "bimpe.place_call.rule",
    "error": "bimpe.place_call.error",
    "confirmed_by": "bimpe.place_call.confirmed_by",
    "is_test_call": "bimpe.place_call.is_test_call",
}
"""The audit entry's fields that go on the span of a place_call (or confirm_call) request, and their names there."""


@dataclass(frozen=True)
class Counters:
    placed: Counter
    refused: Counter


_annotating = False
_counters: Counters | None = None


def enable(spans: bool, counters: Counters | None) -> None:
    """From now on, annotate the spans (`spans`) and count (`counters`); False and None turn both off."""
    global _annotating, _counters
    _annotating, _counters = spans, counters


def placed(outcome: str, is_test_call: bool) -> None:
    """One call sent to the API, and how it ended."""
    if _counters is not None:
        _counters.placed.add(1, {"bimpe.outcome": outcome, "bimpe.is_test_call": is_test_call})


def attempted(entry: Mapping[str, Any]) -> None:
    """One place_call attempt closed, as its audit entry says: its decision on the span, and a refusal counted."""
    if _annotating:
        from opentelemetry.trace import get_current_span

        attributes = {name: entry[key] for key, name in DECISION_ATTRIBUTES.items() if entry.get(key) is not None}
        get_current_span().set_attributes(attributes)
    if _counters is not None and entry.get("decision") == "refused":
        rule = entry.get("rule") or entry.get("error") or "unknown"
        _counters.refused.add(1, {"bimpe.rule": str(rule), "bimpe.is_test_call": bool(entry.get("is_test_call"))})
