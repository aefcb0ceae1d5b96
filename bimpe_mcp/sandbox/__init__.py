"""An embedded emulator of the BimpeAI Agent Console API (see docs/sandbox.md)."""

from __future__ import annotations

from .app import API_PREFIX
from .clock import SandboxClock
from .config import Fault, SandboxConfig
from .core import DEFAULT_ORIGIN, Sandbox, SandboxAgents
from .faults import FaultSet
from .keys import SandboxKeys
from .pipeline import REPLAY_HEADER, RecordedRequest
from .standalone import SandboxServer, serve
from .store import BUSY_DESTINATION, CANCELLED_DESTINATION, FAILED_DESTINATION, NO_ANSWER_DESTINATION

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
