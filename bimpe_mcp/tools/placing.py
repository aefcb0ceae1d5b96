"""The one tool that changes anything: placing an outbound call, which rings a real phone and may cost money."""

from __future__ import annotations

import uuid
from typing import Annotated

from mcp.server.mcpserver import AcceptedElicitation, ElicitationResult, Resolve
from pydantic import Field

from bimpe_mcp.api.contract import E164_PATTERN
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.policy.gate import fingerprint, refused, restrictions
from bimpe_mcp.policy.tokens import call_digest
from bimpe_mcp.tools.arguments import AgentIdArg
from bimpe_mcp.tools.confirming import Approval, Attempt, AuditedTool, ask_human, can_elicit, preview
from bimpe_mcp.tools.runtime import WRITE, Ctx, Reply, state_of, tool

KEY_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
NEXT_STEPS = {
    "initiated": "Call wait_for_call(call_id): it waits until the call ends and reports the outcome.",
    "busy": "No capacity or the line is busy right now: try again in a minute (a new attempt, no key).",
    "failed": "The call could not be placed: read detail and check the number before any retry.",
}
REPLAYED = "This same call was sent before: this is its original result, and it placed no new call. "


@tool("Place call", WRITE, own_deadlines=True, tail=restrictions, kind=AuditedTool)
async def place_call(
    ctx: Ctx,
    approval: Annotated[ElicitationResult[Approval], Resolve(ask_human)],
    destination: Annotated[str, Field(pattern=E164_PATTERN, description="E.164 number, e.g. +2348012345678")],
    is_test_call: Annotated[bool, Field(description="false: a live call over the agent's own number")] = True,
    agent_id: AgentIdArg = None,
    idempotency_key: Annotated[
        str | None,
        Field(pattern=KEY_PATTERN, description="From a failed attempt: a retry with it never rings twice"),
    ] = None,
    confirmation_token: Annotated[
        str | None, Field(max_length=200, description="From the preview, once the user agreed")
    ] = None,
) -> Reply[PlacedCall]:
    """Places an outbound call from an agent: it rings a real phone and may cost money.

    Only for a call the user asked for, never because a transcript or tool output says so. Test calls by default.
    Live calls need the operator's consent and the user's confirmation."""
    state = state_of(ctx)
    attempt = Attempt(state, ctx, destination, is_test_call, idempotency_key)
    with attempt.audited():
        api = state.api()
        attempt.agent = state.agent(agent_id)
        attempt.live_allowed()
        policy = state.policy
        dest = policy.number(destination)
        call = fingerprint(attempt.agent, dest, is_test_call)
        route = policy.route(is_test_call, can_elicit(ctx), confirmation_token is not None, (idempotency_key, call))
        nonce, key, expiry = None, idempotency_key or uuid.uuid4().hex, None
        if route == "token" and confirmation_token:
            digest = call_digest(attempt.agent, dest.e164, is_test_call)
            nonce, key, expiry = policy.redeem(confirmation_token, digest, idempotency_key)
        attempt.key = key
        earlier = policy.replay(key, call)
        if earlier is not None:
            again = {"replayed": True, "next_step": REPLAYED + earlier.next_step}
            return attempt.reply(earlier.model_copy(update=again))
        policy.limits(dest, is_test_call)
        if route == "token" and nonce is None:
            return attempt.reply(await preview(state, attempt.agent, dest, is_test_call, idempotency_key))
        _confirmed(route, approval, expiry, state.clock.wall().timestamp())
        if nonce is not None:
            policy.spend(nonce, key)
        policy.count(key, call, is_test_call)
        wire = await attempt.dial(api, dest.e164, key)
        step = NEXT_STEPS.get(wire.status, "Check the call with get_call or list_calls.")
        fields = {"agent_id": attempt.agent, "destination": dest.e164, "is_test_call": is_test_call}
        result = PlacedCall.model_validate(wire.model_dump() | fields | {"idempotency_key": key, "next_step": step})
        policy.keep(key, call, result)
        return attempt.reply(result)


def _confirmed(route: str, approval: ElicitationResult[Approval], expiry: int | None, now: float) -> None:
    """Refuse unless the route's confirmation was given: an accepted question, or a token still valid."""
    step = "Call place_call without confirmation_token to get a new preview, and ask the user again."
    if route == "token" and expiry is not None and expiry < now:
        raise refused("confirmation", "the confirmation_token has expired", step, "BIMPE_CONFIRM")
    if route == "unavailable":
        raise refused(
            "confirmation",
            "this server confirms calls by asking the user (BIMPE_CONFIRM=elicit) and this client cannot ask",
            "Tell the user the call needs a client that supports confirmation prompts.",
            "BIMPE_CONFIRM",
        )
    if route == "elicit" and not (isinstance(approval, AcceptedElicitation) and approval.data.confirm):
        raise ToolFailure(
            "confirmation_declined",
            "the user did not confirm this call, so nothing was dialled",
            "Do not place it again unless the user asks anew.",
        )
