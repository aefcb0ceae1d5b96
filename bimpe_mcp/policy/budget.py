"""Call budgets per hour and per day, counted by this server process on the server's clock."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

WINDOWS = (("hour", timedelta(hours=1)), ("day", timedelta(days=1)))


class Budget:
    """Dials of one kind (test or live) and their limits; a dial is counted once per idempotency key."""

    def __init__(self, per_hour: int | None, per_day: int | None) -> None:
        self.limits = {"hour": per_hour, "day": per_day}
        self._times: deque[datetime] = deque()
        self._keys: set[str] = set()

    def exhausted(self, now: datetime) -> tuple[str, datetime | None] | None:
        """The window whose limit is reached, and when a dial is possible again (None: never, a limit of 0)."""
        while self._times and now - self._times[0] >= WINDOWS[-1][1]:
            self._times.popleft()
        for name, span in WINDOWS:
            limit = self.limits[name]
            if limit is None:
                continue
            inside = [t for t in self._times if now - t < span]
            if len(inside) >= limit:
                return name, (inside[-limit] + span if limit else None)
        return None

    def count(self, key: str, now: datetime) -> None:
        if key not in self._keys:
            self._keys.add(key)
            self._times.append(now)
