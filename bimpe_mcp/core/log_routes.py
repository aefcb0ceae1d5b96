"""The server's own log records, forwarded to the client as `notifications/message` at the level it asked for.

What is forwarded: records of the `bimpe_mcp` loggers (retries given up, unreadable records skipped, watches
stopped, ...) that the server's own log level lets through, at or above the client's level. Python levels map to
MCP levels as DEBUG→debug, INFO→info, WARNING→warning, ERROR→error, CRITICAL→critical; a client level of notice
passes WARNING and above, alert and emergency pass nothing (the server never logs that high).

Where a record goes: to the client whose request (or subscription watch) emitted it, never to another client.
On 2025-11-25 connections the level is the one `logging/setLevel` set for the connection (none: nothing is sent);
on 2026-07-28 it is the request's own `io.modelcontextprotocol/logLevel` opt-in, and records ride that request's
stream only, as the era requires. The API key is replaced by `[redacted]` in every forwarded line.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar, get_args

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp_types import LoggingLevel

LEVELS: Final[tuple[LoggingLevel, ...]] = get_args(LoggingLevel)
"""MCP levels, least severe first."""
THRESHOLDS: Final[dict[LoggingLevel, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO + 5,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL + 10,
    "emergency": logging.CRITICAL + 20,
}
QUEUED = 100
"""Records waiting to be sent on one route; more are dropped (and counted) rather than block the server."""
LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel"

T = TypeVar("T")
Send = Callable[[dict[str, Any]], Awaitable[None]]


def mcp_level(levelno: int) -> LoggingLevel:
    for name in ("critical", "error", "warning", "info"):
        if levelno >= THRESHOLDS[name]:
            return name
    return "debug"


def level_named(value: object) -> LoggingLevel | None:
    return next((level for level in LEVELS if level == value), None)


class Route:
    """Where the records of one request (or one watch) go: a bounded queue that one task drains to the client."""

    def __init__(self, level: Callable[[], LoggingLevel | None], send: Send, secret: str | None) -> None:
        self._level = level
        self._send = send
        self._secret = secret if secret and len(secret) >= 4 else None
        self._thread = threading.get_ident()
        self._queue: MemoryObjectSendStream[dict[str, Any]] | None = None
        self.dropped = 0

    def offer(self, record: logging.LogRecord) -> None:
        level = self._level()
        if level is None or record.levelno < THRESHOLDS[level]:
            return
        if threading.get_ident() != self._thread:
            # A record from a worker thread: anyio's streams belong to the event loop's thread.
            return
        text = record.getMessage()
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        params = {"level": mcp_level(record.levelno), "logger": record.name, "data": text}
        try:
            if self._queue is not None:
                self._queue.send_nowait(params)
        except (anyio.WouldBlock, anyio.ClosedResourceError):
            self.dropped += 1

    async def _run(self, drain: MemoryObjectReceiveStream[dict[str, Any]]) -> None:
        async with drain:
            async for params in drain:
                await self._send(params)

    async def forwarding(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work`, forwarding the records it emits as they come; those still queued are sent before returning."""
        outcome: list[T] = []
        failure: list[Exception] = []
        self._queue, drain = anyio.create_memory_object_stream[dict[str, Any]](QUEUED)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run, drain)
            token = _ROUTE.set(self)
            try:
                outcome.append(await work())
            except Exception as exc:  # noqa: BLE001 - raised again below, outside the task group that would wrap it
                failure.append(exc)
            finally:
                _ROUTE.reset(token)
                self._queue.close()
                self._queue = None
        if failure:
            raise failure[0]
        return outcome[0]


_ROUTE: contextvars.ContextVar[Route | None] = contextvars.ContextVar("bimpe_mcp_log_route", default=None)


class Forwarder(logging.Handler):
    """Hands each record to the route of the task that emitted it, if that task has one."""

    def emit(self, record: logging.LogRecord) -> None:
        route = _ROUTE.get()
        if route is None:
            return
        try:
            route.offer(record)
        except Exception:  # noqa: BLE001 - a handler's top level: logging reports it, the logging call goes on
            self.handleError(record)


def install() -> None:
    """Attach the one forwarder to the `bimpe_mcp` loggers (once per process; it is idle without routes)."""
    root = logging.getLogger("bimpe_mcp")
    if not any(isinstance(h, Forwarder) for h in root.handlers):
        root.addHandler(Forwarder())
