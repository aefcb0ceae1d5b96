"""With `--auth passthrough` and stateful sessions, the open sessions of each tenant (a digest of its API key) are
capped: one key opening sessions without end fills its own share, never the server's whole cap, so every other
tenant still opens its own.

A session counts from the answer that opened it (its Mcp-Session-Id) until the client ends it (DELETE), the server
no longer knows it (404), or it has had no request in flight for the SDK's idle timeout, when the SDK closes it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSIONS_PER_KEY = 100
"""The open sessions one API key may hold at once (the SDK's cap for the whole server is 10,000)."""
SESSION_HEADER = "mcp-session-id"


@dataclass
class Open:
    last: float
    in_flight: int = 0


class SessionCap:
    """The open sessions of each tenant, by session id."""

    def __init__(self, per_key: int = SESSIONS_PER_KEY, idle: float = DEFAULT_SESSION_IDLE_TIMEOUT) -> None:
        self.per_key = per_key
        self.idle = idle
        self._open: dict[str, dict[str, Open]] = {}

    def full(self, tenant: str) -> bool:
        """Whether the tenant holds its share of sessions, those the SDK has closed for idleness left out."""
        mine = self._open.get(tenant, {})
        now = time.monotonic()
        for sid in [sid for sid, s in mine.items() if s.in_flight == 0 and now - s.last >= self.idle]:
            del mine[sid]
        if not mine:
            self._open.pop(tenant, None)
        return len(mine) >= self.per_key

    def _mine(self, tenant: str) -> dict[str, Open]:
        return self._open.setdefault(tenant, {})

    async def serve(self, app: ASGIApp, tenant: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The request, with the tenant's sessions kept up to date from what it asked and what it was answered. A
        request that may open a session holds a place among them until it is answered, so that requests sent at
        once never open more than the share."""
        asked = _header(scope, SESSION_HEADER)
        place = asked or f"opening-{id(scope)}"
        self._mine(tenant).setdefault(place, Open(time.monotonic())).in_flight += 1
        status = [0]
        opened: list[str] = []

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                sid = _header(message, SESSION_HEADER)
                if sid and asked is None and status[0] < 400:
                    opened.append(sid)
                    self._mine(tenant)[sid] = Open(time.monotonic())
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            mine = self._mine(tenant)
            held = mine.get(place)
            if held is not None:
                held.in_flight -= 1
                held.last = time.monotonic()
            ended = (scope["method"] == "DELETE" and status[0] < 400) or status[0] == 404
            if asked is None or ended:
                mine.pop(place, None)
            for sid in opened:
                mine[sid].last = time.monotonic()
            if not mine:
                self._open.pop(tenant, None)


def _header(holder: Scope | Message, name: str) -> str | None:
    for key, value in holder.get("headers", ()):
        if key.decode("latin-1").lower() == name:
            return value.decode("latin-1")
    return None
