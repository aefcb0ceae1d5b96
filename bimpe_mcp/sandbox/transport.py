"""An in-process httpx2 transport onto the sandbox app that fails the way a network does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import anyio
import httpx2
from starlette.types import ASGIApp, Receive, Scope, Send

# Set in the scope of every request this transport carries: there a dropped connection is raised as
# `ConnectionDropped`, because the ASGI transport has no way to report a half-sent body as a lost connection.
IN_PROCESS_SCOPE_KEY = "bimpe_sandbox.in_process"


class ConnectionDropped(Exception):
    """Raised inside the in-process transport to model a connection closed without an answer."""


class SandboxTransport(httpx2.AsyncBaseTransport):
    """Wraps `httpx2.ASGITransport`: a dropped connection becomes `httpx2.RemoteProtocolError`, and a
    read timeout set on the request becomes `httpx2.ReadTimeout` (the ASGI transport alone ignores it). The app is
    asked of `app` on each request, so that it can be built on the first."""

    def __init__(self, app: Callable[[], ASGIApp]) -> None:
        async def in_process(scope: Scope, receive: Receive, send: Send) -> None:
            await app()({**scope, IN_PROCESS_SCOPE_KEY: True}, receive, send)

        self._inner = httpx2.ASGITransport(app=in_process)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = cast("dict[str, Any]", request.extensions.get("timeout") or {})
        read_timeout = timeouts.get("read")
        try:
            if isinstance(read_timeout, int | float):
                with anyio.fail_after(float(read_timeout)):
                    return await self._inner.handle_async_request(request)
            return await self._inner.handle_async_request(request)
        except ConnectionDropped:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from None
        except TimeoutError:
            raise httpx2.ReadTimeout("Timed out waiting for the sandbox to answer.", request=request) from None
