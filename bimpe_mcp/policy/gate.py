"""The gate place_call passes before anything is dialled: the live switch, the number and the operator's lists, the
confirmation route and token, the results kept so that a repeated call is answered without dialling again, quiet
hours and budgets, and the user's confirmation. `Policy.decide` runs them in that order; `Policy.dialling` and
`Policy.keep` count a call and keep its result around the API request, and `Policy.audited` records each attempt."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Generator
from contextlib import contextmanager
from datetime import UTC, datetime

from bimpe_mcp.api.errors import recording_request_ids
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.core.setting_values import quiet_window
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.policy.audit import Attempt, AuditLog
from bimpe_mcp.policy.budget import Budget
from bimpe_mcp.policy.decision import Call, CallRequest, Decision, Dial, Preview, Replay, Route
from bimpe_mcp.policy.numbers import Destination, matches, read_number
from bimpe_mcp.policy.quiet import quiet_until
from bimpe_mcp.policy.tokens import TOKEN_SECONDS, TokenError, Tokens

RESULTS_KEPT = 1000
ALWAYS = {
    "invalid": ("invalid_number", "is not a valid phone number"),
    "premium_rate": ("premium_rate", "is a premium-rate number"),
    "shared_cost": ("shared_cost", "is a shared-cost number"),
    "emergency": ("emergency_number", "is an emergency or short number"),
}
LIVE_OFF = "Place a test call (is_test_call=true). Only the operator can enable live calls (BIMPE_ALLOW_LIVE_CALLS)."
ASK_AGAIN = "Call place_call without confirmation_token to get a new preview, and ask the user again."


def refused(
    rule: str, message: str, next_step: str, setting: str | None = None, when: datetime | None = None
) -> ToolFailure:
    at = when.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z") if when else None
    return ToolFailure(
        "policy_refused", message, next_step, retryable=when is not None, rule=rule, setting=setting, retry_at=at
    )


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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

    def decide(self, request: CallRequest, attempt: Attempt | None = None) -> Decision:
        """What to do with this call: replay a kept result, preview it, or dial it under a key. A refusal raises the
        ToolFailure the model reads. The checks, in order: the live switch; the number (its kind, the blocked list,
        the allowed list); the confirmation route; a token, if given, verified and the idempotency key derived from
        its nonce; a result kept for that key; quiet hours and budgets; a preview when a token is still needed; the
        confirmation. Nothing is counted or spent here (`dialling` does that as the call goes out), so the question
        asked before the tool runs decides with it too. `attempt` learns the key as soon as it is derived."""
        self._live(request.is_test_call)
        call = Call(request.agent, self._number(request.destination), request.is_test_call)
        has_token = request.confirmation_token is not None
        route = self.route(
            call.is_test_call, request.can_elicit, has_token, (request.idempotency_key, call.fingerprint)
        )
        nonce, key, expiry = None, request.idempotency_key or uuid.uuid4().hex, None
        if route == "token" and request.confirmation_token:
            nonce, key, expiry = self._redeem(request.confirmation_token, call.digest, request.idempotency_key)
        if attempt is not None:
            attempt.key = key
        earlier = self.replay(key, call.fingerprint)
        if earlier is not None:
            return Replay(earlier)
        self._limits(call.dest, call.is_test_call)
        if route == "token" and nonce is None:
            return self._preview(call, request.idempotency_key)
        self._confirmed(route, expiry, request.agreed)
        return Dial(call, key, route, nonce)

    def _live(self, is_test_call: bool) -> None:
        if not is_test_call and not self.settings.allow_live_calls:
            raise ToolFailure(
                "precondition_failed",
                "live calls are disabled on this server",
                LIVE_OFF,
                rule="live_calls",
                setting="BIMPE_ALLOW_LIVE_CALLS",
            )

    def _number(self, raw: str) -> Destination:
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

    def _redeem(self, token: str, digest: str, idempotency_key: str | None) -> tuple[str, str, int]:
        """The token's nonce, the idempotency key the call it confirms goes out with, and the token's expiry (epoch
        seconds), when it confirms exactly this call and was not spent on another key."""
        try:
            nonce, expiry = self.tokens.nonce(token, digest)
        except TokenError as exc:
            raise refused("confirmation", str(exc), ASK_AGAIN, "BIMPE_CONFIRM") from None
        key = idempotency_key or f"ct-{nonce}"
        if self._nonces.get(nonce, key) != key:
            raise refused("confirmation", "the confirmation_token was already used for another call", ASK_AGAIN)
        return nonce, key, expiry

    def _limits(self, dest: Destination, is_test_call: bool) -> None:
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

    def _preview(self, call: Call, idempotency_key: str | None) -> Preview:
        """A new token for exactly this call; the call it confirms goes out under the key given, or one derived from
        the token's nonce."""
        now = self.clock.wall()
        token = self.tokens.issue(call.digest, now)
        nonce = token.split(".", 1)[0]
        until = stamp(now.fromtimestamp(now.timestamp() + TOKEN_SECONDS, now.tzinfo))
        return Preview(call, idempotency_key or f"ct-{nonce}", token, until)

    def _confirmed(self, route: Route, expiry: int | None, agreed: bool) -> None:
        """Refuse unless the route's confirmation was given: an accepted question, or a token still valid."""
        if route == "token" and expiry is not None and expiry < self.clock.wall().timestamp():
            raise refused("confirmation", "the confirmation_token has expired", ASK_AGAIN, "BIMPE_CONFIRM")
        if route == "unavailable":
            raise refused(
                "confirmation",
                "this server confirms calls by asking the user (BIMPE_CONFIRM=elicit) and this client cannot ask",
                "Tell the user the call needs a client that supports confirmation prompts.",
                "BIMPE_CONFIRM",
            )
        if route == "elicit" and not agreed:
            raise ToolFailure(
                "confirmation_declined",
                "the user did not confirm this call, so nothing was dialled",
                "Do not place it again unless the user asks anew.",
            )

    def dialling(self, dial: Dial) -> None:
        """A call about to be sent: its token's nonce spent on its key, and the call counted."""
        if dial.nonce is not None:
            self._nonces.setdefault(dial.nonce, dial.key)
        self.count(dial.key, dial.call.fingerprint, dial.call.is_test_call)

    def count(self, key: str, fingerprint: str, is_test_call: bool) -> None:
        """A call about to be sent: counted in its budget, and its key remembered as confirmed for this call."""
        self.budgets[is_test_call].count(key, self.clock.wall())
        self._dialled[key] = fingerprint
        while len(self._dialled) > RESULTS_KEPT:
            self._dialled.popitem(last=False)

    def replay(self, key: str, fingerprint: str) -> PlacedCall | None:
        kept = self._results.get(key)
        if kept is None or kept[0] != fingerprint:
            return None
        return kept[1]

    def keep(self, key: str, fingerprint: str, result: PlacedCall) -> None:
        self._results[key] = (fingerprint, result)
        while len(self._results) > RESULTS_KEPT:
            self._results.popitem(last=False)

    @contextmanager
    def audited(self, attempt: Attempt) -> Generator[None]:
        """The attempt recorded in the audit trail however it ends: answered, refused or failed."""
        with recording_request_ids() as sent:
            try:
                yield
            except ToolFailure as failure:
                attempt.failed(failure)
                raise
            finally:
                self.record(attempt, sent[-1] if sent else None)

    def record(self, attempt: Attempt, request_id: str | None = None) -> None:
        self.audit.record(attempt.closed(request_id, stamp(self.clock.wall())))
