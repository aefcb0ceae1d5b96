"""The gate place_call passes before anything is dialled: the live switch, the number and the operator's lists, the
confirmation route and token (or answered question, or confirmation card), the results kept so that a repeated call
is answered without dialling again, quiet hours and budgets, and the user's confirmation. `Policy.decide` runs them in
that order (the words of each refusal are in refusals.py);
`Policy.dialling` and `Policy.keep` count a call and keep its result around the API request, and `Policy.audited`
records each attempt. What must hold across processes and replicas lives in the state store (core/state)."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime

import anyio

from bimpe_mcp.api.errors import recording_request_ids
from bimpe_mcp.core import telemetry
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.core.setting_values import quiet_window
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.core.state import (
    DAY,
    HELD_SECONDS,
    Admission,
    Card,
    StateUnavailable,
    Store,
    Tenanted,
    open_store,
    scoped,
)
from bimpe_mcp.policy.audit import Attempt, AuditLog
from bimpe_mcp.policy.budget import limits, reached
from bimpe_mcp.policy.decision import (
    Answer,
    Call,
    CallRequest,
    ConfirmedBy,
    Decision,
    Dial,
    Pending,
    Preview,
    Replay,
    Route,
)
from bimpe_mcp.policy.numbers import Destination, matches, read_number
from bimpe_mcp.policy.quiet import quiet_until
from bimpe_mcp.policy.refusals import (
    ALWAYS,
    ANOTHER,
    ANSWERED,
    ASK_AGAIN,
    ASK_ANEW,
    E164,
    LIVE_OFF,
    PRESS_ANEW,
    budget_spent,
    cannot_ask,
    national,
    not_by_token,
    refused,
    stamp,
)
from bimpe_mcp.policy.tokens import TOKEN_SECONDS, TokenError, Tokens

log = logging.getLogger(__name__)
# How long a confirmation card waits for a person's press.
CARD_SECONDS = 300.0


def one_tenant() -> str:
    return ""


class Policy:
    """`tenant` names whose budgets, confirmations, kept results and audit entries the request being served uses: a
    digest of its API key with HTTP passthrough, else "" (the one tenant of the server's own key)."""

    def __init__(self, settings: Settings, clock: Clock, store: Tenanted | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.window = quiet_window(settings.quiet_hours) if settings.quiet_hours else None
        s = settings
        self.budgets = {
            True: limits(s.max_test_calls_per_hour, s.max_test_calls_per_day),
            False: limits(s.max_live_calls_per_hour, s.max_live_calls_per_day),
        }
        # Without BIMPE_CONFIRM_SECRET, tokens are signed with a secret kept in the state, so that every process on
        # it (workers, replicas, a server started for each tool call) accepts the others' tokens.
        self._tokens = Tokens(s.confirm_secret.get_secret_value().encode()) if s.confirm_secret else None
        self.audit = AuditLog(s.audit_log)
        self.shared = store if store is not None else open_store(s.state_url)
        self.tenant: Callable[[], str] = one_tenant

    @property
    def store(self) -> Store:
        """The store as the tenant of the request being served sees it."""
        return scoped(self.shared, self.tenant())

    async def decide(self, request: CallRequest, attempt: Attempt | None = None) -> Decision:
        """What to do with this call: replay a kept result, preview it, or dial it under a key. A refusal raises the
        ToolFailure the model reads. The checks, in order: the live switch; a live call's telephony channel; the
        number (as written, its country code, its kind, the lists); the confirmation route; a token or an answered
        question, if given, checked and the idempotency key derived from it (or the call's confirmation card read);
        a result kept for that key; quiet hours and budgets; a preview when a token is still needed, or the card
        while no person has confirmed it; the confirmation. Nothing is counted or spent here,
        except a declined question (`dialling` counts and spends as the call goes out), so the question asked before
        the tool runs decides with it too. `attempt` learns the key as soon as it is derived."""
        self._live(request.is_test_call)
        self._telephony(request)
        call = Call(request.agent, self._number(request.destination, request.line.country), request.is_test_call)
        with self.reachable():
            route = await self.route(call, request)
            card = await self._card(call) if route == "app" else None
            confirmation, key, expiry = await self._key(route, call, request, card)
            if attempt is not None:
                attempt.key, attempt.confirmed_by = key, confirmed_by(route, confirmation, request.answer)
            earlier = await self.replay(call.agent, key, call.fingerprint)
            if earlier is not None:
                return Replay(earlier, call, key, card)
            await self._limits(call.dest, call.is_test_call)
            if route == "token" and confirmation is None:
                return await self._preview(call, request.idempotency_key)
            if route == "app" and confirmation is None:
                return await self._pending(call, key, card)
            await self._confirmed(route, expiry, request.answer, confirmation)
        return Dial(call, key, route, confirmation)

    @contextmanager
    def reachable(self) -> Generator[None]:
        """A store that cannot be reached refuses the call: nothing is dialled that could not be counted."""
        try:
            yield
        except StateUnavailable as exc:
            log.warning("place_call refused: the state store is unavailable (%s)", exc)
            raise ToolFailure(
                "policy_refused",
                f"the call state of this server ({self.store.where}) cannot be reached, so nothing was dialled: "
                "budgets and confirmations could not be checked",
                "Tell the user; reading calls still works. Try again in a minute; if it persists, the operator must "
                "make BIMPE_STATE_URL reachable.",
                retryable=True,
                rule="state_unavailable",
                setting="BIMPE_STATE_URL",
            ) from None

    def _live(self, is_test_call: bool) -> None:
        if not is_test_call and not self.settings.allow_live_calls:
            raise ToolFailure(
                "precondition_failed",
                "live calls are disabled on this server",
                LIVE_OFF,
                rule="live_calls",
                setting="BIMPE_ALLOW_LIVE_CALLS",
            )

    @staticmethod
    def _telephony(request: CallRequest) -> None:
        """A live call from an agent with no connected telephony channel is refused before anyone is asked: the API
        would refuse it after the user had agreed."""
        if not request.is_test_call and request.line.can_dial_live is False:
            raise ToolFailure(
                "precondition_failed",
                f"agent {request.agent} has no connected telephony channel, so it cannot place live calls",
                "Place a test call (is_test_call=true), or link a phone number to the agent in the dashboard; "
                "get_agent shows its channels.",
                rule="telephony_channel",
            )

    def _number(self, raw: str, home: str | None) -> Destination:
        """The destination, unless it is of a kind never rung, lacks its country code, or the operator's lists refuse
        it."""
        dest = read_number(raw, home)
        if dest.refused_as == "national":
            raise national(dest)
        if dest.refused_as == "invalid" and not dest.e164:
            raise ToolFailure(
                "invalid_argument", "destination is not a phone number as written", E164, rule="invalid_number"
            )
        if dest.refused_as:
            rule, what = ALWAYS[dest.refused_as]
            next_step = "Check the number with the user. " + E164 if rule == "invalid_number" else ANOTHER
            raise refused(rule, f"{dest.e164} {what}: such numbers are always refused", next_step)
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

    async def route(self, call: Call, request: CallRequest) -> Route:
        """How this call is confirmed by a human, if at all (`asked`). A confirmation_token is accepted on the token
        route only: one minted in another session never bypasses a client that asks. A retry, under the key given, of
        this very call that was confirmed and sent under that key is not asked about again (the key keeps it from
        ringing twice). The call of a card a person just confirmed goes by its card."""
        if request.pressed:
            return "app"
        route = self.asked(call, request.can_elicit, request.can_show_apps)
        if request.confirmation_token is not None and route != "token":
            raise not_by_token(route, self.settings.confirm)
        key = request.idempotency_key
        if route != "none" and key is not None and await self.store.dialled(call.agent, key) == call.fingerprint:
            return "none"
        return route

    def asked(self, call: Call, can_elicit: bool, can_show_apps: bool = False) -> Route:
        """The route BIMPE_CONFIRM gives this call on this client: `auto` asks through the client where it declared
        elicitation, else on a confirmation card where it renders MCP Apps (never falling back to a token); `elicit`
        and `app` are one of those alone; `token` goes by preview and token."""
        mode = self.settings.confirm
        if mode == "off" or (call.is_test_call and not self.settings.confirm_test_calls):
            return "none"
        if mode == "token":
            return "token"
        if can_elicit and mode in ("auto", "elicit"):
            return "elicit"
        if can_show_apps and mode in ("auto", "app"):
            return "app"
        return "unavailable"

    async def _card(self, call: Call) -> Card | None:
        """The confirmation card of this call that still counts: pending, or confirmed. A declined one is reported
        once, then forgotten, so that the call can be asked for anew."""
        card = await self.store.card(call.fingerprint, self.clock.wall().timestamp())
        if card is None or card.status != "declined":
            return card
        await self.store.settle(card.fingerprint, card.nonce)
        raise ToolFailure(
            "confirmation_declined",
            "the user declined this call on its confirmation card, so nothing was dialled",
            "Do not place it again unless the user asks anew.",
        )

    async def _pending(self, call: Call, key: str, card: Card | None) -> Pending:
        """The card waiting for a person's press: the one shown already, or a new one for the call under `key`."""
        now = self.clock.wall().timestamp()
        if card is None:
            # The nonce reaches the card alone: nothing the model reads (the key included) derives from it.
            nonce = secrets.token_urlsafe(24)
            body = json.dumps({"agent": call.agent, "destination": call.dest.e164, "is_test_call": call.is_test_call,
                               "key": key})  # fmt: skip
            card = await self.store.pend(Card(call.fingerprint, nonce, "pending", body, now + CARD_SECONDS), now)
        until = datetime.fromtimestamp(card.until, UTC)
        return Pending(call, card_key(card), card, stamp(until))

    async def _key(
        self, route: Route, call: Call, request: CallRequest, card: Card | None
    ) -> tuple[str | None, str, int | None]:
        """The confirmation this call is confirmed by (`ct:` a token's nonce, `el:` an answered question round, `ap:`
        a confirmed card's nonce), the idempotency key it goes out under, and the token's expiry. A confirmed call's
        key derives from its confirmation, so that any replay of it is answered by the first result (a card's key is
        the one it was shown with); without one, the key given, or the key of a dial of this call whose answer never
        reached the client, or a new one."""
        given, expiry = request.idempotency_key, None
        if route == "app":
            if card is None:
                return None, given or f"ap-{uuid.uuid4().hex}", None
            return (f"ap:{card.nonce}" if card.status == "confirmed" else None), card_key(card), None
        if route == "token" and request.confirmation_token:
            try:
                nonce, expiry = (await self.tokens()).nonce(request.confirmation_token, call.digest)
            except TokenError as exc:
                raise refused("confirmation", str(exc), ASK_AGAIN, "BIMPE_CONFIRM") from None
            confirmation, key, used = f"ct:{nonce}", given or f"ct-{nonce}", "the confirmation_token was already used "
        elif route == "elicit" and request.answered_round:
            confirmation, key, used = f"el:{request.answered_round}", given or f"el-{request.answered_round}", ANSWERED
        else:
            held = None if given else await self.store.held(call.fingerprint, self.clock.wall().timestamp())
            return None, given or held or uuid.uuid4().hex, None
        spent = await self.store.spent(confirmation)
        if spent is not None and spent != key:
            if confirmation.startswith("ct:"):
                raise refused("confirmation", used + "for another call", ASK_AGAIN)
            raise refused("confirmation", used, ASK_ANEW, "BIMPE_CONFIRM")
        return confirmation, key, expiry

    async def _limits(self, dest: Destination, is_test_call: bool) -> None:
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
        budget = self.budgets[is_test_call]
        if budget:
            times = await self.store.times(kind_word(is_test_call), now.timestamp() - DAY)
            spent = reached(times, now, budget)
            if spent is not None:
                raise budget_spent(is_test_call, *spent)

    async def tokens(self) -> Tokens:
        """The signer of confirmation tokens: BIMPE_CONFIRM_SECRET's, else the state's own secret."""
        if self._tokens is None:
            self._tokens = Tokens(bytes.fromhex(await self.store.secret(secrets.token_hex(32))))
        return self._tokens

    async def _preview(self, call: Call, idempotency_key: str | None) -> Preview:
        """A new token for exactly this call; the call it confirms goes out under the key given, or one derived from
        the token's nonce."""
        now = self.clock.wall()
        token = (await self.tokens()).issue(call.digest, now)
        nonce = token.split(".", 1)[0]
        until = stamp(now.fromtimestamp(now.timestamp() + TOKEN_SECONDS, now.tzinfo))
        return Preview(call, idempotency_key or f"ct-{nonce}", token, until)

    async def _confirmed(self, route: Route, expiry: int | None, answer: Answer, confirmation: str | None) -> None:
        """Refuse unless the route's confirmation was given: an accepted question, or a token still valid. A question
        answered no, or left unanswered, is spent: its round never confirms a call afterwards."""
        if route == "token" and expiry is not None and expiry < self.clock.wall().timestamp():
            raise refused("confirmation", "the confirmation_token has expired", ASK_AGAIN, "BIMPE_CONFIRM")
        if route == "unavailable":
            raise cannot_ask(self.settings.confirm)
        if route == "elicit" and answer != "accepted":
            if confirmation is not None:
                await self.store.spend(confirmation, answer, self.clock.wall().timestamp())
            if answer == "declined":
                raise ToolFailure(
                    "confirmation_declined",
                    "the user did not confirm this call, so nothing was dialled",
                    "Do not place it again unless the user asks anew.",
                )
            raise ToolFailure(
                "confirmation_unanswered",
                "the confirmation question was cancelled or got no answer (the user may not be there), so nothing "
                "was dialled; the user did not decline it",
                "Ask the user again when they are there: if they still want the call, call place_call again and "
                "they are asked anew.",
            )

    async def press(self, nonce: str, confirm: bool) -> Card:
        """A person's Confirm or Decline on a confirmation card: the card as answered now. Refused for a nonce no
        card has (or another tenant's), a card expired, or one answered already: a card is pressed once."""
        now = self.clock.wall().timestamp()
        with self.reachable():
            pressed = await self.store.press(nonce, "confirmed" if confirm else "declined", now, now + HELD_SECONDS)
        if pressed is None:
            raise refused("confirmation", "no confirmation card has this nonce, so nothing was dialled", PRESS_ANEW)
        outcome, card = pressed
        if outcome == "expired":
            raise refused("confirmation", "this confirmation card has expired, so nothing was dialled", PRESS_ANEW)
        if outcome != "pressed":
            raise refused(
                "confirmation",
                f"this confirmation card was already answered ({outcome}), so this press changed nothing",
                "Nothing more to do: one card, one answer.",
            )
        return card

    async def left(self, is_test_call: bool) -> list[tuple[str, int, int]]:
        """What is left of each budget of this kind at this moment: (window, limit, calls left)."""
        budget = self.budgets[is_test_call]
        if not budget:
            return []
        now = self.clock.wall().timestamp()
        times = await self.store.times(kind_word(is_test_call), now - DAY)
        return [(name, limit, max(0, limit - sum(1 for t in times if now - t < span))) for name, span, limit in budget]

    async def dialling(self, dial: Dial) -> None:
        """A call about to be sent, in one step on the store: its confirmation spent on its key, and the call
        counted once per (agent, key) unless its budget is spent (then it is refused, and nothing changes)."""
        call, now = dial.call, self.clock.wall()
        budget = self.budgets[call.is_test_call]
        kind = kind_word(call.is_test_call)
        admission = Admission(call.agent, dial.key, kind, call.fingerprint, now.timestamp(), budget, dial.confirmation)
        with self.reachable():
            refusal = await self.store.admit(admission)
            if refusal is None:
                return
            what, detail = refusal
            if what == "spent":
                raise refused("confirmation", "this confirmation was already used for another call", ASK_AGAIN)
            times = await self.store.times(kind, now.timestamp() - DAY)
        raise budget_spent(call.is_test_call, *(reached(times, now, budget) or (detail, None)))

    async def hold(self, dial: Dial) -> None:
        """The dial's key kept for this call until its answer reaches the client: a retry without the key (of a
        client that cancelled, or never heard back) goes out under it again, and so never rings twice."""
        with self.reachable():
            await self.store.hold(dial.call.fingerprint, dial.key, self.clock.wall().timestamp())

    async def settle(self, card: Card | None) -> None:
        """The answer of a card's call reached the model: a later call to the same number is asked for anew."""
        if card is None:
            return
        try:
            await self.store.settle(card.fingerprint, card.nonce)
        except StateUnavailable as exc:
            log.warning("a confirmation card could not be settled (%s)", exc)

    async def release(self, call: Call, key: str) -> None:
        """The call's answer reached the client: a later call to the same number is a new call."""
        try:
            await self.store.release(call.fingerprint, key)
        except StateUnavailable as exc:
            log.warning("a dial's key could not be released (%s)", exc)

    async def replay(self, agent: str, key: str, fingerprint: str) -> PlacedCall | None:
        kept = await self.store.result(agent, key)
        if kept is None or kept[0] != fingerprint:
            return None
        return PlacedCall.model_validate_json(kept[1])

    async def keep(self, dial: Dial, result: PlacedCall) -> None:
        call = dial.call
        body = result.model_dump_json()
        try:
            await self.store.keep(call.agent, dial.key, call.fingerprint, body, self.clock.wall().timestamp())
        except StateUnavailable as exc:
            log.warning("a call's result could not be kept for replays (%s); its key still keeps it single", exc)

    @asynccontextmanager
    async def audited(self, attempt: Attempt) -> AsyncGenerator[None]:
        """The attempt recorded in the audit trail however it ends: answered, refused, failed or cancelled."""
        with recording_request_ids() as sent:
            try:
                yield
            except ToolFailure as failure:
                attempt.failed(failure)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    await self.record(attempt, sent[-1] if sent else None)

    async def record(self, attempt: Attempt, request_id: str | None = None) -> None:
        entry = self.audit.record(attempt.closed(request_id, stamp(self.clock.wall())), self.tenant())
        telemetry.attempted(entry)
        try:
            await self.store.remember(json.dumps(entry, ensure_ascii=True, separators=(",", ":")))
        except StateUnavailable as exc:
            log.warning("an audit entry is kept by this process only (%s)", exc)

    async def recent(self) -> list[dict[str, object]]:
        """The recent audit entries of every process sharing the store (this process's own when it is unreachable)."""
        try:
            return [json.loads(entry) for entry in await self.store.recent()]
        except StateUnavailable:
            return self.audit.recent(self.tenant())


def card_key(card: Card) -> str:
    """The idempotency key the call of this card goes out under."""
    return str(json.loads(card.body)["key"])


def confirmed_by(route: Route, confirmation: str | None, answer: Answer) -> ConfirmedBy | None:
    """How the call is confirmed, as the audit trail records it; None while it is not (yet)."""
    if route == "none":
        return "none"
    if route == "token" and confirmation is not None:
        return "token"
    if route == "app" and confirmation is not None:
        return "app"
    return "user" if route == "elicit" and answer == "accepted" else None


def kind_word(is_test_call: bool) -> str:
    return "test" if is_test_call else "live"
