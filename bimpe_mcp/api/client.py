"""BimpeClient: the Agent Console API over one pooled httpx2.AsyncClient, with id checks, retries and idempotency."""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote

import anyio
import httpx2
import stamina
from pydantic import BaseModel, ValidationError
from stamina.instrumentation import RetryDetails, set_on_retry_hooks

from bimpe_mcp import __version__
from bimpe_mcp.api.contract import API_PREFIX, check_id
from bimpe_mcp.api.errors import ApiError, BimpeError, ProtocolError, TransportError, note_request_id
from bimpe_mcp.api.redact import redact_call
from bimpe_mcp.api.tracing import api_request, template_of
from bimpe_mcp.api.wire import (
    PageMeta,
    WireAgent,
    WireAgentDetail,
    WireCall,
    WireCallDetail,
    WireChannel,
    WireMakeCallResult,
    WirePage,
)

USER_AGENT = f"bimpe-mcp/{__version__}"
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

log = logging.getLogger(__name__)
retry_log = logging.getLogger("bimpe_mcp.retry")
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def _log_retry(details: RetryDetails) -> None:
    # The exception's type only: its text can carry bytes from the API.
    cause = type(details.caused_by).__name__
    retry_log.info("retry %d of %s in %.1f s after %s", details.retry_num, details.name, details.wait_for, cause)


# Scheduled retries as one INFO line each on the bimpe_mcp.retry logger, instead of stamina's default WARNING (or,
# with structlog installed, lines on stdout, where the stdio protocol runs). Set here, where stamina is first loaded:
# nothing retries before this module is imported, and start-up loads neither.
set_on_retry_hooks([_log_retry])


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def http_client(base_url: str, timeout: float, transport: httpx2.AsyncBaseTransport | None) -> httpx2.AsyncClient:
    """The one pooled HTTP client to the API (or to the in-process sandbox through `transport`).

    On the network, proxies and CA certificates come from the environment (`HTTP_PROXY`, `HTTPS_PROXY`,
    `ALL_PROXY` minus `NO_PROXY`; `SSL_CERT_FILE`), read once here; in-process, the environment plays no part."""
    from http.cookiejar import DefaultCookiePolicy

    client = httpx2.AsyncClient(
        base_url=base_url,
        transport=transport,
        # Enough kept-alive connections for a remote server answering many clients at once (an HTTP replica).
        limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64),
        timeout=httpx2.Timeout(timeout, connect=min(10.0, timeout)),
        follow_redirects=False,
        trust_env=transport is None,
    )
    # No cookie is ever kept: each request carries its own key, and in passthrough mode one client's cookies would
    # reach the next client's requests.
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


class BimpeClient:
    """Typed access to the endpoints the server uses. One instance per process, built in the server lifespan."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        api_key: str,
        *,
        max_retries: int = 2,
        retry_after_cap: float = 10.0,
        redact: bool = False,
    ) -> None:
        self._redact = redact
        self._http = http
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._attempts = max_retries + 1
        self._retry_after_cap = retry_after_cap

    # --- endpoints -------------------------------------------------------------------------------------------

    async def list_agents(self, *, page: int = 1, limit: int = 20, search: str | None = None) -> WirePage[WireAgent]:
        query = {"page": page, "limit": limit, "search": search}
        return await self._send("GET", ("agents",), lambda body: _page(body, WireAgent, page, limit), query=query)

    async def get_agent(self, agent_id: str) -> WireAgentDetail:
        return await self._send("GET", ("agents", check_id("agent_id", agent_id)), lambda b: _one(b, WireAgentDetail))

    async def list_channels(self, agent_id: str) -> list[WireChannel]:
        def read(body: dict[str, Any]) -> list[WireChannel]:
            raw = body.get("data")
            return _items(cast("list[Any]", raw) if isinstance(raw, list) else [], WireChannel)[0]

        return await self._send("GET", ("agents", check_id("agent_id", agent_id), "channels"), read)

    async def list_calls(
        self,
        agent_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        search: str | None = None,
        sort: str | None = None,
        status: str | None = None,
        is_test_call: bool | None = None,
    ) -> WirePage[WireCall]:
        query: dict[str, Any] = {
            "page": page,
            "limit": limit,
            "search": search,
            "sort": sort,
            "status": status,
            "is_test_call": None if is_test_call is None else str(is_test_call).lower(),
        }
        path = ("agents", check_id("agent_id", agent_id), "calls")
        found = await self._send("GET", path, lambda body: _page(body, WireCall, page, limit), query=query)
        if self._redact:
            found.items = [redact_call(call) for call in found.items]
        return found

    async def get_call(self, agent_id: str, call_id: str) -> WireCallDetail:
        path = ("agents", check_id("agent_id", agent_id), "calls", check_id("call_id", call_id))
        call = await self._send("GET", path, lambda body: _one(body, WireCallDetail))
        return redact_call(call) if self._redact else call

    async def place_call(
        self, agent_id: str, *, destination: str, is_test_call: bool, idempotency_key: str
    ) -> WireMakeCallResult:
        path = ("agents", check_id("agent_id", agent_id), "calls")
        return await self._send(
            "POST",
            path,
            lambda body: _one(body, WireMakeCallResult),
            json={"destination": destination, "is_test_call": is_test_call},
            idempotency_key=idempotency_key,
        )

    # --- transport -------------------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        parts: tuple[str, ...],
        read: Callable[[dict[str, Any]], R],
        *,
        query: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> R:
        """One request, retried as its method allows; `read` turns the envelope into the result. Every failure
        names the X-Request-Id sent."""
        request = _Request(
            method=method,
            url=API_PREFIX + "/" + "/".join(quote(p, safe="") for p in parts),
            params={k: v for k, v in (query or {}).items() if v is not None},
            headers={
                **self._auth,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                "X-Request-Id": str(uuid.uuid4()),
            },
            json=json,
            asked=_asked(parts),
            template=template_of(parts, ID_NAMES, API_PREFIX),
        )
        if idempotency_key is not None:
            request.headers["Idempotency-Key"] = idempotency_key
        note_request_id(request.headers["X-Request-Id"])
        # A write is retried only when it carries an Idempotency-Key: the API then answers a repeat with the original.
        attempts = self._attempts if method == "GET" or idempotency_key is not None else 1
        acted = False  # whether a failed attempt may have been acted on: then no later refusal proves nothing was done
        sent = 0

        async def attempt_once() -> dict[str, Any]:
            nonlocal acted, sent
            sent += 1
            try:
                return await self._once(request, resends=sent - 1)
            except BimpeError as exc:
                acted = acted or not exc.refused_before_acting
                exc.refused_before_acting = not acted
                raise

        try:
            envelope = await attempt_once()
        except BimpeError as failed:
            # Most requests succeed at once: the retry machinery is built only for one that failed.
            envelope = await _retried(attempt_once, failed, attempts, self._should_retry)
        try:
            return read(envelope)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), exc.request_id or request.headers["X-Request-Id"]) from None

    def _should_retry(self, exc: Exception) -> bool | float:
        if isinstance(exc, TransportError):
            return True
        if isinstance(exc, ApiError) and exc.status in RETRYABLE_STATUSES:
            if exc.retry_after is None:
                return True
            # Honour the server's wait when it fits the cap and ends before the caller's deadline; otherwise hand
            # the wait back to the caller at once (waiting into the deadline would only turn it into a timeout).
            within_cap = exc.retry_after <= self._retry_after_cap
            before_deadline = anyio.current_time() + exc.retry_after < anyio.current_effective_deadline()
            return exc.retry_after if within_cap and before_deadline else False
        return False

    async def _once(self, request: _Request, resends: int = 0) -> dict[str, Any]:
        sent_id = request.headers["X-Request-Id"]
        try:
            with api_request(request.method, request.template, request.url, self._http.base_url, resends) as span:
                response = await self._http.request(
                    request.method, request.url, params=request.params, headers=request.headers, json=request.json
                )
                span.answered(response.status_code, response.headers.get("x-request-id") or sent_id)
        except httpx2.TimeoutException:
            raise TransportError("the API did not answer in time", sent_id) from None
        except httpx2.ConnectError as exc:
            raise TransportError(f"could not reach the API ({type(exc).__name__})", sent_id) from None
        except httpx2.TransportError as exc:
            raise TransportError(f"the connection to the API failed ({type(exc).__name__})", sent_id) from None
        request_id = response.headers.get("x-request-id") or sent_id
        try:
            body: Any = _mended(response.json()) if _ESCAPED_SURROGATE.search(response.content) else response.json()
        except ValueError:
            body = None
        if response.is_success:
            envelope: dict[str, Any] = cast("dict[str, Any]", body) if isinstance(body, dict) else {}
            if not isinstance(envelope.get("message"), str) or "data" not in envelope:
                raise ProtocolError(f"HTTP {response.status_code} without the JSON envelope", request_id)
            return envelope
        raise _api_error(request, response, body, request_id)


async def _retried(
    attempt: Callable[[], Awaitable[dict[str, Any]]],
    failed: BimpeError,
    attempts: int,
    should_retry: Callable[[Exception], bool | float],
) -> dict[str, Any]:
    """The attempts after a first one that failed with `failed`: stamina judges that failure as its own first
    attempt (and waits as it would before the second), then sends again while `should_retry` allows."""
    unjudged = [failed]
    async for retry in stamina.retry_context(
        on=should_retry, attempts=attempts, timeout=None, wait_initial=0.25, wait_max=4.0, wait_jitter=0.5
    ):
        with retry:
            if unjudged:
                raise unjudged.pop()
            return await attempt()
    raise AssertionError("stamina ends with an answer or the last failure")  # pragma: no cover


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    json: Mapping[str, Any] | None
    asked: dict[str, str]
    template: str


ID_NAMES = {"agents": "agent_id", "calls": "call_id"}


def _asked(parts: tuple[str, ...]) -> dict[str, str]:
    """The ids a path names, by argument name: ("agents", "a1", "calls", "c1") is agent_id a1 and call_id c1."""
    return {ID_NAMES[kind]: ident for kind, ident in zip(parts[::2], parts[1::2], strict=False) if kind in ID_NAMES}


# JSON may spell a lone UTF-16 surrogate (\\ud800); Python reads it into a str that no UTF-8 output can carry.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _mended(value: Any) -> Any:
    """A parsed JSON value with every lone surrogate replaced by U+FFFD (paired ones were already joined)."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_mended(v) for v in cast("list[Any]", value)]
    if isinstance(value, dict):
        return {_mended(k): _mended(v) for k, v in cast("dict[Any, Any]", value).items()}
    return value


def _api_error(request: _Request, response: httpx2.Response, body: Any, request_id: str) -> ApiError:
    status = response.status_code
    obj: dict[str, Any] = cast("dict[str, Any]", body) if isinstance(body, dict) else {}
    raw = obj.get("message")
    message = raw if isinstance(raw, str) else f"HTTP {status}"
    field_errors: list[tuple[str, str]] = []
    if isinstance(raw, list):
        texts = [str(m) for m in cast("list[Any]", raw)]
        message = "; ".join(texts)
        for text in texts:
            path, _, msg = text.partition(":")
            field_errors.append((path.strip(), msg.strip()) if msg else ("", text))
    errors = obj.get("errors")
    if isinstance(errors, list) and not field_errors:
        for item in cast("list[Any]", errors):
            if isinstance(item, dict):
                entry = cast("dict[str, Any]", item)
                field_errors.append((str(entry.get("path", "")), str(entry.get("message", ""))))
    code = obj.get("code")
    body_rid = obj.get("request_id")
    if not response.headers.get("x-request-id") and isinstance(body_rid, str):
        request_id = body_rid
    return ApiError(
        status,
        message[:500],
        code=code if isinstance(code, str) else None,
        request_id=request_id,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        field_errors=field_errors,
        method=request.method,
        asked=request.asked,
    )


def _items(raw: list[Any], model: type[M]) -> tuple[list[M], int]:
    items: list[M] = []
    skipped = 0
    for record in raw:
        try:
            items.append(model.model_validate(record))
        except ValidationError:
            skipped += 1
    if skipped:
        log.warning("skipped %d unreadable %s record(s) in a list response", skipped, model.__name__)
    return items, skipped


def _page(body: dict[str, Any], model: type[M], page: int, limit: int) -> WirePage[M]:
    raw = body.get("data")
    if not isinstance(raw, list):
        raise ProtocolError("a list response without a data array")
    data = cast("list[Any]", raw)
    items, skipped = _items(data, model)
    try:
        meta = PageMeta.model_validate(body.get("meta"))
    except ValidationError:
        # No usable meta: report this page alone, and never invite the caller to fetch past it.
        meta = PageMeta(
            total_count=len(data),
            page_count=page,
            current_page=page,
            limit=limit,
            has_previous_page=page > 1,
        )
    if not data:
        meta = meta.model_copy(update={"has_next_page": False})
    return WirePage(items=items, meta=meta, skipped=skipped)


def _one(body: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(body.get("data"))
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "data" for e in exc.errors()})
        raise ProtocolError(f"unexpected response shape (fields: {', '.join(fields)})") from None
