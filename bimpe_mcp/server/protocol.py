"""Protocol features MCPServer leaves to the server, served in each era as far as that era can carry them.

2025-11-25 (handshake) connections: `logging/setLevel` sets the connection's log level, and `resources/subscribe` /
`resources/unsubscribe` start and stop watching a call resource; updates go out as `notifications/resources/updated`
on the connection. 2026-07-28 connections have neither method: a `subscriptions/listen` stream that names call
resources gets them watched for as long as it is open (the SDK's listen handler delivers the updates from the
subscription bus), and logs are a per-request opt-in (see logs.py). Watches end when the call ends, on unsubscribe,
and when the session (or the listen stream) closes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from mcp import MCPError
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    EmptyResult,
    LoggingLevel,
    LoggingMessageNotification,
    LoggingMessageNotificationParams,
    SetLevelRequestParams,
    SubscribeRequestParams,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.log_routes import LOG_LEVEL_META_KEY, Route, level_named
from bimpe_mcp.core.render import safe_line
from bimpe_mcp.reading.watch import SESSION_WATCHES, Watch, WatchLimitError
from bimpe_mcp.server.sdk import connection_of, lowlevel
from bimpe_mcp.tools.state import AppState

Ctx = ServerRequestContext[AppState, Any]
SESSION_KEY = "bimpe_mcp.session"


@dataclass
class Session:
    """What one 2025-11-25 connection asked for: its log level and the resources it subscribed to."""

    log_level: LoggingLevel | None = None
    subscribed: dict[str, Watch | None] = field(default_factory=dict[str, "Watch | None"])

    def close(self) -> None:
        for watch in self.subscribed.values():
            if watch is not None:
                watch.stop()
        self.subscribed.clear()


def session_of(ctx: Ctx) -> Session:
    connection = connection_of(ctx)
    session = connection.state.get(SESSION_KEY)
    if not isinstance(session, Session):
        session = Session()
        connection.state[SESSION_KEY] = session
        connection.exit_stack.callback(session.close)
    return session


def secret_of(state: AppState) -> str | None:
    """The key no log line sent to a client may show: the server's own, or with passthrough the request's."""
    if state.connector is not None and state.connector.passthrough:
        token = get_access_token()
        return token.token if token else None
    return state.settings.api_key.get_secret_value() if state.settings.api_key else None


async def set_level(ctx: Ctx, params: SetLevelRequestParams) -> EmptyResult:
    session_of(ctx).log_level = params.level
    return EmptyResult()


def refuse_per_client_keys(state: AppState) -> None:
    """A watch polls on after the request that started it and is shared by every subscriber of a resource: with
    each client's own key (`--auth passthrough`) it would hold that key beyond its request and tell one client of
    changes to another's call, so there are no watches."""
    if state.connector is not None and state.connector.passthrough:
        raise MCPError(
            INVALID_REQUEST,
            "resource subscriptions are off on this server (each client brings its own API key): follow a call "
            "with wait_for_call or get_call instead",
        )


async def subscribe(ctx: Ctx, params: SubscribeRequestParams) -> EmptyResult:
    uri = str(params.uri)
    refuse_per_client_keys(ctx.lifespan_context)
    session = session_of(ctx)
    current = session.subscribed.get(uri)
    if uri in session.subscribed and (current is None or not current.done.is_set()):
        return EmptyResult()
    if len(session.subscribed) >= SESSION_WATCHES and uri not in session.subscribed:
        raise MCPError(
            INVALID_REQUEST,
            f"this session already subscribes to {SESSION_WATCHES} resources: unsubscribe from one first",
        )
    connection = connection_of(ctx)
    if not connection.has_standalone_channel:
        raise MCPError(
            INVALID_REQUEST,
            "this connection cannot carry notifications (stateless HTTP): subscribe over stdio or stateful HTTP",
        )

    async def notify() -> None:
        await connection.send_resource_updated(uri)

    async def send_log(params: dict[str, Any]) -> None:
        await connection.notify("notifications/message", params)

    route = Route(lambda: session.log_level, send_log, secret_of(ctx.lifespan_context))
    try:
        state = ctx.lifespan_context
        session.subscribed[uri] = state.watcher.start(uri, state.read_call, notify, route)
    except WatchLimitError as exc:
        raise MCPError(INVALID_REQUEST, f"{exc}: try again when a watched call has ended") from None
    return EmptyResult()


async def unsubscribe(ctx: Ctx, params: UnsubscribeRequestParams) -> EmptyResult:
    watch = session_of(ctx).subscribed.pop(str(params.uri), None)
    if watch is not None:
        watch.stop()
    return EmptyResult()


def _requested_level(ctx: Ctx) -> Callable[[], LoggingLevel | None] | None:
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        level = level_named(member(member(ctx.params, "_meta"), LOG_LEVEL_META_KEY))
        return None if level is None else (lambda: level)
    session = session_of(ctx)
    return None if session.log_level is None else (lambda: session.log_level)


async def log_routes(ctx: Ctx, call_next: CallNext) -> HandlerResult:
    """Middleware: the records a request emits go to its client, on that request's stream, at the client's level."""
    level = _requested_level(ctx) if ctx.request_id is not None else None
    if level is None:
        return await call_next(ctx)
    request_id = ctx.request_id

    async def send(params: dict[str, Any]) -> None:
        note = LoggingMessageNotification(params=LoggingMessageNotificationParams.model_validate(params))
        await ctx.session.send_notification(note, related_request_id=request_id)

    route = Route(level, send, secret_of(ctx.lifespan_context))
    return await route.forwarding(lambda: call_next(ctx))


def listen_watches(bus: SubscriptionBus) -> ServerMiddleware[Any]:
    """Middleware: the call resources a `subscriptions/listen` stream names are watched while the stream is open.

    The SDK's listen handler subscribes to the bus before its first await, so it hears every update: a watch
    publishes only after reading the call twice."""

    async def middleware(ctx: Ctx, call_next: CallNext) -> HandlerResult:
        uris = _listened(ctx.params) if ctx.method == "subscriptions/listen" else []
        if len(uris) > SESSION_WATCHES:
            raise MCPError(INVALID_PARAMS, f"a listen stream may subscribe to at most {SESSION_WATCHES} resources")
        state = ctx.lifespan_context
        if uris:
            refuse_per_client_keys(state)
        releases: list[Callable[[], None]] = []
        try:
            for uri in uris:
                releases.append(state.watcher.share(uri, state.read_call, _publisher(bus, uri)))
        except WatchLimitError as exc:
            for release in releases:
                release()
            raise MCPError(INVALID_REQUEST, f"{exc}: try again when a watched call has ended") from None
        try:
            return await call_next(ctx)
        finally:
            for release in releases:
                release()

    return middleware


def _publisher(bus: SubscriptionBus, uri: str) -> Callable[[], Any]:
    async def publish() -> None:
        await bus.publish(ResourceUpdated(uri=uri))

    return publish


# How many wrong fields a -32602 names (the rest are counted).
NAMED_PROBLEMS = 3


async def params_named(ctx: Ctx, call_next: CallNext) -> HandlerResult:
    """Middleware: a request whose params do not have its method's shape is answered -32602 naming each wrong field
    and what it must be, where the SDK says only "Invalid request parameters". Never the value sent: a field's path
    and the rule it broke come from the method's schema (a key the client chose is repeated only short and
    key-free). Anything else the SDK validates (a result, say) is left to it."""
    try:
        return await call_next(ctx)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        if not errors or any(not error["loc"] or error["loc"][0] != "params" for error in errors):
            raise
        problems = [f"{_path(error['loc'])}: {safe_line(error['msg'])}" for error in errors]
        more = len(problems) - NAMED_PROBLEMS
        said = "; ".join(problems[:NAMED_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise MCPError(
            INVALID_PARAMS, f"Invalid request parameters: {said}", data={"problems": problems[:NAMED_PROBLEMS]}
        ) from None


def _path(loc: tuple[int | str, ...]) -> str:
    """`params.arguments`, `params.context.arguments['my key']`, `...[a key of 16 characters]`: a name as itself
    where it is one, anything else (an index, a key the client chose) in brackets, as `shown` allows."""
    text = ""
    for part in loc:
        if isinstance(part, str) and part.isidentifier() and shown(part, clean=str) == part:
            text += f".{part}" if text else part
        else:
            text += f"[{part}]" if isinstance(part, int) else f"[{shown(part, 24, noun='a key')}]"
    return text


def member(value: object, key: str) -> object:
    """`value[key]` of a JSON object from the wire, or None when it is no object or lacks the key."""
    return cast("dict[str, Any]", value).get(key) if isinstance(value, dict) else None


def _listened(params: object) -> list[str]:
    uris = member(member(params, "notifications"), "resourceSubscriptions")
    if not isinstance(uris, list):
        return []
    return list(dict.fromkeys(u for u in cast("list[Any]", uris) if isinstance(u, str)))


def register_protocol(mcp: MCPServer[AppState]) -> None:
    server = lowlevel(mcp)
    server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    server.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
