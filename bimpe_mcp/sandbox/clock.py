"""The sandbox clock: real time scaled by a speed, plus a manual offset tests can move."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Virtual now = start + real elapsed * speed + manual offset."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self._start_ms = int(start.timestamp() * 1000)
        self._speed = speed
        self._origin = time.monotonic()
        self._offset_ms = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        elapsed = (time.monotonic() - self._origin) * self._speed * 1000.0
        return self._start_ms + int(elapsed + self._offset_ms)

    def now(self) -> datetime:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=self.now_ms())

    def advance(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the sandbox clock only moves forward by a finite number of seconds")
        self._offset_ms += seconds * 1000.0


def iso_ms(ms: int) -> str:
    """Format epoch milliseconds as YYYY-MM-DDTHH:MM:SS.mmmZ."""
    secs, frac = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:03d}Z"
