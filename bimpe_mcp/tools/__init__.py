"""The tool set: each tool is declared once, beside its body, in the module of its capability; this list orders
them as hosts list them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bimpe_mcp.tools.agents import get_agent, list_agents
from bimpe_mcp.tools.call_stats import call_stats
from bimpe_mcp.tools.calls import get_call, get_transcript, list_calls, show_calls, wait_for_call
from bimpe_mcp.tools.placing import confirm_call, place_call
from bimpe_mcp.tools.runtime import DeclaredTool
from bimpe_mcp.tools.transcripts import get_transcripts

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

    from bimpe_mcp.core.settings import Settings

TOOLS: tuple[DeclaredTool, ...] = (
    list_agents,
    list_calls,
    get_call,
    get_transcript,
    wait_for_call,
    show_calls,
    call_stats,
    get_transcripts,
    get_agent,
    place_call,
    confirm_call,
)


def tool_set(*, read_only: bool, settings: Settings | None = None) -> list[Tool]:
    """Every tool, in the order hosts list them; read-only mode leaves out every tool that changes anything.
    `settings` completes the descriptions that depend on them (none without), and leaves out the tools they do not
    call for (confirm_call where no call is confirmed on a card)."""
    return [
        declared.published(settings)
        for declared in TOOLS
        if not (read_only and declared.changes_state) and declared.listed(settings)
    ]
