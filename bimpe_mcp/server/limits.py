"""Limits for a shared server, so that one client cannot take it from the others.

In front of the SDK, behind `http.Gate` (which admitted the request: Host, Origin, bearer), every request to the MCP
endpoint counts against its client's identity (`identity`: its token, its API key, or its address):

- BIMPE_HTTP_RATE_LIMIT (`120/min`): each identity's requests, paced as a token bucket in the state store
  (BIMPE_STATE_URL), so that every worker and replica sharing the store counts against one rate; one more is
  answered 429 with Retry-After. A store that cannot be reached leaves each process its own count.
- with sessions, the open sessions of each identity are capped (`sessions.SessionCap`): 503 with Retry-After.
- the request's body is read whole before the SDK sees it, so that a request cut short never reaches it.

Below the application, `ReadDeadline` (uvicorn's HTTP/1.1 protocol with a deadline) gives each request
BIMPE_HTTP_READ_TIMEOUT seconds to arrive whole, headers and body, from its first byte (from the connection's
opening, for the first): a client that trickles them is answered 408 and its connection closed. uvicorn alone waits
for headers without end.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bimpe_mcp.core.setting_values import request_rate
from bimpe_mcp.core.state import StateUnavailable, Tenanted, open_store, paced
from bimpe_mcp.server.keys import verified
from bimpe_mcp.server.sessions import SessionCap
from bimpe_mcp.tools.state import token_tenant

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
    from uvicorn.server import ServerState

    from bimpe_mcp.core.settings import Settings

log = logging.getLogger(__name__)

KINDS = {"token": "token", "key": "API key", "subject": "user", "address": "address"}
"""What each kind of identity is called in a refusal."""
LOCAL_KEPT = 10_000
SESSION_RETRY_SECONDS = 60


def digest(secret: str) -> str:
    """A digest that names a secret (a token, an API key) without holding it: the tenant of an API key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:24]


def identity(scope: Scope, auth: str) -> str:
    """Whom a request the gate admitted counts against, as `kind:name`:

    - `--auth tokens`: `token:` and a digest of the bearer token, each token its own;
    - `--auth passthrough`: `key:` and the tenant, a digest of the API key;
    - `--auth oauth`: `subject:` and the token's subject at its issuer, as a digest, so that one user's successive
      tokens count as one;
    - `--auth none`: `address:` and the client's address."""
    principal = verified() if auth == "oauth" else None
    if principal is not None:
        return f"subject:{token_tenant(principal)}"
    if auth == "none":
        client = scope.get("client")
        return f"address:{client[0] if client else 'unknown'}"
    scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
    kind = "key" if auth == "passthrough" else "token"
    return f"{kind}:{digest(token.strip()) if scheme.lower() == 'bearer' else 'none'}"


def kind_of(who: str) -> str:
    return KINDS.get(who.partition(":")[0], "client")


def shown_identity(who: str) -> str:
    """An identity as a log line shows it: its kind, and the start of its digest (or the address)."""
    kind, _, name = who.partition(":")
    return f"{KINDS.get(kind, 'client')} {name if kind == 'address' else name[:8]}"


# --- the rate -----------------------------------------------------------------------------------------------------


class RateLimit:
    """BIMPE_HTTP_RATE_LIMIT: `count` requests at once per identity, refilled at `count` per `span` seconds; kept in
    the state store, else (the store unreachable) by this process."""

    def __init__(self, text: str, store: Tenanted, now: Callable[[], float] = time.time) -> None:
        self.text = text
        self.count, self.span = request_rate(text)
        self.interval = self.span / self.count
        self.store = store
        self.now = now
        self._local: dict[str, float] = {}
        self._alone = False

    async def wait(self, who: str) -> float:
        """0 when this request of `who` is counted, else the seconds until one would be."""
        now = self.now()
        try:
            waited = await self.store.pace(who, now, self.interval, self.span)
        except StateUnavailable as exc:
            if not self._alone:
                log.warning("BIMPE_HTTP_RATE_LIMIT is counted by this process only (%s)", exc)
                self._alone = True
            return self._paced_here(who, now)
        if self._alone:
            log.warning("BIMPE_HTTP_RATE_LIMIT is counted in the state store again")
            self._alone = False
        return waited

    def _paced_here(self, who: str, now: float) -> float:
        due, waited = paced(self._local.get(who), now, self.interval, self.span)
        if waited == 0.0:
            if len(self._local) >= LOCAL_KEPT:
                self._local = {w: d for w, d in self._local.items() if d > now}
            if len(self._local) < LOCAL_KEPT or who in self._local:
                self._local[who] = due
        return waited

    async def aclose(self) -> None:
        await self.store.aclose()


def too_fast(who: str, rate: str, seconds: int) -> Response:
    """429: what the client sent too many of, and when to send again."""
    said = (f"Too many requests: this {kind_of(who)} may send {rate} to this server (BIMPE_HTTP_RATE_LIMIT) and "
            f"sent more; send again after {seconds} s (Retry-After)")  # fmt: skip
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": said, "data": {"retry_after": seconds}}}
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(seconds)})


def too_many_sessions(who: str, most: int) -> Response:
    kind = kind_of(who)
    said = (f"This {kind} holds {most} open sessions, the most one {kind} may hold: end one (DELETE with its "
            "Mcp-Session-Id) or retry once one has been idle for 30 minutes")  # fmt: skip
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": said}}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(SESSION_RETRY_SECONDS)})


# --- in front of the SDK ------------------------------------------------------------------------------------------


class Limits:
    """Between the gate and the SDK, on the MCP endpoint: the rate of each identity, its open sessions, and the
    request's body read whole. Closes the rate's store when the application stops."""

    def __init__(
        self,
        app: ASGIApp,
        path: str,
        auth: str,
        *,
        body_bytes: int,
        rate: RateLimit | None = None,
        sessions: SessionCap | None = None,
    ) -> None:
        self.app = app
        self.path = path.rstrip("/")
        self.auth = auth
        self.body_bytes = body_bytes
        self.rate = rate
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                if self.rate is not None:
                    await self.rate.aclose()
            return
        if scope["type"] != "http" or str(scope["path"]).rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        who = identity(scope, self.auth)
        refusal = await self.refusal(who, scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = await whole_body(receive, self.body_bytes)
        if body is None:
            return
        replay = replaying(body, receive)
        if self.sessions is None:
            await self.app(scope, replay, send)
        else:
            await self.sessions.serve(self.app, who, scope, replay, send)

    async def refusal(self, who: str, scope: Scope) -> Response | None:
        if self.rate is not None:
            waited = await self.rate.wait(who)
            if waited > 0:
                seconds = max(1, math.ceil(waited))
                log.info("refused a request with 429: the %s sent over BIMPE_HTTP_RATE_LIMIT %s", shown_identity(who),
                         self.rate.text)  # fmt: skip
                return too_fast(who, self.rate.text, seconds)
        opening = not any(name == b"mcp-session-id" for name, _ in scope["headers"])
        if self.sessions is not None and opening and self.sessions.full(who):
            log.warning("refused a new session with 503: the %s holds %d open sessions", shown_identity(who),
                        self.sessions.per_identity)  # fmt: skip
            return too_many_sessions(who, self.sessions.per_identity)
        return None


async def whole_body(receive: Receive, most: int) -> list[Message] | None:
    """The request's body, as the messages that carried it, read before the SDK sees any: up to `most` bytes (a
    longer body is left for the SDK to refuse with 413). None when the client left, or was cut off, before sending
    all of it."""
    got: list[Message] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        got.append(message)
        size += len(message.get("body", b""))
        if not message.get("more_body", False) or size > most:
            return got


def replaying(messages: list[Message], receive: Receive) -> Receive:
    kept = deque(messages)

    async def replay() -> Message:
        return kept.popleft() if kept else await receive()

    return replay


def limits_for(app: ASGIApp, settings: Settings, path: str, *, stateless: bool, body_bytes: int,
               now: Callable[[], float] = time.time) -> Limits:  # fmt: skip
    """The limits the settings ask for: the rate (if any) on the state store, the sessions (if any) capped."""
    rate = None
    if settings.http_rate_limit is not None:
        rate = RateLimit(settings.http_rate_limit, open_store(settings.state_url), now)
    sessions = None if stateless else SessionCap()
    return Limits(app, path, settings.http_auth, body_bytes=body_bytes, rate=rate, sessions=sessions)


# --- below the application: reading a request ---------------------------------------------------------------------


class Config(uvicorn.Config):
    """uvicorn's configuration, serving HTTP/1.1 with `ReadDeadline` and its `read_timeout`."""

    def __init__(self, app: ASGIApp | str, *, read_timeout: float, **options: Any) -> None:
        super().__init__(app, http=ReadDeadline, **options)
        self.read_timeout = read_timeout


class ReadDeadline(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), with a deadline on reading each request: from the connection's
    opening, or the request's first byte, until its body's last. A connection that sent nothing is closed; a request
    still arriving is answered 408 (unless its answer has begun) and its connection closed. Between requests,
    uvicorn's keep-alive timeout applies; once a request has arrived, its answer takes as long as it takes."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.read_timeout = config.read_timeout if isinstance(config, Config) else 30.0
        self.reading: asyncio.TimerHandle | None = None
        self.begun = False  # a byte of the request being read has arrived
        self.headed = False  # and its headers have: `self.cycle` is its own

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.begun, self.headed = True, False
        if self.reading is None:
            self._arm()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.headed = True

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.begun = self.headed = False
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self.reading = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self.reading is not None:
            self.reading.cancel()
            self.reading = None

    def _expired(self) -> None:
        self.reading = None
        if self.transport.is_closing():
            return
        if self.pipeline:  # reading waits behind an answer still going out: so does the deadline
            self._arm()
            return
        cycle = cast("RequestResponseCycle | None", self.cycle)  # None until a first request's headers arrive
        answering = cycle is not None and cycle.response_started and (self.headed or not cycle.response_complete)
        if not self.begun:
            log.debug("closed a connection that sent nothing for %s s", self.read_timeout)
        elif answering:  # this request's answer, or the one before it, is going out: no room for a 408
            log.warning("closed a connection whose request did not arrive whole within %s s", self.read_timeout)
        else:
            if self.headed and cycle is not None:
                cycle.disconnected = True  # the application reads that the client left; what it sends is dropped
                cycle.message_event.set()
            log.warning("answered 408 and closed the connection: the request did not arrive whole within %s s "
                        "(BIMPE_HTTP_READ_TIMEOUT)", self.read_timeout)  # fmt: skip
            self.transport.write(request_timeout(self.read_timeout))
        self.transport.close()


def request_timeout(seconds: float) -> bytes:
    said = (f"Request timeout: this server gives a request {seconds:g} s to arrive whole, headers and body, from its "
            "first byte (BIMPE_HTTP_READ_TIMEOUT); send it again, whole").encode()  # fmt: skip
    head = ("HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            f"content-length: {len(said)}\r\n\r\n").encode()  # fmt: skip
    return head + said
