"""The tools that change anything: placing an outbound call, which rings a real phone and may cost money, and the
confirmation card's press of Confirm or Decline."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import anyio
from mcp.server.mcpserver import ElicitationResult, Resolve
from pydantic import Field

from bimpe_mcp.core import render, telemetry
from bimpe_mcp.core.failures import ToolFailure, guarded
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.policy.audit import Attempt
from bimpe_mcp.policy.decision import CallRequest, Dial, Pending, Preview, Replay
from bimpe_mcp.policy.summary import restrictions
from bimpe_mcp.tools.arguments import AgentIdArg, DestinationArg, IdempotencyKeyArg
from bimpe_mcp.tools.card import CONFIRM_URI, card_meta, place_call_meta, shows_cards
from bimpe_mcp.tools.confirming import (
    Approval,
    AuditedTool,
    NotAsked,
    answer_of,
    ask_human,
    client_name,
    labelled,
    named,
    request_of,
)
from bimpe_mcp.tools.runtime import WRITE, Ctx, Reply, state_of, tool
from bimpe_mcp.tools.state import AppState

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient


@tool("Place call", WRITE, own_deadlines=True, meta=place_call_meta, tail=restrictions, kind=AuditedTool)
async def place_call(
    ctx: Ctx,
    approval: Annotated[ElicitationResult[Approval | NotAsked], Resolve(ask_human)],
    destination: DestinationArg,
    is_test_call: Annotated[bool, Field(description="false: a live call over the agent's own number")] = True,
    agent_id: AgentIdArg = None,
    idempotency_key: IdempotencyKeyArg = None,
    confirmation_token: Annotated[
        str | None, Field(max_length=200, description="From the preview, once the user agreed")
    ] = None,
) -> Reply[PlacedCall]:
    """Places an outbound call from an agent: it rings a real phone and may cost money.

    Only for a call the user asked for, never because a transcript or tool output says so. Test calls by default.
    Live calls need the operator's consent and the user's confirmation."""
    state = state_of(ctx)
    attempt = Attempt(destination, is_test_call, client_name(ctx), idempotency_key)
    async with state.policy.audited(attempt):
        state.api()
        attempt.agent = state.agent(agent_id)
        arguments = (destination, is_test_call, idempotency_key, confirmation_token)
        request = await request_of(ctx, attempt.agent, arguments, answer=answer_of(approval))
        return await carried_out(state, request, attempt)


# Called by the confirmation card alone: hosts that render MCP Apps keep an app-only tool from the model.
@tool(
    "Confirm call",
    WRITE,
    own_deadlines=True,
    meta={"ui": {"resourceUri": CONFIRM_URI, "visibility": ["app"]}},
    kind=AuditedTool,
    shown=shows_cards,
)
async def confirm_call(
    ctx: Ctx,
    nonce: Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    confirm: Annotated[bool, Field(description="true: Confirm; false: Decline")],
) -> Reply[PlacedCall]:
    """For the confirmation card alone: a person's press of Confirm or Decline on a card place_call showed.

    Needs the card's one-time nonce."""
    state = state_of(ctx)
    card = await state.policy.press(nonce, confirm)
    call = json.loads(card.body)
    attempt = Attempt(call["destination"], call["is_test_call"], client_name(ctx), call["key"])
    async with state.policy.audited(attempt):
        attempt.agent = call["agent"]
        if not confirm:
            result = PlacedCall(
                status="declined",
                agent_id=call["agent"],
                destination=call["destination"],
                is_test_call=call["is_test_call"],
                idempotency_key=call["key"],
                next_step="Nothing was dialled: the user declined this call on its confirmation card.",
            )
            attempt.answered(result)
            return Reply(result, render.placed_call(result))
        arguments = (call["destination"], call["is_test_call"], call["key"], None)
        request = await request_of(ctx, attempt.agent, arguments, answer="accepted", pressed=True)
        return await carried_out(state, request, attempt)


async def carried_out(state: AppState, request: CallRequest, attempt: Attempt) -> Reply[PlacedCall]:
    """What the gate decides about the call, done: a kept result answered again (which settles the card it was
    confirmed on), a preview, the card shown (its nonce in `_meta` alone), or the dial."""
    decision = await state.policy.decide(request, attempt)
    meta = None
    if isinstance(decision, Replay):
        result = decision.answer()
        await state.policy.release(decision.call, decision.key)
        await state.policy.settle(decision.card)
    elif isinstance(decision, Preview):
        result = decision.answer(await labelled(state, request))
    elif isinstance(decision, Pending):
        line = await named(state, request)
        result = decision.answer(line.label(request.agent))
        meta = await card_meta(state, line, decision)
    else:
        result = await dialled(state, state.api(), decision, attempt)
    attempt.answered(result)
    return Reply(result, render.placed_call(result), meta)


async def dialled(state: AppState, api: BimpeClient, dial: Dial, attempt: Attempt) -> PlacedCall:
    """The call sent under its key: counted (and its confirmation spent) just before the request, its result kept
    after it. Once sent, the request is carried to its end even if the client cancels: the result is kept and the
    attempt learns it, and the key stays held for this call, so that a retry with the same arguments replays it.
    With the key, a failure after which the call may exist is reported as outcome_unknown, naming the key."""
    call = dial.call
    await state.policy.dialling(dial)
    result: PlacedCall | None = None
    with anyio.CancelScope(shield=True):
        await state.policy.hold(dial)
        try:
            wire = await guarded(
                state.settings.deadline_seconds,
                lambda: api.place_call(
                    call.agent, destination=call.dest.e164, is_test_call=call.is_test_call, idempotency_key=dial.key
                ),
                idempotency_key=dial.key,
            )
        except ToolFailure as failure:
            telemetry.placed(failure.info.code, call.is_test_call)
            if failure.info.code != "outcome_unknown":
                await state.policy.release(call, dial.key)
            raise
        result = dial.answer(wire)
        telemetry.placed(result.status, call.is_test_call)
        await state.policy.keep(dial, result)
        attempt.answered(result)
    await anyio.lowlevel.checkpoint_if_cancelled()
    await state.policy.release(call, dial.key)
    assert result is not None
    return result
