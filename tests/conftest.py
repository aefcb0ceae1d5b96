from __future__ import annotations

import pytest

from bimpe_mcp.sandbox import Sandbox, SandboxConfig


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh sandbox with a frozen clock (speed 0): tests move time with `sandbox.clock.advance(...)`."""
    return Sandbox(SandboxConfig(seed=7, speed=0.0))
