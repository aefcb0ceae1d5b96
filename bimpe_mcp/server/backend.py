"""What the server talks to: the API on the network, or the embedded sandbox in its place (its transport, its demo
key, its clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from pydantic import SecretStr

from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.settings import Settings

if TYPE_CHECKING:
    import httpx2


class Backend(NamedTuple):
    """What the server talks to: its settings, the transport to the API (None: the network) and the clock that
    says what time it is there."""

    settings: Settings
    transport: httpx2.AsyncBaseTransport | None
    clock: Clock


def with_sandbox(settings: Settings) -> Backend:
    """In sandbox mode: the in-process emulator's transport and clock, its demo key, and its agent with a live
    channel as the default agent. Otherwise the settings as they are, on the network."""
    if not settings.sandbox:
        return Backend(settings, None, Clock())
    # Imported here so that a server on the real API never loads the emulator.
    from bimpe_mcp.sandbox import Sandbox, SandboxConfig

    # The seeded calls lead up to the sandbox's start: starting it now gives `today` and `yesterday` real answers.
    box = Sandbox(SandboxConfig(speed=settings.sandbox_speed, start=datetime.now(UTC).replace(microsecond=0)))
    update = {
        "api_key": SecretStr(box.keys.full),
        "base_url": box.origin,
        "agent_id": settings.agent_id or box.agents.live,
    }
    return Backend(settings.model_copy(update=update), box.transport(), Clock(wall=box.clock.now))
