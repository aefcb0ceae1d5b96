"""The `Sandbox` object: state, clock, faults, keys and the ASGI app in one place.

The app and its request pipeline are built on the first request: a server on the sandbox needs only its keys and
agents to start, and answers tools/list without loading the emulator's handlers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .clock import SandboxClock
from .config import SandboxConfig
from .data import TEAM_MAIN
from .faults import FaultSet
from .keys import ApiKey, SandboxKeys, default_keys
from .store import (
    BUSY_DESTINATION,
    CANCELLED_DESTINATION,
    FAILED_DESTINATION,
    NO_ANSWER_DESTINATION,
    World,
)
from .transport import SandboxTransport

if TYPE_CHECKING:
    import httpx2
    from starlette.applications import Starlette

    from .pipeline import ConsoleApi, RecordedRequest

DEFAULT_ORIGIN = "http://sandbox.bimpe.local"


@dataclass(frozen=True)
class SandboxAgents:
    """Seeded agent ids by role."""

    live: str
    no_channel: str
    paused: str
    other_team: str


class Sandbox:
    """An emulator of the BimpeAI Agent Console API, deterministic for a seed."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.origin = DEFAULT_ORIGIN
        self.clock = SandboxClock(self.config.start, self.config.speed)
        self.world = World.build(self.config.seed, self.config.calls, int(self.config.start.timestamp() * 1000))
        self.faults = FaultSet(self.config.faults)
        self.keys = SandboxKeys()
        self._keys: dict[str, ApiKey] = default_keys()
        w = self.world
        self.agents = SandboxAgents(
            live=w.role_id("live"),
            no_channel=w.role_id("no_channel"),
            paused=w.role_id("paused"),
            other_team=w.role_id("other_team"),
        )
        self.requests: list[RecordedRequest] = []

    @functools.cached_property
    def api(self) -> ConsoleApi:
        from .pipeline import ConsoleApi

        return ConsoleApi(self.config, self.clock, self.world, self.faults, self._keys, self.requests)

    @functools.cached_property
    def app(self) -> Starlette:
        from .app import build_app
        from .control import Control

        return build_app(self.api, Control(self.clock, self.faults, self.requests, self.describe))

    def transport(self) -> httpx2.AsyncBaseTransport:
        return SandboxTransport(lambda: self.app)

    def add_key(
        self, key: str, *, scopes: frozenset[str] | set[str], team: str = TEAM_MAIN, expired: bool = False
    ) -> None:
        """Accept one more API key, e.g. a key with a narrower set of scopes."""
        self._keys[key] = ApiKey(key, "custom", team, frozenset(scopes), expired)

    def describe(self) -> dict[str, Any]:
        """What a client needs to know: keys, agents, scripted numbers and the main settings."""
        from .app import API_PREFIX

        return {
            "origin": self.origin,
            "api_prefix": API_PREFIX,
            "keys": {
                "full": self.keys.full,
                "read_only": self.keys.read_only,
                "expired": self.keys.expired,
                "other_team": self.keys.other_team,
            },
            "agents": {
                "live": self.agents.live,
                "no_channel": self.agents.no_channel,
                "paused": self.agents.paused,
                "other_team": self.agents.other_team,
            },
            "scripted_destinations": {
                "busy": BUSY_DESTINATION,
                "failed": FAILED_DESTINATION,
                "cancelled": CANCELLED_DESTINATION,
                "no_answer": NO_ANSWER_DESTINATION,
            },
            "seed": self.config.seed,
            "calls": self.config.calls,
            "speed": self.config.speed,
            "test_call_capacity": self.config.test_call_capacity,
        }
