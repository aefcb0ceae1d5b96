"""Tools about the team's agents."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bimpe_mcp.api.wire import line_numbers, live_lines
from bimpe_mcp.core import render
from bimpe_mcp.core.models import Agent, AgentPage, AgentReadiness, Channel, paging
from bimpe_mcp.tools.arguments import AgentIdArg, LimitArg, PageArg
from bimpe_mcp.tools.confirming import can_elicit
from bimpe_mcp.tools.runtime import READ, Ctx, Reply, state_of, tool


@tool("List agents", READ)
async def list_agents(
    ctx: Ctx,
    page: PageArg = 1,
    limit: LimitArg = 20,
    search: Annotated[str | None, Field(max_length=255, description="Text to match in name or description")] = None,
) -> Reply[AgentPage]:
    """Lists the team's voice agents (id, name, status); other tools take their agent_id."""
    state = state_of(ctx)
    wire = await state.api().list_agents(page=page, limit=limit, search=search)
    result = AgentPage(
        agents=[Agent.model_validate(a) for a in wire.items],
        default_agent_id=state.settings.agent_id,
        **paging(wire.meta),
    )
    return Reply(result, render.agent_page(result))


@tool("Get agent", READ)
async def get_agent(ctx: Ctx, agent_id: AgentIdArg = None) -> Reply[AgentReadiness]:
    """Returns an agent's status, language, time zone, channels, phone numbers and whether it can place live calls."""
    state = state_of(ctx)
    api = state.api()
    agent = state.agent(agent_id)
    detail = await api.get_agent(agent)
    wire = await api.list_channels(agent)
    channels = [Channel.model_validate(c) for c in wire]
    settings = state.settings
    blocked: list[str] = []
    if settings.read_only:
        blocked.append("this server is read-only")
    if not settings.allow_live_calls:
        blocked.append("live calls are disabled on this server (BIMPE_ALLOW_LIVE_CALLS)")
    asks = settings.confirm in ("auto", "elicit")
    if asks and settings.allow_live_calls and not settings.read_only and not can_elicit(ctx):
        blocked.append(f"this client cannot ask the user to confirm a call (BIMPE_CONFIRM={settings.confirm})")
    if not live_lines(wire):
        blocked.append("no connected telephony channel: link a phone number to the agent in the dashboard")
    result = AgentReadiness.model_validate(
        detail.model_dump()
        | {
            "is_default": agent == settings.agent_id,
            "channels": channels,
            "phone_numbers": line_numbers(wire),
            "can_place_live_calls": not blocked,
            "live_calls_blocked_by": blocked,
        }
    )
    return Reply(result, render.agent_readiness(result, confirmed=settings.confirm != "off"))
