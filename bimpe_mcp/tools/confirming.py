"""What place_call needs around the gate: the question a human answers, the token preview, and the audit entry of
each attempt."""

from __future__ import annotations

import re
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Elicit
from pydantic import BaseModel, Field

from bimpe_mcp.api.contract import ID_PATTERN
from bimpe_mcp.api.errors import recording_request_ids
from bimpe_mcp.api.redact import mask_number
from bimpe_mcp.core import render
from bimpe_mcp.core.failures import ToolFailure, guarded
from bimpe_mcp.core.models import PlacedCall
from bimpe_mcp.policy.gate import fingerprint, stamp
from bimpe_mcp.policy.numbers import Destination
from bimpe_mcp.policy.tokens import TOKEN_SECONDS, call_digest
from bimpe_mcp.tools.runtime import CheckedTool, Ctx, Reply, state_of
from bimpe_mcp.tools.state import AppState

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient
    from bimpe_mcp.api.wire import WireMakeCallResult

LIVE_OFF = "Place a test call (is_test_call=true). Only the operator can enable live calls (BIMPE_ALLOW_LIVE_CALLS)."


class Approval(BaseModel):
    confirm: bool = Field(description="Place this call?")


class NotAsked(BaseModel):
    """No question for the human: the call needs none, goes by token, or the gate refuses it anyway."""


def can_elicit(ctx: Ctx) -> bool:
    caps = ctx.client_capabilities
    return caps is not None and caps.elicitation is not None


def kind_of(is_test_call: bool) -> str:
    return "test" if is_test_call else "LIVE"


async def ask_human(
    destination: str,
    is_test_call: bool,
    agent_id: str | None,
    idempotency_key: str | None,
    confirmation_token: str | None,
    ctx: Ctx,
) -> Elicit[Approval] | NotAsked:
    """The confirmation question, when this call is to be confirmed by asking the human through the client."""
    state = state_of(ctx)
    policy = state.policy
    try:
        agent = state.agent(agent_id)
        if not is_test_call and not state.settings.allow_live_calls:
            return NotAsked()
        dest = policy.number(destination)
        policy.limits(dest, is_test_call)
    except ToolFailure:
        return NotAsked()
    retry = (idempotency_key, fingerprint(agent, dest, is_test_call))
    if policy.route(is_test_call, can_elicit(ctx), confirmation_token is not None, retry) != "elicit":
        return NotAsked()
    return Elicit(
        f"Place a {kind_of(is_test_call)} call to {dest.display} from agent {await agent_name(state, agent)}? "
        "It rings that phone" + ("." if is_test_call else " and may cost money."),
        Approval,
    )


async def agent_name(state: AppState, agent: str) -> str:
    """The agent as a person knows it: its name and id, or the id alone when the name cannot be read."""
    try:
        page = await guarded(min(5.0, state.settings.deadline_seconds), lambda: state.api().list_agents(limit=100))
    except ToolFailure:
        return agent
    name = next((a.name for a in page.items if a.id == agent and a.name), None)
    return f"{render.safe_line(name)} ({agent})" if name else agent


async def preview(
    state: AppState, agent: str, dest: Destination, is_test_call: bool, idempotency_key: str | None
) -> PlacedCall:
    """The answer that dials nothing: the exact call, and the token that dials it once the user agreed."""
    now = state.clock.wall()
    token = state.policy.tokens.issue(call_digest(agent, dest.e164, is_test_call), now)
    nonce = token.split(".", 1)[0]
    until = stamp(now.fromtimestamp(now.timestamp() + TOKEN_SECONDS, now.tzinfo))
    who = await agent_name(state, agent)
    return PlacedCall(
        status="confirmation_required",
        agent_id=agent,
        destination=dest.e164,
        is_test_call=is_test_call,
        idempotency_key=idempotency_key or f"ct-{nonce}",
        confirmation_token=token,
        next_step=f"Nothing was dialled. Ask the user: place a {kind_of(is_test_call)} call to {dest.display} from "
        f"agent {who}? Only if they agree, call place_call again with the same arguments and confirmation_token "
        f"(valid until {until}).",
    )


class Attempt:
    """One place_call attempt as the audit trail records it."""

    def __init__(self, state: AppState, ctx: Ctx, destination: str, is_test_call: bool, key: str | None) -> None:
        self.state = state
        params = ctx.session.client_params
        self.entry: dict[str, Any] = {
            "destination": mask_number(destination),
            "is_test_call": is_test_call,
            "client": params.client_info.name if params is not None else None,
        }
        self.agent = ""
        self.key = key

    def live_allowed(self) -> None:
        if not self.entry["is_test_call"] and not self.state.settings.allow_live_calls:
            raise ToolFailure(
                "precondition_failed",
                "live calls are disabled on this server",
                LIVE_OFF,
                rule="live_calls",
                setting="BIMPE_ALLOW_LIVE_CALLS",
            )

    async def dial(self, api: BimpeClient, destination: str, key: str) -> WireMakeCallResult:
        # With the key, a failure after which the call may exist is reported as outcome_unknown, naming the key.
        is_test_call = bool(self.entry["is_test_call"])
        return await guarded(
            self.state.settings.deadline_seconds,
            lambda: api.place_call(self.agent, destination=destination, is_test_call=is_test_call, idempotency_key=key),
            idempotency_key=key,
        )

    def reply(self, result: PlacedCall) -> Reply[PlacedCall]:
        decision = "replayed" if result.replayed else result.status
        self.entry.update(decision=decision, call_id=result.call_id)
        self.key = result.idempotency_key
        return Reply(result, render.placed_call(result))

    @contextmanager
    def audited(self) -> Generator[None]:
        with recording_request_ids() as sent:
            try:
                yield
            except ToolFailure as failure:
                info = failure.info
                refusal = info.code in ("policy_refused", "confirmation_declined") or info.rule is not None
                self.entry.update(decision="refused" if refusal else "failed", error=info.code)
                self.entry.update(rule=info.rule, request_id=info.request_id)
                raise
            finally:
                self.entry.update(agent_id=self.agent or None, idempotency_key=self.key)
                self.entry.setdefault("request_id", sent[-1] if sent else None)
                self.entry["time"] = stamp(self.state.clock.wall())
                self.state.policy.audit.record(self.entry)


class AuditedTool(CheckedTool):
    """place_call as published: an attempt whose arguments fail the schema is in the audit trail too, refused with
    rule invalid_argument (its destination masked to the digits it holds)."""

    def refused(self, arguments: dict[str, Any], context: Any, failure: ToolFailure) -> None:
        state = state_of(context)
        destination, is_test_call, agent = (arguments.get(k) for k in ("destination", "is_test_call", "agent_id"))
        attempt = Attempt(
            state, context, destination if isinstance(destination, str) else "", is_test_call is not False, None
        )
        known = isinstance(agent, str) and re.fullmatch(ID_PATTERN, agent) is not None
        attempt.entry.update(
            decision="refused",
            rule=failure.info.code,
            error=failure.info.code,
            agent_id=agent if known else state.settings.agent_id,
            time=stamp(state.clock.wall()),
        )
        state.policy.audit.record(attempt.entry)
