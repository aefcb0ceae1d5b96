"""The SDK's private names this package still needs, each where no public way exists in mcp 2.3, with the SDK change
that would let it go. Nothing else in the package reaches past the SDK's public surface."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.mcpserver import MCPServer


def lowlevel(mcp: MCPServer[Any]) -> Server[Any]:
    """The lowlevel Server under an MCPServer.

    Needed for two things MCPServer has no public way to do: registering the spec methods it does not serve
    (`logging/setLevel`, `resources/subscribe`, `resources/unsubscribe`; an extension's MethodBinding refuses spec
    methods, and the capabilities sent at initialize, which the SDK derives from the registered handlers, must name
    them), and serving it over streams of our own (`run_stdio_async` opens the SDK's stdio streams itself). Goes
    when MCPServer makes its lowlevel server public (the SDK's in-memory transport reaches it the same way, with a
    note that it is to become public) or takes request handlers and transport streams of its own."""
    return mcp._lowlevel_server  # pyright: ignore[reportPrivateUsage]


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection:
    """The connection a lowlevel request arrived on.

    Its `state` is the SDK's place for per-connection data and its `exit_stack` the hook for per-connection
    teardown (watches end with the session), but a lowlevel handler's context reaches the connection only through
    the request's session, which keeps it private. Goes when ServerRequestContext (or ServerSession) exposes the
    connection, as `mcp.server.context.Context.connection` (the SDK's newer per-request context) already does."""
    return ctx.session._connection  # pyright: ignore[reportPrivateUsage]
