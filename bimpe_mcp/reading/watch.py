"""Watching calls in progress for resource subscribers: one bounded poll loop per watched resource, which calls
`notify` whenever the call's status or transcript changes, and stops when the call ends."""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import anyio
import anyio.abc

from bimpe_mcp.api.contract import ID_PATTERN, TERMINAL
from bimpe_mcp.api.wire import WireCallDetail
from bimpe_mcp.core import render
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.log_routes import Route
from bimpe_mcp.reading.transcript_windows import transcript_window

log = logging.getLogger(__name__)

WATCH_SECONDS = 2.0
"""How often a watched call is read again."""
SERVER_WATCHES = 200
"""Calls watched at once by the whole server: each costs one API request per WATCH_SECONDS."""
SESSION_WATCHES = 20
"""Resources one session (or one subscriptions/listen stream) may subscribe to at once."""
FAILURES_KEPT = 5
"""Consecutive failed reads after which a watch gives up."""

_ID = ID_PATTERN.strip("^$")
CALL_URI = re.compile(rf"bimpe://agents/(?P<agent>{_ID})/calls/(?P<call>{_ID})(?P<transcript>/transcript)?")
FULL = 10_000_000

Fetch = Callable[[str, str], Awaitable[WireCallDetail]]
Notify = Callable[[], Awaitable[None]]


class WatchLimitError(Exception):
    """The server already watches as many calls as it may."""


def state_digest(detail: WireCallDetail, agent_id: str) -> str:
    """What a subscriber is told about: the call's status and its whole transcript."""
    transcript = render.transcript(transcript_window(detail, agent_id, 0, None, FULL), detail.status)
    return hashlib.sha256(f"{detail.status}\n{transcript}".encode()).hexdigest()


@dataclass(eq=False)
class Watch:
    uri: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)

    def stop(self) -> None:
        self.scope.cancel()


@dataclass
class _Shared:
    watch: Watch
    holders: int = 0


class Watcher:
    """Runs the watches of the whole server in one task group, entered with the server's lifespan."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._running: set[Watch] = set()
        self._shared: dict[str, _Shared] = {}
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        # Told nothing of the exception in flight, the task group waits for the cancelled watches and lets that
        # exception go on as it is, instead of wrapping it in an exception group.
        await self._tg.__aexit__(None, None, None)
        return None

    @property
    def clock(self) -> Clock:
        return self._clock

    def start(self, uri: str, fetch: Fetch, notify: Notify, route: Route | None = None) -> Watch | None:
        """Watch the call behind `uri` until it ends, its log records going to `route`; None when `uri` names no
        call of ours (nothing to watch)."""
        match = CALL_URI.fullmatch(uri)
        if match is None:
            return None
        assert self._tg is not None, "watches run inside the server's lifespan"
        if len(self._running) >= SERVER_WATCHES:
            raise WatchLimitError(f"this server already watches {SERVER_WATCHES} calls")
        watch = Watch(uri)
        self._running.add(watch)
        follow = functools.partial(self._follow, watch, match["agent"], match["call"], fetch, notify)
        self._tg.start_soon(self._run, watch, follow, route)
        return watch

    def share(self, uri: str, fetch: Fetch, notify: Notify) -> Callable[[], None]:
        """One watch of `uri` for every holder at once (each gets the same `notify`); the returned function lets go
        of it, and the last to let go stops it."""
        shared = self._shared.get(uri)
        if shared is None or shared.watch.done.is_set():
            watch = self.start(uri, fetch, notify)
            if watch is None:
                return lambda: None
            shared = self._shared[uri] = _Shared(watch)
        shared.holders += 1
        held = shared

        def release() -> None:
            held.holders -= 1
            if held.holders == 0:
                held.watch.stop()
                if self._shared.get(uri) is held:
                    del self._shared[uri]

        return release

    async def _run(self, watch: Watch, follow: Callable[[], Awaitable[None]], route: Route | None) -> None:
        try:
            with watch.scope:
                await (route.forwarding(follow) if route else follow())
        except Exception:  # a background task's top level: one failing watch must not end the server
            log.exception("watching %s failed", watch.uri)
        finally:
            self._running.discard(watch)
            watch.done.set()

    async def _follow(self, watch: Watch, agent_id: str, call_id: str, fetch: Fetch, notify: Notify) -> None:
        seen: str | None = None
        failures = 0
        while True:
            try:
                detail = await fetch(agent_id, call_id)
            except ToolFailure as failure:
                failures += 1
                if not failure.info.retryable or failures >= FAILURES_KEPT:
                    log.warning("stopped watching %s: %s", watch.uri, failure.info.code)
                    return
                await self._clock.sleep(max(WATCH_SECONDS, failure.info.retry_after_seconds or 0.0))
                continue
            failures = 0
            now = state_digest(detail, agent_id)
            if seen is not None and now != seen:
                await notify()
            seen = now
            if (detail.status or "") in TERMINAL:
                log.debug("%s ended (%s): watch done", watch.uri, detail.status)
                return
            await self._clock.sleep(WATCH_SECONDS)
