"""What the gate decides about one place_call, and the answer each decision gives: a kept result replayed, a preview
that dials nothing and carries a confirmation token, a call waiting on its confirmation card, or a dial under an
idempotency key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.core.render import safe_line
from bimpe_mcp.policy.numbers import Destination
from bimpe_mcp.policy.tokens import call_digest

if TYPE_CHECKING:
    from bimpe_mcp.api.wire import WireMakeCallResult
    from bimpe_mcp.core.state import Card

Route = Literal["none", "elicit", "app", "token", "unavailable"]
# The human's answer to the question put through the client: `unanswered` is a cancelled or dismissed question (hosts
# cancel one nobody answers), or none asked; `declined` is the user's no.
Answer = Literal["accepted", "declined", "unanswered"]
# How the call that went out (or would have) was confirmed, as the audit trail records it.
ConfirmedBy = Literal["user", "app", "token", "none"]
REPLAYED = "This same call was sent before: this is its original result, and it placed no new call. "
NEXT_STEPS = {
    "initiated": "Call wait_for_call(call_id): it waits until the call ends and reports the outcome.",
    "busy": "No capacity or the line is busy right now: try again in a minute (a new attempt, no key).",
    "failed": "The call could not be placed: read detail and check the number before any retry.",
}


def kind_of(is_test_call: bool) -> str:
    return "test" if is_test_call else "LIVE"


@dataclass(frozen=True)
class AgentLine:
    """The agent as the API reports it before a call: its name, its status, whether it has a connected telephony
    channel to dial live calls over, and its country (the region of its own numbers, else of its time zone), read
    for a destination written without its country code. None where it was not read (or could not be)."""

    name: str | None = None
    status: str | None = None
    can_dial_live: bool | None = None
    country: str | None = None

    def label(self, agent: str) -> str:
        """The agent as a person knows it: its name and id (or the id alone), and that it is paused when it is."""
        who = f"{safe_line(self.name)} ({agent})" if self.name else agent
        return f"{who}, which is paused" if self.status == "paused" else who


@dataclass(frozen=True)
class CallRequest:
    """A place_call as the gate judges it: the agent chosen, the arguments, whether the client can ask the user,
    the user's answer to the question put to them (`answer`), and which round of questions that answer came in
    (`answered_round`, a digest of the sealed request state the client sent back; None when the answer was given
    within this request). `line` is the agent as read from the API for a live call."""

    agent: str
    destination: str
    is_test_call: bool
    idempotency_key: str | None = None
    confirmation_token: str | None = None
    can_elicit: bool = False
    answer: Answer = "unanswered"
    answered_round: str | None = None
    line: AgentLine = AgentLine()
    can_show_apps: bool = False
    pressed: bool = False


@dataclass(frozen=True)
class Call:
    """A call whose destination the gate admitted: the agent, the number as read, and its kind."""

    agent: str
    dest: Destination
    is_test_call: bool

    @property
    def fingerprint(self) -> str:
        """What a kept result and a confirmed key are tied to: the same key for another call is another call."""
        return f"{self.agent}|{self.dest.e164}|{self.is_test_call}"

    @property
    def digest(self) -> str:
        """What a confirmation token is bound to."""
        return call_digest(self.agent, self.dest.e164, self.is_test_call)


@dataclass(frozen=True)
class Replay:
    """A result kept for this key and this call: answered again, and nothing is dialled. `card` is the confirmation
    card the call was confirmed on, if any, which this answer settles."""

    kept: PlacedCall
    call: Call
    key: str
    card: Card | None = None

    def answer(self) -> PlacedCall:
        return self.kept.model_copy(update={"replayed": True, "next_step": REPLAYED + self.kept.next_step})


def awaiting(call: Call, key: str, next_step: str, token: str | None = None) -> PlacedCall:
    """The answer to a call that waits for a human's confirmation: nothing was dialled."""
    return PlacedCall(
        status="confirmation_required",
        agent_id=call.agent,
        destination=call.dest.e164,
        is_test_call=call.is_test_call,
        idempotency_key=key,
        confirmation_token=token,
        next_step=next_step,
    )


@dataclass(frozen=True)
class Preview:
    """The call waits for the user's agreement through a token: the answer dials nothing, and carries the token, the
    key the confirmed call goes out with, and when the token expires (`until`)."""

    call: Call
    key: str
    token: str
    until: str

    def answer(self, who: str) -> PlacedCall:
        """The preview, naming the agent as `who`."""
        call = self.call
        step = (
            f"Nothing was dialled. Ask the user: place a {kind_of(call.is_test_call)} call to {call.dest.display} from "
            f"agent {who}? Only if they agree, call place_call again with the same arguments and confirmation_token "
            f"(valid until {self.until})."
        )
        return awaiting(call, self.key, step, self.token)


@dataclass(frozen=True)
class Pending:
    """The call waits for a person to press Confirm on its confirmation card: the answer dials nothing, and names
    the key the confirmed call goes out with and when the card expires (`until`). The card's nonce reaches the card
    alone, in the result's `_meta`."""

    call: Call
    key: str
    card: Card
    until: str

    def answer(self, who: str) -> PlacedCall:
        """The pending call, naming the agent as `who`."""
        call = self.call
        step = (
            f"Nothing was dialled. The user is shown a confirmation card for a {kind_of(call.is_test_call)} call to "
            f"{call.dest.display} from agent {who}: only a person pressing Confirm on it places the call, until "
            f"{self.until}. Tell the user to press Confirm or Decline on the card (not to answer in the chat). Then "
            "call place_call again with the same arguments: it answers the placed call, or says the card is still "
            "waiting or was declined."
        )
        return awaiting(call, self.key, step)


@dataclass(frozen=True)
class Dial:
    """The call goes out under `key`. `route` says how it was confirmed; `confirmation` (a token's nonce or an
    answered round) is spent on this key."""

    call: Call
    key: str
    route: Route
    confirmation: str | None = None

    def question(self, who: str) -> str:
        """What the user is asked when the route is to ask them, naming the agent as `who`."""
        call = self.call
        kind, cost = kind_of(call.is_test_call), "." if call.is_test_call else " and may cost money."
        return f"Place a {kind} call to {call.dest.display} from agent {who}? It rings that phone{cost}"

    def answer(self, wire: WireMakeCallResult) -> PlacedCall:
        """The API's answer to the dial, with the call's own facts and the model's next step."""
        call = self.call
        step = NEXT_STEPS.get(wire.status, "Check the call with get_call or list_calls.")
        fields = {"agent_id": call.agent, "destination": call.dest.e164, "is_test_call": call.is_test_call}
        return PlacedCall.model_validate(wire.model_dump() | fields | {"idempotency_key": self.key, "next_step": step})


Decision = Replay | Preview | Pending | Dial
