"""The server's sense of time, one object so that tests can substitute a clock they move."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import anyio


class Clock:
    """Time as tools see it: tests substitute one that moves the sandbox's clock instead of sleeping.

    `wall` is where the date and time are read: the embedded sandbox's own clock, so that `today`, budgets and quiet
    hours follow it at any speed (waits stay in real seconds)."""

    def __init__(self, wall: Callable[[], datetime] | None = None) -> None:
        self._wall = wall

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def wall(self) -> datetime:
        """The current date and time (UTC): what `today` and `24h` count from, and what call budgets and quiet hours
        are read on."""
        return self._wall() if self._wall is not None else datetime.now(UTC)
