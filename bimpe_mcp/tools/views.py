"""Tools whose results a host can show as an interactive view (MCP Apps); every other host gets the usual text."""

from __future__ import annotations

from mcp.server.mcpserver.tools import Tool

from bimpe_mcp import render
from bimpe_mcp.models import Call, CallPage, paging
from bimpe_mcp.tools.args import AgentIdArg, PageArg
from bimpe_mcp.tools.runtime import READ, Ctx, Reply, answers, publish, state_of
from bimpe_mcp.ui import CALLS_URI

NEWEST_FIRST = "-created_on"


@answers()
async def show_calls(ctx: Ctx, agent_id: AgentIdArg = None, page: PageArg = 1) -> Reply[CallPage]:
    """Shows the user an agent's calls: a sortable table, outcomes per day, transcripts on click.

    Returns list_calls' pages of 100 calls."""
    state = state_of(ctx)
    api = state.api()
    agent = state.agent(agent_id)
    wire = await api.list_calls(agent, page=page, limit=100, sort=NEWEST_FIRST)
    result = CallPage(
        agent_id=agent,
        calls=[Call.model_validate(c) for c in wire.items],
        applied_filters={"sort": NEWEST_FIRST},
        **paging(wire.meta),
        skipped_records=wire.skipped,
    )
    return Reply(result, render.call_page(result))


def show_calls_tool() -> Tool:
    """show_calls as published: a read tool bound to the calls view."""
    tool = publish(show_calls, "Show calls", READ)
    tool.meta = {"ui": {"resourceUri": CALLS_URI}}
    return tool
