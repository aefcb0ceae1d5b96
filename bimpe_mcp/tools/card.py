"""What the confirmation card shows of a call waiting for a person's press: the destination with its country and
local time, the agent's name and state, test or live, and the policy that applies. It reaches the card alone, in the
result's `_meta`, with the card's one-time nonce; the model reads the result's text and structured content."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bimpe_mcp.core.render import safe_line
from bimpe_mcp.policy.country_names import COUNTRY_NAMES
from bimpe_mcp.policy.decision import AgentLine, Pending
from bimpe_mcp.tools.state import AppState
from bimpe_mcp.ui import CONFIRM_URI

if TYPE_CHECKING:
    from bimpe_mcp.core.settings import Settings

CARD_META_KEY = "bimpe.ai/card"


def shows_cards(settings: Settings) -> bool:
    """Whether a call on this server may be confirmed on a card: BIMPE_CONFIRM is auto or app, and some calls need
    confirming (live calls are enabled, or test calls are confirmed too)."""
    needs = settings.allow_live_calls or settings.confirm_test_calls
    return not settings.read_only and settings.confirm in ("auto", "app") and needs


def place_call_meta(settings: Settings | None) -> dict[str, Any] | None:
    """place_call is bound to the confirmation card where calls may be confirmed on it: hosts that render MCP Apps
    show its results there."""
    return {"ui": {"resourceUri": CONFIRM_URI}} if settings is not None and shows_cards(settings) else None


def local_time(zones: tuple[str, ...], now: datetime) -> tuple[str | None, str | None]:
    """The time zone of the destination (the first, where a number spans several) and the time there now."""
    from zoneinfo import ZoneInfo

    for zone in zones:
        try:
            return zone, now.astimezone(ZoneInfo(zone)).isoformat(timespec="minutes")
        except (KeyError, ValueError):
            continue
    return None, None


async def card_meta(state: AppState, line: AgentLine, pending: Pending) -> dict[str, Any]:
    """The card's `_meta` entry: its nonce and expiry, the call, the agent as read (`line`), and the policy that
    applies."""
    call, settings = pending.call, state.settings
    now = state.clock.wall()
    zone, local = local_time(call.dest.zones, now)
    budgets = await state.policy.left(call.is_test_call)
    facts = {
        "nonce": pending.card.nonce,
        "expires_at": pending.until,
        # Seconds from now: the card counts them down on its own clock, whatever the time on the user's machine.
        "expires_in": max(0, round(pending.card.until - now.timestamp())),
        "call": {
            "kind": "test" if call.is_test_call else "live",
            "destination": call.dest.e164,
            "display": call.dest.display,
            "country": COUNTRY_NAMES.get(call.dest.region or "", call.dest.region),
            "time_zone": zone,
            "local_time": local,
            "agent_id": call.agent,
            "agent_name": safe_line(line.name) if line.name else None,
            "agent_status": line.status,
        },
        "policy": {
            "quiet_hours": settings.quiet_hours,
            "budgets": [{"window": window, "limit": limit, "left": left} for window, limit, left in budgets],
        },
    }
    return {CARD_META_KEY: facts}
