"""With stateful sessions, the open sessions of each client identity (`limits.identity`: its token, its API key, its
address) are capped: one client opening sessions without end fills its own share, never the server's whole cap, so
every other client still opens its own. Sessions live in the process that opened them, and so does their count.

A session counts from the answer that opened it (its Mcp-Session-Id) until the client ends it (DELETE), the server
no longer knows it (404), or it has had no request in flight for the SDK's idle timeout, when the SDK closes it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSIONS_PER_IDENTITY = 100
"""The open sessions one client identity may hold at once (the SDK's cap for the whole server is 10,000)."""
SESSION_HEADER = "mcp-session-id"


@dataclass
class Open:
    last: float
    in_flight: int = 0


class SessionCap:
    """The open sessions of each identity, by session id."""

    def __init__(self, per_identity: int = SESSIONS_PER_IDENTITY, idle: float = DEFAULT_SESSION_IDLE_TIMEOUT) -> None:
        self.per_identity = per_identity
        self.idle = idle
        self._open: dict[str, dict[str, Open]] = {}

    def full(self, identity: str) -> bool:
        """Whether the identity holds its share of sessions, those the SDK has closed for idleness left out."""
        mine = self._open.get(identity, {})
        now = time.monotonic()
        for sid in [sid for sid, s in mine.items() if s.in_flight == 0 and now - s.last >= self.idle]:
            del mine[sid]
        if not mine:
            self._open.pop(identity, None)
        return len(mine) >= self.per_identity

    def _mine(self, identity: str) -> dict[str, Open]:
        return self._open.setdefault(identity, {})

    async def serve(self, app: ASGIApp, identity: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The request, with the identity's sessions kept up to date from what it asked and what it was answered. A
        request that may open a session holds a place among them until it is answered, so that requests sent at
        once never open more than the share; the session it opens takes that place as its answer starts, before the
        client can send another."""
        asked = _header(scope, SESSION_HEADER)
        held = [asked or f"opening-{id(scope)}"]  # the place this request holds, then the session it opened
        self._mine(identity).setdefault(held[0], Open(time.monotonic())).in_flight += 1
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                sid = _header(message, SESSION_HEADER)
                if sid and asked is None and status[0] < 400:
                    mine = self._mine(identity)
                    mine.pop(held[0], None)
                    mine[sid] = Open(time.monotonic(), in_flight=1)
                    held[0] = sid
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            mine = self._mine(identity)
            place = mine.get(held[0])
            if place is not None:
                place.in_flight -= 1
                place.last = time.monotonic()
            ended = (scope["method"] == "DELETE" and status[0] < 400) or status[0] == 404
            if ended or held[0].startswith("opening-"):
                mine.pop(held[0], None)
            if not mine:
                self._open.pop(identity, None)


def _header(holder: Scope | Message, name: str) -> str | None:
    for key, value in holder.get("headers", ()):
        if key.decode("latin-1").lower() == name:
            return value.decode("latin-1")
    return None
