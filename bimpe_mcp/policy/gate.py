"""The gate place_call passes before anything is dialled: the number, the operator's lists, quiet hours, budgets,
the confirmation route, and the results kept so that a repeated call is answered without dialling again."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Literal

from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.core.setting_values import quiet_window
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.policy.audit import AuditLog
from bimpe_mcp.policy.budget import Budget
from bimpe_mcp.policy.numbers import Destination, matches, read_number
from bimpe_mcp.policy.quiet import quiet_until
from bimpe_mcp.policy.tokens import TokenError, Tokens

Route = Literal["none", "elicit", "token", "unavailable"]
RESULTS_KEPT = 1000
ALWAYS = {
    "invalid": ("invalid_number", "is not a valid phone number"),
    "premium_rate": ("premium_rate", "is a premium-rate number"),
    "shared_cost": ("shared_cost", "is a shared-cost number"),
    "emergency": ("emergency_number", "is an emergency or short number"),
}


def refused(
    rule: str, message: str, next_step: str, setting: str | None = None, when: datetime | None = None
) -> ToolFailure:
    at = when.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z") if when else None
    return ToolFailure(
        "policy_refused", message, next_step, retryable=when is not None, rule=rule, setting=setting, retry_at=at
    )


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fingerprint(agent: str, dest: Destination, is_test_call: bool) -> str:
    return f"{agent}|{dest.e164}|{is_test_call}"


class Policy:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.window = quiet_window(settings.quiet_hours) if settings.quiet_hours else None
        s = settings
        self.budgets = {
            True: Budget(s.max_test_calls_per_hour, s.max_test_calls_per_day),
            False: Budget(s.max_live_calls_per_hour, s.max_live_calls_per_day),
        }
        secret = s.confirm_secret.get_secret_value().encode() if s.confirm_secret else None
        self.tokens = Tokens(secret)
        self.audit = AuditLog(s.audit_log)
        self._results: OrderedDict[str, tuple[str, PlacedCall]] = OrderedDict()
        self._nonces: dict[str, str] = {}
        self._dialled: OrderedDict[str, str] = OrderedDict()

    def number(self, raw: str) -> Destination:
        """The destination, unless it is of a kind never rung or the operator's lists refuse it."""
        dest = read_number(raw)
        if dest.refused_as:
            rule, what = ALWAYS[dest.refused_as]
            raise refused(rule, f"{raw} {what}: such numbers are always refused", "Ask the user for another number.")
        blocked = matches(self.settings.blocked_destinations, dest.e164, dest.country_code)
        if blocked:
            raise refused(
                "blocked_destination",
                f"{dest.e164} is blocked by the operator ({blocked})",
                "Do not call this number; tell the user it is blocked on this server.",
                "BIMPE_BLOCKED_DESTINATIONS",
            )
        allowed = self.settings.allowed_destinations
        if allowed is not None and not matches(allowed, dest.e164, dest.country_code):
            raise refused(
                "allowed_destinations",
                f"{dest.e164} is not among the destinations this server may call: {', '.join(allowed)}",
                "Call only an allowed destination; only the operator can change the list.",
                "BIMPE_ALLOWED_DESTINATIONS",
            )
        return dest

    def limits(self, dest: Destination, is_test_call: bool) -> None:
        """Quiet hours (live calls) and the budget of the call's kind, at this moment."""
        now = self.clock.wall()
        until = quiet_until(self.window, dest.zones, now) if self.window and not is_test_call else None
        if until is not None:
            raise refused(
                "quiet_hours",
                f"it is within the quiet hours ({self.settings.quiet_hours}) at the destination",
                f"Tell the user; the call can be placed after {stamp(until)}.",
                "BIMPE_QUIET_HOURS",
                until,
            )
        kind = "TEST" if is_test_call else "LIVE"
        spent = self.budgets[is_test_call].exhausted(now)
        if spent is not None:
            window, when = spent
            step = f"Tell the user; the next call is possible after {stamp(when)}." if when else "Tell the user."
            raise refused(
                f"{window}ly_budget".replace("dayly", "daily"),
                f"the {kind.lower()} call budget per {window} of this server is spent",
                step,
                f"BIMPE_MAX_{kind}_CALLS_PER_{window.upper()}",
                when,
            )

    def route(self, is_test_call: bool, can_elicit: bool, has_token: bool, retry: tuple[str | None, str]) -> Route:
        """How this call is confirmed by a human, if at all. `retry` is the idempotency key given and the call's
        fingerprint: a retry of a call that was confirmed and sent under that key is not asked about again (the key
        keeps it from ringing twice)."""
        mode = self.settings.confirm
        key, fingerprint = retry
        if mode == "off" or (is_test_call and not self.settings.confirm_test_calls):
            return "none"
        if key is not None and self._dialled.get(key) == fingerprint:
            return "none"
        if mode == "elicit":
            return "elicit" if can_elicit else "unavailable"
        return "token" if mode == "token" or has_token or not can_elicit else "elicit"

    def redeem(self, token: str, digest: str, idempotency_key: str | None) -> tuple[str, str, int]:
        """The token's nonce, the idempotency key the call it confirms goes out with, and the token's expiry (epoch
        seconds), when it confirms exactly this call and was not spent on another key."""
        step = "Call place_call without confirmation_token to get a new preview, and ask the user again."
        try:
            nonce, expiry = self.tokens.nonce(token, digest)
        except TokenError as exc:
            raise refused("confirmation", str(exc), step, "BIMPE_CONFIRM") from None
        key = idempotency_key or f"ct-{nonce}"
        if self._nonces.get(nonce, key) != key:
            raise refused("confirmation", "the confirmation_token was already used for another call", step)
        return nonce, key, expiry

    def spend(self, nonce: str, key: str) -> None:
        self._nonces.setdefault(nonce, key)

    def replay(self, key: str, fingerprint: str) -> PlacedCall | None:
        kept = self._results.get(key)
        if kept is None or kept[0] != fingerprint:
            return None
        return kept[1]

    def keep(self, key: str, fingerprint: str, result: PlacedCall) -> None:
        self._results[key] = (fingerprint, result)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)

    def count(self, key: str, fingerprint: str, is_test_call: bool) -> None:
        """A call about to be sent: counted in its budget, and its key remembered as confirmed for this call."""
        self.budgets[is_test_call].count(key, self.clock.wall())
        self._dialled[key] = fingerprint
        while len(self._dialled) > RESULTS_KEPT:
            self._dialled.popitem(last=False)


def restrictions(settings: Settings) -> str | None:
    """The operator's own limits on place_call in one line, or None when none is set."""
    s = settings
    parts: list[str] = []
    if s.allowed_destinations is not None:
        parts.append(f"only {', '.join(s.allowed_destinations)} may be called")
    if s.blocked_destinations:
        parts.append(f"{', '.join(s.blocked_destinations)} blocked")
    if s.quiet_hours:
        parts.append(f"no live calls {s.quiet_hours} destination time")
    limits = [
        f"{n} {kind} calls/{span}"
        for n, kind, span in (
            (s.max_live_calls_per_hour, "live", "hour"),
            (s.max_live_calls_per_day, "live", "day"),
            (s.max_test_calls_per_hour, "test", "hour"),
            (s.max_test_calls_per_day, "test", "day"),
        )
        if n is not None
    ]
    if limits:
        parts.append("at most " + ", ".join(limits))
    if s.confirm == "off":
        parts.append("no confirmation is asked")
    elif s.confirm_test_calls:
        parts.append("test calls need the user's confirmation too")
    return "Operator policy: " + "; ".join(parts) + "." if parts else None


def summary(settings: Settings) -> str:
    """The active policy for the server instructions: what is always refused, the operator's limits, and how calls
    are confirmed."""
    who = "live and test calls" if settings.confirm_test_calls else "live calls"
    confirm = "not asked" if settings.confirm == "off" else f"{settings.confirm} ({who})"
    lines = [
        "Premium-rate, shared-cost, emergency and invalid numbers are always refused; a refusal is policy_refused "
        f"naming its rule. User confirmation: {confirm}."
    ]
    extra = restrictions(settings)
    return " ".join([*lines, extra] if extra else lines)
