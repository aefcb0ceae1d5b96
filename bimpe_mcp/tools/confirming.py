"""What place_call meets before its body runs: the question a human answers (the SDK resolver `ask_human`), and the
audit entry of an attempt whose arguments fail the schema (`AuditedTool`)."""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import AcceptedElicitation, DeclinedElicitation, Elicit, ElicitationResult
from pydantic import BaseModel, Field

from bimpe_mcp.api.contract import ID_PATTERN
from bimpe_mcp.api.wire import WireChannel, line_numbers, live_lines
from bimpe_mcp.core.failures import ToolFailure, guarded
from bimpe_mcp.policy.audit import Attempt
from bimpe_mcp.policy.decision import AgentLine, Answer, CallRequest, Dial
from bimpe_mcp.policy.numbers import home_region, is_national
from bimpe_mcp.tools.runtime import CheckedTool, Ctx, state_of
from bimpe_mcp.tools.state import AppState

# The round of questions a 2026-07-28 retry answers: a digest of the sealed request state it sent back (set for the
# request by the server's middleware, before the state is unsealed); None on a first round or an older protocol.
ANSWERED_ROUND: ContextVar[str | None] = ContextVar("answered_round", default=None)


def answered_round() -> str | None:
    return ANSWERED_ROUND.get()


class Approval(BaseModel):
    confirm: bool = Field(description="Place this call?")


class NotAsked(BaseModel):
    """No question for the human: the call needs none, goes by token, or the gate refuses it anyway."""


def can_elicit(ctx: Ctx) -> bool:
    caps = ctx.client_capabilities
    return caps is not None and caps.elicitation is not None


def client_name(ctx: Ctx) -> str | None:
    params = ctx.session.client_params
    return params.client_info.name if params is not None else None


def answer_of(approval: ElicitationResult[Approval | NotAsked]) -> Answer:
    """The human's answer: accepted, declined (a decline, or an accepted form saying no), or unanswered (a cancelled
    question, which hosts also send when nobody answers, or none asked)."""
    if isinstance(approval, AcceptedElicitation) and isinstance(approval.data, Approval):
        return "accepted" if approval.data.confirm else "declined"
    return "declined" if isinstance(approval, DeclinedElicitation) else "unanswered"


async def ask_human(
    destination: str,
    is_test_call: bool,
    agent_id: str | None,
    idempotency_key: str | None,
    confirmation_token: str | None,
    ctx: Ctx,
) -> Elicit[Approval] | NotAsked:
    """The confirmation question, asked only when the gate would let this call through once the human agrees and
    its route is to ask them through the client."""
    if not can_elicit(ctx):
        return NotAsked()
    state = state_of(ctx)
    arguments = (destination, is_test_call, idempotency_key, confirmation_token)
    try:
        request = await request_of(ctx, state.agent(agent_id), arguments, answer="accepted")
        decision = await state.policy.decide(request)
    except ToolFailure:
        return NotAsked()
    if not isinstance(decision, Dial) or decision.route != "elicit":
        return NotAsked()
    return Elicit(decision.question(await labelled(state, request)), Approval)


async def agent_line(state: AppState, agent: str, *, live: bool, home: bool = False) -> AgentLine:
    """The agent as the API reports it: its name and status, for a live call whether it has a connected telephony
    channel, and with `home` its country. What cannot be read stays unknown: the API has the last word on the call."""
    deadline = min(5.0, state.settings.deadline_seconds)
    api = state.api()
    try:
        detail = await guarded(deadline, lambda: api.get_agent(agent))
    except ToolFailure:
        return AgentLine()
    channels: list[WireChannel] | None = None
    if live or home:
        try:
            channels = await guarded(deadline, lambda: api.list_channels(agent))
        except ToolFailure:
            channels = None
    can_dial_live = bool(live_lines(channels)) if live and channels is not None else None
    country = home_region(line_numbers(channels or []), detail.timezone) if home else None
    return AgentLine(detail.name, detail.status, can_dial_live, country)


async def request_of(
    ctx: Ctx,
    agent: str,
    arguments: tuple[str, bool, str | None, str | None],
    *,
    answer: Answer,
    pressed: bool = False,
) -> CallRequest:
    """The call as the gate judges it; for a live call or a destination without its country code, with the agent as
    the API reports it. `pressed`: the call of a card a person just confirmed."""
    state = state_of(ctx)
    destination, is_test_call, idempotency_key, confirmation_token = arguments
    home = is_national(destination)
    live = not is_test_call
    line = await agent_line(state, agent, live=live, home=home) if live or home else AgentLine()
    return CallRequest(
        agent,
        destination,
        is_test_call,
        idempotency_key,
        confirmation_token,
        can_elicit=can_elicit(ctx),
        answer=answer,
        answered_round=answered_round(),
        line=line,
        can_show_apps=client_supports_apps(ctx),
        pressed=pressed,
    )


async def named(state: AppState, request: CallRequest) -> AgentLine:
    """The agent as the person asked knows it: the agent already read for a live call, else read now."""
    return request.line if request.line.name is not None else await agent_line(state, request.agent, live=False)


async def labelled(state: AppState, request: CallRequest) -> str:
    """The agent named for the person asked."""
    return (await named(state, request)).label(request.agent)


class AuditedTool(CheckedTool):
    """place_call as published: an attempt whose arguments fail the schema is in the audit trail too, refused with
    rule invalid_argument (its destination masked to the digits it holds)."""

    async def refused(self, arguments: dict[str, Any], context: Any, failure: ToolFailure) -> None:
        state = state_of(context)
        destination, is_test_call, agent = (arguments.get(k) for k in ("destination", "is_test_call", "agent_id"))
        attempt = Attempt(
            destination if isinstance(destination, str) else "", is_test_call is not False, client_name(context)
        )
        known = isinstance(agent, str) and re.fullmatch(ID_PATTERN, agent) is not None
        attempt.agent = (agent if known else state.settings.agent_id) or ""
        attempt.malformed(failure)
        await state.policy.record(attempt)
