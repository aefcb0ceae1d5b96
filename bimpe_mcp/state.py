"""What the server lifespan hands to every tool and resource."""

from __future__ import annotations

from dataclasses import dataclass, field

from bimpe_mcp.client import BimpeClient
from bimpe_mcp.config import Settings
from bimpe_mcp.errors import ToolFailure, not_configured


@dataclass
class AppState:
    settings: Settings
    client: BimpeClient | None
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
