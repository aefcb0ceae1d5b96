"""An embedded emulator of the BimpeAI Agent Console API (see docs/sandbox.md).

The names below load their module on first use, so that importing a light module of the package (`hosts`) costs
no more than that module.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import API_PREFIX
    from .clock import SandboxClock
    from .config import Fault, SandboxConfig
    from .core import DEFAULT_ORIGIN, Sandbox, SandboxAgents
    from .faults import FaultSet
    from .keys import SandboxKeys
    from .pipeline import REPLAY_HEADER, RecordedRequest
    from .standalone import SandboxServer, serve
    from .store import BUSY_DESTINATION, CANCELLED_DESTINATION, FAILED_DESTINATION, NO_ANSWER_DESTINATION

# Each public name and the module that holds it.
_HOMES = {
    "API_PREFIX": "app",
    "BUSY_DESTINATION": "store",
    "CANCELLED_DESTINATION": "store",
    "DEFAULT_ORIGIN": "core",
    "FAILED_DESTINATION": "store",
    "NO_ANSWER_DESTINATION": "store",
    "REPLAY_HEADER": "pipeline",
    "Fault": "config",
    "FaultSet": "faults",
    "RecordedRequest": "pipeline",
    "Sandbox": "core",
    "SandboxAgents": "core",
    "SandboxClock": "clock",
    "SandboxConfig": "config",
    "SandboxKeys": "keys",
    "SandboxServer": "standalone",
    "serve": "standalone",
}

__all__ = [
    "API_PREFIX",
    "BUSY_DESTINATION",
    "CANCELLED_DESTINATION",
    "DEFAULT_ORIGIN",
    "FAILED_DESTINATION",
    "NO_ANSWER_DESTINATION",
    "REPLAY_HEADER",
    "Fault",
    "FaultSet",
    "RecordedRequest",
    "Sandbox",
    "SandboxAgents",
    "SandboxClock",
    "SandboxConfig",
    "SandboxKeys",
    "SandboxServer",
    "serve",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
