"""The API's transport on the network: httpx's interface on aiohttp's connection pool.

httpcore's pool checks every kept connection on each request (a `getpeername` and a `poll` each), which cost a
remote server answering many clients at once about a third of its CPU; aiohttp's pool hands out a free connection
without scanning. `httpx_aiohttp` adapts one to the other. What this module adds on top:

- failures keep the httpx type that says what happened (a refused connection is a `ConnectError`, a dropped one a
  `RemoteProtocolError`, a slow answer a `ReadTimeout`), on the request and while the body is read, so the client's
  messages and retries stay those of httpx's own transport;
- no cookies are kept: every request carries its own key, and one client's cookies must never reach another's;
- proxies and CA bundles come from the environment, as with httpx (`HTTPS_PROXY`, `NO_PROXY`, `SSL_CERT_FILE`),
  read once for the API's origin: aiohttp's own reading of the environment re-reads it, and `~/.netrc`, on every
  request.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Generator
from contextlib import contextmanager
from urllib.parse import urlsplit

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

# Failures that can escape aiohttp (or the adapter's mapping of them) while a request is sent or its body is read.
_FAILURES = (httpx.TransportError, aiohttp.ClientError, TimeoutError)


def precise(exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx error that names what went wrong, from aiohttp's error (or the adapter's coarser mapping of it)."""
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ is not None else exc
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(cause, TimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, httpx.TransportError) and not isinstance(cause, aiohttp.ClientError):
        return exc  # already httpx's own word for it
    elif isinstance(cause, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.ReadError
    return kind(f"{type(cause).__name__} on {request.method} {request.url.path}", request=request)


@contextmanager
def _named(request: httpx.Request) -> Generator[None]:
    """Failures inside, re-raised as the `precise` httpx error (an httpx error already precise goes on as it is)."""
    try:
        yield
    except _FAILURES as exc:
        named = precise(exc, request)
        if named is exc:
            raise
        raise named from exc


class _Body(httpx.AsyncByteStream):
    """A response body whose read failures are reported as `precise` httpx errors."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _named(self._request):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _named(self._request):
            await self._inner.aclose()


def proxy_for(origin: str) -> httpx.Proxy | None:
    """The proxy the environment names for `origin` (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, minus `NO_PROXY`)."""
    parts = urlsplit(origin)
    found = urllib.request.getproxies()
    url = found.get(parts.scheme) or found.get("all")
    if not url or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return httpx.Proxy(url)


class NetworkTransport(httpx.AsyncBaseTransport):
    """Keeps up to `connections` connections to `origin` open; the session is made on first use, inside the
    running loop."""

    def __init__(self, origin: str, connections: int) -> None:
        self._connections = connections
        self._inner = AiohttpTransport(client=self._session, proxy=proxy_for(origin))

    def _session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._connections, ssl=httpx.create_ssl_context())
        return aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _named(request):
            response = await self._inner.handle_async_request(request)
        if isinstance(response.stream, httpx.AsyncByteStream):
            response.stream = _Body(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
