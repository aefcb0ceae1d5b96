"""Calls and their transcripts as resources, and completions of the agent and call ids in their templates."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import (
    Annotations,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)

from bimpe_mcp import render
from bimpe_mcp.api.contract import ID_RE
from bimpe_mcp.api.errors import BimpeError
from bimpe_mcp.api.wire import WireCallDetail
from bimpe_mcp.models import Call
from bimpe_mcp.state import AppState
from bimpe_mcp.tool_errors import ToolFailure, guarded
from bimpe_mcp.transcripts import TRANSCRIPT_TEMPLATE, transcript_window

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient

CALL_TEMPLATE = "bimpe://agents/{agent_id}/calls/{call_id}"
FULL = 10_000_000

Ctx = Context[AppState, Any]


async def _detail(ctx: Ctx, agent_id: str, call_id: str) -> WireCallDetail:
    state: AppState = ctx.request_context.lifespan_context
    try:
        return await guarded(state.settings.deadline_seconds, lambda: state.api().get_call(agent_id, call_id))
    except ToolFailure as failure:
        info = failure.info
    if info.code in ("not_found", "invalid_argument"):
        raise ResourceNotFoundError(info.text())
    raise ResourceError(info.text())


async def call_transcript(agent_id: str, call_id: str, ctx: Ctx) -> str:
    """A call's whole transcript as compact text: one line per turn with index, time offset and speaker."""
    detail = await _detail(ctx, agent_id, call_id)
    return render.transcript(transcript_window(detail, agent_id, 0, None, FULL))


async def call(agent_id: str, call_id: str, ctx: Ctx) -> str:
    """One call as JSON: status, numbers, timings, reasons, and its transcript turns."""
    detail = await _detail(ctx, agent_id, call_id)
    body = {
        "call": Call.model_validate(detail).model_dump(mode="json"),
        "started_at": detail.started_at,
        "answered_at": detail.answered_at,
        "transcript": transcript_window(detail, agent_id, 0, None, FULL).model_dump(mode="json"),
    }
    return json.dumps(body, separators=(",", ":"))


async def _matching_ids(api: BimpeClient, argument: CompletionArgument, agent: str | None) -> list[str] | None:
    value = argument.value
    if argument.name == "agent_id":
        agents = await api.list_agents(limit=100)
        return [a.id for a in agents.items if a.id.startswith(value)]
    if argument.name == "call_id" and agent and ID_RE.fullmatch(agent):
        calls = await api.list_calls(agent, limit=100)
        return [c.id for c in calls.items if c.id.startswith(value)]
    return None


def register_resources(mcp: MCPServer[AppState], current: Callable[[], AppState | None]) -> None:
    """Register the resource templates, and the completion handler that reads the running server's state through
    `current` (the SDK hands completion handlers no context, so they cannot reach the lifespan state themselves)."""
    mcp.resource(
        TRANSCRIPT_TEMPLATE,
        name="call_transcript",
        title="Call transcript",
        mime_type="text/plain",
        annotations=Annotations(audience=["assistant", "user"], priority=0.8),
    )(call_transcript)
    mcp.resource(CALL_TEMPLATE, name="call", title="Call", mime_type="application/json")(call)

    @mcp.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        state = current()
        if state is None or state.connector is None:
            return None
        args = (context.arguments if context else None) or {}
        agent = args.get("agent_id") or state.settings.agent_id
        try:
            with anyio.fail_after(min(5.0, state.settings.deadline_seconds)):
                ids = await _matching_ids(state.api(), argument, agent)
        except (BimpeError, TimeoutError):
            return None
        if ids is None:
            return None
        return Completion(values=ids[:100], total=len(ids), has_more=False)
