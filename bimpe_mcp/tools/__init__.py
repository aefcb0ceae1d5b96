"""The tool set: each tool is a module-level function in the module of its capability; this list publishes them."""

from __future__ import annotations

from mcp.server.mcpserver.tools import Tool

from bimpe_mcp.tools.agents import get_agent, list_agents
from bimpe_mcp.tools.call_stats import call_stats
from bimpe_mcp.tools.calls import get_call, get_transcript, list_calls, show_calls_tool, wait_for_call
from bimpe_mcp.tools.confirming import AuditedTool
from bimpe_mcp.tools.placing import place_call
from bimpe_mcp.tools.runtime import READ, WRITE, publish
from bimpe_mcp.tools.transcripts import get_transcripts


def tool_set(*, read_only: bool) -> list[Tool]:
    """Every tool, in the order hosts list them; read-only mode leaves out every tool that changes anything."""
    tools = [
        publish(list_agents, "List agents", READ),
        publish(list_calls, "List calls", READ),
        publish(get_call, "Get call", READ),
        publish(get_transcript, "Get transcript", READ),
        publish(wait_for_call, "Wait for call", READ),
        show_calls_tool(),
        publish(call_stats, "Call stats", READ),
        publish(get_transcripts, "Get transcripts", READ),
        publish(get_agent, "Get agent", READ),
    ]
    if read_only:
        return tools
    return [*tools, publish(place_call, "Place call", WRITE, AuditedTool)]
