"""What the server lifespan hands to every tool and resource."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import anyio

from bimpe_mcp.client import BimpeClient
from bimpe_mcp.config import Settings
from bimpe_mcp.errors import ToolFailure, not_configured


class Clock:
    """Time as tools see it: tests substitute one that moves the sandbox's clock instead of sleeping."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@dataclass
class AppState:
    settings: Settings
    client: BimpeClient | None
    clock: Clock = field(default_factory=Clock)
    placed_keys: dict[str, str] = field(default_factory=dict[str, str])

    def api(self) -> BimpeClient:
        if self.client is None:
            raise not_configured()
        return self.client

    def agent(self, agent_id: str | None) -> str:
        chosen = agent_id or self.settings.agent_id
        if not chosen:
            raise ToolFailure(
                "invalid_argument",
                "agent_id is required: no default agent is configured",
                "Call list_agents to find the agent's id and pass it as agent_id.",
            )
        return chosen
