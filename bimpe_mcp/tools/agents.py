"""Tools about the team's agents."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bimpe_mcp import render
from bimpe_mcp.models import Agent, AgentPage, paging
from bimpe_mcp.tools.args import LimitArg, PageArg
from bimpe_mcp.tools.runtime import Ctx, Reply, answers, state_of


@answers()
async def list_agents(
    ctx: Ctx,
    page: PageArg = 1,
    limit: LimitArg = 20,
    search: Annotated[str | None, Field(max_length=255, description="Text to match in name or description")] = None,
) -> Reply[AgentPage]:
    """Lists the team's voice agents (id, name, status). Use it to find the agent_id the other tools take."""
    state = state_of(ctx)
    wire = await state.api().list_agents(page=page, limit=limit, search=search)
    result = AgentPage(
        agents=[Agent.model_validate(a) for a in wire.items],
        default_agent_id=state.settings.agent_id,
        **paging(wire.meta),
    )
    return Reply(result, render.agent_page(result))
