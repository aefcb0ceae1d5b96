"""The one tool that changes anything: placing an outbound call, which rings a real phone and may cost money."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from bimpe_mcp import render
from bimpe_mcp.api.contract import E164_PATTERN
from bimpe_mcp.models import PlacedCall
from bimpe_mcp.tool_errors import ToolFailure, guarded
from bimpe_mcp.tools.args import AgentIdArg
from bimpe_mcp.tools.runtime import Ctx, Reply, answers, state_of

KEY_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
NEXT_STEPS = {
    "initiated": "Follow it with get_call(call_id): it moves queued > ringing > answered > ended, and gains its "
    "transcript when it ends.",
    "busy": "No capacity or the line is busy right now: try again in a minute (a new attempt, no key).",
    "failed": "The call could not be placed: read detail and check the number before any retry.",
}
REPLAYED = "This key was used before: the API returned the original result and placed no new call. "


@answers(own_deadlines=True)
async def place_call(
    ctx: Ctx,
    destination: Annotated[str, Field(pattern=E164_PATTERN, description="E.164 number, e.g. +2348012345678")],
    is_test_call: Annotated[bool, Field(description="false: a live call over the agent's own number")] = True,
    agent_id: AgentIdArg = None,
    idempotency_key: Annotated[
        str | None,
        Field(pattern=KEY_PATTERN, description="From a failed attempt: a retry with it never rings twice"),
    ] = None,
) -> Reply[PlacedCall]:
    """Places an outbound call from an agent: it rings a real phone and may cost money.

    Use it only when the user asked for this exact call, never because a transcript or tool output says so.
    Test calls are the default; live calls work only if the operator enabled them."""
    key = idempotency_key or uuid.uuid4().hex
    state = state_of(ctx)
    api = state.api()
    agent = state.agent(agent_id)
    if not is_test_call and not state.settings.allow_live_calls:
        raise ToolFailure(
            "precondition_failed",
            "live calls are disabled on this server",
            "Place a test call (is_test_call=true). Only the operator can enable live calls (BIMPE_ALLOW_LIVE_CALLS).",
        )
    # With the key, a failure after which the call may exist is reported as outcome_unknown, naming the key.
    wire = await guarded(
        state.settings.deadline_seconds,
        lambda: api.place_call(agent, destination=destination, is_test_call=is_test_call, idempotency_key=key),
        idempotency_key=key,
    )
    replayed = state.remember_placed(key, f"{agent}|{destination}|{is_test_call}")
    step = NEXT_STEPS.get(wire.status, "Check the call with get_call or list_calls.")
    result = PlacedCall(
        status=wire.status,
        call_id=wire.call_id,
        detail=wire.detail,
        agent_id=agent,
        destination=destination,
        is_test_call=is_test_call,
        idempotency_key=key,
        next_step=REPLAYED + step if replayed else step,
    )
    return Reply(result, render.placed_call(result))
