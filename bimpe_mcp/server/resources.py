"""Calls and their transcripts as resources, and completions of the agent and call ids in their templates."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
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

from bimpe_mcp.api.contract import ID_RE
from bimpe_mcp.api.errors import BimpeError
from bimpe_mcp.api.wire import WireCallDetail, WirePage
from bimpe_mcp.core import render
from bimpe_mcp.core.failures import ToolFailure, guarded
from bimpe_mcp.core.models import Call
from bimpe_mcp.reading.pages import walk_pages
from bimpe_mcp.reading.transcript_windows import TRANSCRIPT_TEMPLATE, transcript_window
from bimpe_mcp.tools.state import AppState

if TYPE_CHECKING:
    from bimpe_mcp.api.client import BimpeClient

CALL_TEMPLATE = "bimpe://agents/{agent_id}/calls/{call_id}"
AUDIT_URI = "bimpe://audit/recent"
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
    return render.transcript(transcript_window(detail, agent_id, 0, None, FULL), detail.status)


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


COMPLETION_PAGES = 10
"""Pages of 100 ids a completion reads at most (the newest first); past them it answers hasMore without a total."""
COMPLETION_SECONDS = 5.0


@dataclass
class Found:
    """Ids that start with what was typed, and whether every page was read (so that their number is the total)."""

    ids: list[str]
    complete: bool


@dataclass
class _Pages:
    """What a completion's walk has read: the first page, and the ids of every page read, in page order."""

    first: WirePage[Any] | None = None
    ids: list[list[str]] = field(default_factory=list[list[str]])

    def take(self, pages: list[WirePage[Any]]) -> int:
        """Keep a batch's ids. After the first page, read the rest (up to COMPLETION_PAGES) in one batch."""
        self.ids += [[item.id for item in page.items] for page in pages]
        if self.first is not None or not pages:
            return 0
        self.first = pages[0]
        return self.wanted - 1

    @property
    def wanted(self) -> int:
        first = self.first
        if first is None or not first.meta.has_next_page:
            return 1
        return min(first.meta.page_count, COMPLETION_PAGES)


async def _scan(read: Callable[[int], Awaitable[WirePage[Any]]], prefix: str, seconds: float) -> Found | None:
    """Read the first page, then the next ones (up to COMPLETION_PAGES, a few at a time) while time is left; None
    when the first page could not be read in time."""
    deadline = anyio.current_time() + seconds
    pages = _Pages()
    await walk_pages(read, pages.take, max_pages=COMPLETION_PAGES, deadline=deadline, partial=True)
    first = pages.first
    if first is None:
        return None
    ids = [i for page in pages.ids for i in page if i.startswith(prefix)]
    complete = len(pages.ids) == pages.wanted and (
        not first.meta.has_next_page or first.meta.page_count <= COMPLETION_PAGES
    )
    return Found(list(dict.fromkeys(ids)), complete)


async def _matching_ids(
    api: BimpeClient, argument: CompletionArgument, agent: str | None, seconds: float
) -> Found | None:
    value = argument.value
    if argument.name == "agent_id":
        return await _scan(lambda n: api.list_agents(page=n, limit=100), value, seconds)
    if argument.name == "call_id" and agent and ID_RE.fullmatch(agent):
        return await _scan(lambda n: api.list_calls(agent, page=n, limit=100, sort="-created_on"), value, seconds)
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

    async def audit_recent() -> str:
        """The latest place_call attempts, oldest first, one JSON object a line: time, decision, rule, masked
        destination, agent, test or live, idempotency key, request id, call id and client."""
        state = current()
        # Resources are read only while the server runs, inside its lifespan, where the state is set.
        assert state is not None
        entries = await state.policy.recent()
        return "\n".join(json.dumps(entry, separators=(",", ":")) for entry in entries)

    mcp.resource(AUDIT_URI, name="audit_recent", title="Recent place_call attempts", mime_type="application/jsonl")(
        audit_recent
    )

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
            found = await _matching_ids(
                state.api(), argument, agent, min(COMPLETION_SECONDS, state.settings.deadline_seconds)
            )
        except (BimpeError, TimeoutError):
            return None
        if found is None:
            return None
        more = len(found.ids) > 100
        # A search that stopped before the last page knows no total, and cannot rule out more matches.
        if not found.complete:
            return Completion(values=found.ids[:100], has_more=True)
        return Completion(values=found.ids[:100], total=len(found.ids), has_more=more)
