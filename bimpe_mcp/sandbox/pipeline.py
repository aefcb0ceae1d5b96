"""The request pipeline of the Console API, an ASGI app mounted under the API prefix.

Every request is recorded, then meets, in order: injected faults, the rate limit, the route (404/405), the key
(401), its scopes (403), idempotency replay or conflict, and then its handler. Faults marked `after` change the
answer the handler gave.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.datastructures import Headers, QueryParams
from starlette.types import Message, Receive, Scope, Send

from .clock import SandboxClock, iso_ms
from .config import Fault, SandboxConfig
from .errors import SandboxApiError, validation_error
from .faults import STATUS_CODES, FaultSet, drift, malformed, non_json_body
from .handlers import ApiRequest
from .keys import ApiKey
from .routes import ApiRoute, resolve
from .store import World
from .transport import IN_PROCESS_SCOPE_KEY, ConnectionDropped

REPLAY_HEADER = "X-Sandbox-Idempotent-Replay"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
IDEMPOTENCY_PRUNE_AT = 10_000  # cache size at which expired entries are dropped
RATE_WINDOWS_PRUNE_AT = 10_000  # buckets at which those of past windows are dropped
RECORDED_HEADERS = ("idempotency-key", "x-request-id", "user-agent", "content-type", "accept")
# Faults that answer in place of the handler, and those that change a success it gave.
REPLACING_FAULTS = frozenset({"status", "drop", "non_json"})
SUCCESS_FAULTS = frozenset({"malformed", "drift"})


@dataclass
class RecordedRequest:
    """One API request as the sandbox saw it. The credential itself is never kept."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    auth: str | None
    key: str | None
    endpoint: str | None
    request_id: str
    at: str
    status: int | None = None
    idempotent_replay: bool = False
    fault: str | None = None


@dataclass
class Outgoing:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=lambda: {})
    replay: bool = False


@dataclass(frozen=True)
class Incoming:
    """What the pipeline reads of a request before any step runs."""

    method: str
    path: str  # after the API prefix, without a trailing slash
    full_path: str
    headers: Headers
    query_string: str
    body: bytes
    request_id: str
    auth_kind: str | None  # how a key was sent: "bearer", "x-api-key", or "authorization" (another scheme)
    token: str | None
    route: ApiRoute | None
    params: dict[str, str]
    path_known: bool

    @classmethod
    async def read(cls, scope: Scope, receive: Receive) -> Incoming:
        method: str = scope["method"]
        root: str = scope.get("root_path", "")
        full_path: str = scope["path"]
        path = full_path[len(root) :] if root and full_path.startswith(root) else full_path
        path = path.rstrip("/") or "/"
        headers = Headers(scope=scope)
        body = await _read_body(receive)
        route, params, path_known = resolve(method, path)
        auth_kind, token = _credentials(headers)
        return cls(
            method=method,
            path=path,
            full_path=full_path,
            headers=headers,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            body=body,
            request_id=headers.get("x-request-id") or str(uuid.uuid4()),
            auth_kind=auth_kind,
            token=token,
            route=route,
            params=params,
            path_known=path_known,
        )


def _credentials(headers: Headers) -> tuple[str | None, str | None]:
    """(how a key was sent, the key); `Authorization` wins over `X-Api-Key`."""
    auth = headers.get("authorization")
    if auth is not None:
        scheme, _, rest = auth.strip().partition(" ")
        if scheme.lower() == "bearer":
            return "bearer", rest.strip() or None
        return "authorization", None
    api_key = headers.get("x-api-key")
    if api_key is not None:
        return "x-api-key", api_key.strip() or None
    return None, None


def authenticate(incoming: Incoming, keys: Mapping[str, ApiKey]) -> ApiKey:
    headers = incoming.headers
    auth = headers.get("authorization")
    if auth is None and headers.get("x-api-key") is None:
        raise SandboxApiError(
            401, "unauthorized", "No API key provided. Send Authorization: Bearer sk_... or X-Api-Key: sk_..."
        )
    if auth is not None and auth.strip() and incoming.auth_kind != "bearer":
        raise SandboxApiError(401, "api_key_invalid", "Invalid API key.")
    if not incoming.token:
        raise SandboxApiError(401, "api_key_missing", "The API key header is present but empty.")
    key = keys.get(incoming.token)
    if key is None:
        raise SandboxApiError(401, "api_key_invalid", "Invalid API key.")
    if key.expired:
        raise SandboxApiError(401, "api_key_expired", "This API key has expired.")
    return key


def authorize(key: ApiKey, endpoint: str, config: SandboxConfig) -> None:
    required = config.scope_map.get(endpoint)
    if required is None or required in key.scopes:
        return
    if (
        config.accept_conversations_read_for_call_reads
        and endpoint in ("calls.list", "calls.retrieve")
        and "conversations:read" in key.scopes
    ):
        return
    raise SandboxApiError(403, "insufficient_scope", f"This API key is missing the required scope: {required}.")


class RateLimiter:
    """A fixed window per bucket (the presented key string), on the sandbox clock."""

    def __init__(self, clock: SandboxClock, config: SandboxConfig) -> None:
        self._clock = clock
        self._config = config
        self._windows: dict[str, tuple[int, int]] = {}

    def count(self, bucket: str) -> tuple[dict[str, str], int | None]:
        """Count one request: (the rate-limit headers, seconds to wait if it is over the limit)."""
        limit = self._config.rate_limit
        now_ms = self._clock.now_ms()
        window_ms = self._config.rate_window_seconds * 1000
        window = now_ms // window_ms
        current, count = self._windows.get(bucket, (window, 0))
        if current != window:
            count = 0
        count += 1
        if len(self._windows) > RATE_WINDOWS_PRUNE_AT:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        self._windows[bucket] = (window, count)
        reset_ms = (window + 1) * window_ms
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - count, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset_ms / 1000)),
        }
        if count > limit:
            return headers, max(1, math.ceil((reset_ms - now_ms) / 1000))
        return headers, None


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: bytes
    expires_ms: int


@dataclass(frozen=True)
class IdempotencySlot:
    """Where the answer to a write with an `Idempotency-Key` is kept."""

    cache_key: tuple[str, str, str, str]
    fingerprint: str


class IdempotencyCache:
    """Answers to writes, by (API key, method, path, Idempotency-Key), replayed byte for byte."""

    def __init__(self, clock: SandboxClock, config: SandboxConfig) -> None:
        self._clock = clock
        self._config = config
        self._entries: dict[tuple[str, str, str, str], _Stored] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, incoming: Incoming, key: ApiKey) -> Outgoing | IdempotencySlot | None:
        """The answer to replay, or the slot to keep this request's answer in, or None for a request without
        an `Idempotency-Key` or one that is not a write."""
        idem = incoming.headers.get("idempotency-key")
        if incoming.method not in WRITE_METHODS or idem is None:
            return None
        if not idem.strip() or len(idem) > 255:
            raise validation_error([("Idempotency-Key", "must be between 1 and 255 characters")])
        slot = IdempotencySlot((key.key, incoming.method, incoming.path, idem), _body_digest(incoming.body))
        entry = self._entries.get(slot.cache_key)
        if entry is None or entry.expires_ms <= self._clock.now_ms():
            return slot
        if entry.fingerprint != slot.fingerprint and self._config.idempotency_conflict_on_body_mismatch:
            raise SandboxApiError(
                409, "conflict", "This Idempotency-Key was already used with a different request body."
            )
        return Outgoing(entry.status, entry.body, replay=True)

    def keep(self, slot: IdempotencySlot, reply: Outgoing) -> None:
        """Keep an answer for replay, unless a retry could get another one (5xx, 429)."""
        if reply.status >= 500 or reply.status == 429:
            return
        now_ms = self._clock.now_ms()
        if len(self._entries) >= IDEMPOTENCY_PRUNE_AT:
            self._entries = {k: v for k, v in self._entries.items() if v.expires_ms > now_ms}
        expires = now_ms + self._config.idempotency_window_seconds * 1000
        self._entries[slot.cache_key] = _Stored(slot.fingerprint, reply.status, reply.body, expires)


def _body_digest(body: bytes) -> str:
    """A JSON body compared canonically (key order and spacing do not count); any other body byte for byte."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


class ConsoleApi:
    """The ASGI app of the Console API: the pipeline, then the handler of the route."""

    def __init__(
        self,
        config: SandboxConfig,
        clock: SandboxClock,
        world: World,
        faults: FaultSet,
        keys: Mapping[str, ApiKey],
        requests: list[RecordedRequest],
    ) -> None:
        self._config = config
        self._clock = clock
        self._world = world
        self._faults = faults
        self._keys = keys
        self._requests = requests
        self._rate_limiter = RateLimiter(clock, config)
        self._idempotency = IdempotencyCache(clock, config)

    @property
    def cached_responses(self) -> int:
        """Idempotency entries held (expired ones are dropped when the cache grows large)."""
        return len(self._idempotency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan is handled by Starlette
            return
        incoming = await Incoming.read(scope, receive)
        record = self._record(incoming)
        before = self._faults.take(incoming.method, incoming.path, REPLACING_FAULTS | {"latency"}, after=False)
        for f in before:
            if f.kind == "latency":
                await anyio.sleep(f.seconds)
        limit_headers, retry_after = self._rate_limiter.count(incoming.token or "anonymous")
        terminal = next((f for f in before if f.kind != "latency"), None)
        reply: Outgoing | None
        if terminal is not None:
            record.fault = terminal.kind
            reply = None if terminal.kind == "drop" else _fault_reply(terminal, incoming.request_id)
        elif retry_after is not None:
            reply = _error_reply(_rate_limited(retry_after), incoming.request_id)
        else:
            reply = self._after_faults(incoming, record, self._handle(incoming))
        if reply is None:
            await _drop(scope, send)
            return
        record.status = reply.status
        record.idempotent_replay = reply.replay
        headers = {"X-Request-Id": incoming.request_id, **limit_headers, **reply.headers}
        if reply.replay:
            headers[REPLAY_HEADER] = "true"
        await _send(send, reply, headers)

    def _record(self, incoming: Incoming) -> RecordedRequest:
        token = incoming.token
        known = self._keys.get(token) if token else None
        record = RecordedRequest(
            method=incoming.method,
            path=incoming.path,
            query=incoming.query_string,
            headers={h: v for h in RECORDED_HEADERS if (v := incoming.headers.get(h)) is not None},
            auth=incoming.auth_kind,
            key=None if token is None else (known.role if known else "unknown"),
            endpoint=incoming.route.name if incoming.route else None,
            request_id=incoming.request_id,
            at=iso_ms(self._clock.now_ms()),
        )
        self._requests.append(record)
        overflow = len(self._requests) - self._config.max_recorded_requests
        if overflow > 0:
            del self._requests[:overflow]
        return record

    def _handle(self, incoming: Incoming) -> Outgoing:
        slot: IdempotencySlot | None = None
        try:
            route = incoming.route
            if route is None:
                status = 405 if incoming.path_known else 404
                code = "bad_request" if incoming.path_known else "not_found"
                raise SandboxApiError(status, code, f"Cannot {incoming.method} {incoming.full_path}")
            key = authenticate(incoming, self._keys)
            authorize(key, route.name, self._config)
            found = self._idempotency.lookup(incoming, key)
            if isinstance(found, Outgoing):
                return found
            slot = found
            answer = route.handler(self._request(incoming, key))
            reply = Outgoing(answer.status, _json(answer.body))
        except SandboxApiError as error:
            reply = _error_reply(error, incoming.request_id)
        if slot is not None:
            self._idempotency.keep(slot, reply)
        return reply

    def _request(self, incoming: Incoming, key: ApiKey) -> ApiRequest:
        return ApiRequest(
            key=key,
            params=incoming.params,
            query=QueryParams(incoming.query_string),
            body=incoming.body,
            world=self._world,
            clock=self._clock,
            config=self._config,
        )

    def _after_faults(self, incoming: Incoming, record: RecordedRequest, reply: Outgoing) -> Outgoing | None:
        """The handler's answer as an `after` fault changes it; None for a dropped connection."""
        kinds = REPLACING_FAULTS | SUCCESS_FAULTS if 200 <= reply.status < 300 else REPLACING_FAULTS
        taken = self._faults.take(incoming.method, incoming.path, kinds, after=True)
        if not taken:
            return reply
        f = taken[0]
        record.fault = f.kind
        if f.kind == "drop":
            return None
        if f.kind in REPLACING_FAULTS:
            return _fault_reply(f, incoming.request_id)
        if f.kind == "malformed":
            data, content_type = malformed(f.variant or "no_message", reply.body)
            return Outgoing(reply.status, data, content_type=content_type, replay=reply.replay)
        return Outgoing(reply.status, drift(f.variant or "unknown_status", reply.body), replay=reply.replay)


def _rate_limited(retry_after: int) -> SandboxApiError:
    return SandboxApiError(
        429,
        "rate_limited",
        "Rate limit exceeded. Retry after the window resets.",
        headers={"Retry-After": str(retry_after)},
    )


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _error_reply(error: SandboxApiError, request_id: str) -> Outgoing:
    return Outgoing(error.status, _json(error.body(request_id)), headers=error.headers)


def _fault_reply(f: Fault, request_id: str) -> Outgoing:
    status = f.status or (502 if f.kind == "non_json" else 500)
    headers = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
    if f.kind == "non_json":
        return Outgoing(status, non_json_body(status), content_type="text/html", headers=headers)
    code, message = STATUS_CODES.get(status, ("client_error" if status < 500 else "internal_error", "Injected fault."))
    return _error_reply(SandboxApiError(status, f.code or code, message, headers=headers), request_id)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, reply: Outgoing, headers: dict[str, str]) -> None:
    raw = [(b"content-type", reply.content_type.encode()), (b"content-length", str(len(reply.body)).encode())]
    raw.extend((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": reply.status, "headers": raw})
    await send({"type": "http.response.body", "body": reply.body})


async def _drop(scope: Scope, send: Send) -> None:
    if scope.get(IN_PROCESS_SCOPE_KEY):
        raise ConnectionDropped("connection dropped by an injected fault")
    # Over a socket: promise a body, send part of it and stop, so the server closes the connection.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"message":"Succ', "more_body": True})
