"""The words of place_call's refusals: what was refused, by which rule and setting, and what the model should do
next. The gate (gate.py) decides; these say it."""

from __future__ import annotations

from datetime import UTC, datetime

from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.policy.country_names import COUNTRY_NAMES
from bimpe_mcp.policy.decision import Route
from bimpe_mcp.policy.numbers import Destination

ALWAYS = {
    "invalid": ("invalid_number", "is not a valid phone number"),
    "premium_rate": ("premium_rate", "is a premium-rate number"),
    "shared_cost": ("shared_cost", "is a shared-cost number"),
    "emergency": ("emergency_number", "is an emergency or short number"),
}
ANOTHER = "Ask the user for another number."
E164 = (
    "Send destination in E.164 form: +, the country code, then the number (e.g. +2348012345678); spaces, dashes, dots "
    "and parentheses are ignored."
)
LIVE_OFF = "Place a test call (is_test_call=true). Only the operator can enable live calls (BIMPE_ALLOW_LIVE_CALLS)."
ASK_AGAIN = "Call place_call without confirmation_token to get a new preview, and ask the user again."
ANSWERED = "the user's answer to this confirmation question was already used"
ASK_ANEW = "Call place_call again (without the earlier request state) to ask the user anew."
PRESS_ANEW = "Ask the model to call place_call again: it shows a new confirmation card."


def refused(
    rule: str, message: str, next_step: str, setting: str | None = None, when: datetime | None = None
) -> ToolFailure:
    at = when.astimezone(UTC).isoformat(timespec="minutes").replace("+00:00", "Z") if when else None
    return ToolFailure(
        "policy_refused", message, next_step, retryable=when is not None, rule=rule, setting=setting, retry_at=at
    )


def national(dest: Destination) -> ToolFailure:
    """A number without its country code: never dialled on a guess of its country (read in another country than the
    user's, it rings a stranger), but answered with the E.164 form it has in the agent's country."""
    message = f"{dest.e164} has no country code, so it is not dialled: the country it is in is not certain"
    if dest.suggested:
        country = COUNTRY_NAMES.get(dest.region or "", dest.region)
        next_step = (
            f"In {country}, the agent's country, it is {dest.display}: if that is the number meant, call place_call "
            f"again with destination {dest.suggested}. Otherwise ask the user which country the number is in and "
            "send it in E.164 form (+, country code, number without its leading 0)."
        )
    else:
        next_step = (
            "Ask the user which country the number is in and send it in E.164 form: +, the country code, then the "
            "number without its leading 0 (e.g. +447700900123 for 07700 900123 in the United Kingdom)."
        )
    return ToolFailure("invalid_argument", message, next_step, rule="national_number")


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


HOW_ASKED = {
    "auto": (
        "asking the user through the client or on a confirmation card",
        "declared neither elicitation nor MCP Apps",
    ),
    "elicit": ("asking the user through the client", "did not declare elicitation"),
    "app": ("a confirmation card the user presses", "does not render MCP Apps"),
}


def cannot_ask(mode: str) -> ToolFailure:
    """A call that needs the user's confirmation on a client that cannot ask them."""
    how, lacks = HOW_ASKED.get(mode, HOW_ASKED["auto"])
    return refused(
        "confirmation",
        f"this server confirms calls by {how} (BIMPE_CONFIRM={mode}), and this client cannot ask ({lacks}), so "
        "nothing was dialled",
        "Tell the user the call needs a client that can ask them to confirm it. Otherwise only the operator can "
        "choose BIMPE_CONFIRM=token, knowing that a model can then redeem the token by itself.",
        "BIMPE_CONFIRM",
    )


def not_by_token(route: Route, mode: str) -> ToolFailure:
    """A confirmation_token sent where calls are not confirmed by token: never accepted in place of asking."""
    if route == "none":
        why = "this call needs no confirmation"
        step = "Call place_call again without confirmation_token."
    else:
        why = f"this server confirms calls by {HOW_ASKED.get(mode, HOW_ASKED['auto'])[0]} (BIMPE_CONFIRM={mode})"
        step = "Call place_call again without confirmation_token: the user is asked to confirm the call."
        if route == "unavailable":
            why += ", and this client cannot ask"
            step = cannot_ask(mode).info.next_step
    return refused("confirmation", f"a confirmation_token is not accepted here: {why}", step, "BIMPE_CONFIRM")


def budget_spent(is_test_call: bool, window: str, when: datetime | None) -> ToolFailure:
    kind = "TEST" if is_test_call else "LIVE"
    step = f"Tell the user; the next call is possible after {stamp(when)}." if when else "Tell the user."
    return refused(
        f"{window}ly_budget".replace("dayly", "daily"),
        f"the {kind.lower()} call budget per {window} of this server is spent",
        step,
        f"BIMPE_MAX_{kind}_CALLS_PER_{window.upper()}",
        when,
    )
