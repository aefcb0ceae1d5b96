"""The ASGI application: the Console API under /api/v1/console and control routes under /_sandbox."""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from .clock import iso_ms
from .config import Fault
from .faults import STATUS_CODES, drift, malformed, non_json_body
from .keys import ApiKey
from .store import CALL_SORT_FIELDS, STATUS_CODE, STATUSES, Agent, CallQuery, PhoneNumber

if TYPE_CHECKING:
    from .core import Sandbox

API_PREFIX = "/api/v1/console"
CONTROL_PREFIX = "/_sandbox"
IN_PROCESS_SCOPE_KEY = "bimpe_sandbox.in_process"
REPLAY_HEADER = "X-Sandbox-Idempotent-Replay"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
IDEMPOTENCY_PRUNE_AT = 10_000  # cache size at which expired entries are dropped
RECORDED_HEADERS = ("idempotency-key", "x-request-id", "user-agent", "content-type", "accept")

AGENT_SORT_FIELDS = ("created_at", "updated_at", "name")
PHONE_SORT_FIELDS = ("created_at", "updated_at", "e164", "label")

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), endpoint)
    for method, pattern, endpoint in (
        ("GET", r"^/agents$", "agents.list"),
        ("GET", r"^/agents/(?P<agent_id>[^/]+)$", "agents.retrieve"),
        ("GET", r"^/agents/(?P<agent_id>[^/]+)/channels$", "agents.channels"),
        ("GET", r"^/agents/(?P<agent_id>[^/]+)/calls$", "calls.list"),
        ("POST", r"^/agents/(?P<agent_id>[^/]+)/calls$", "calls.make"),
        ("GET", r"^/agents/(?P<agent_id>[^/]+)/calls/(?P<call_id>[^/]+)$", "calls.retrieve"),
        ("GET", r"^/phone-numbers$", "phone_numbers.list"),
        ("GET", r"^/phone-numbers/(?P<number_id>[^/]+)$", "phone_numbers.retrieve"),
        ("PATCH", r"^/phone-numbers/(?P<number_id>[^/]+)$", "phone_numbers.update"),
    )
)


class ConnectionDropped(Exception):
    """Raised inside the in-process transport to model a connection closed without an answer."""


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str | list[str],
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message if isinstance(message, str) else "; ".join(message))
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "error": HTTPStatus(self.status).phrase,
            "code": self.code,
            "statusCode": self.status,
            "request_id": request_id,
        }
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def validation_error(problems: list[tuple[str, str]]) -> ApiError:
    return ApiError(
        400,
        "validation_error",
        [f"{path}: {message}" for path, message in problems],
        errors=[{"path": path, "message": message} for path, message in problems],
    )


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


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
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] | None = None
    replay: bool = False


@dataclass
class _IdempotencyEntry:
    fingerprint: str
    status: int
    body: bytes
    expires_ms: int


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(data: Any, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"message": "Success", "data": data}
    if meta is not None:
        out["meta"] = meta
    return out


def page_meta(total: int, page: int, limit: int) -> dict[str, Any]:
    page_count = math.ceil(total / limit) if total else 0
    return {
        "total_count": total,
        "page_count": page_count,
        "current_page": page,
        "limit": limit,
        "has_next_page": page < page_count,
        "has_previous_page": page > 1,
    }


def _int_param(
    raw: str | None, name: str, default: int, low: int, high: int | None, problems: list[tuple[str, str]]
) -> int:
    if raw is None:
        return default
    text = raw.strip()
    message = f"must be an integer between {low} and {high}" if high is not None else f"must be an integer >= {low}"
    if not re.fullmatch(r"[+-]?\d{1,12}", text):
        problems.append((name, message))
        return default
    value = int(text)
    if value < low or (high is not None and value > high):
        problems.append((name, message))
        return default
    return value


@dataclass
class _ListParams:
    page: int
    limit: int
    search: str | None
    sort_field: str
    descending: bool


class Api:
    """The Console API pipeline: faults, rate limit, auth, scopes, idempotency, then the route."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self._idempotency: dict[tuple[str, str, str, str], _IdempotencyEntry] = {}
        self._windows: dict[str, tuple[int, int]] = {}

    @property
    def cached_responses(self) -> int:
        """Idempotency entries held (expired ones are dropped when the cache grows large)."""
        return len(self._idempotency)

    # -- ASGI entry ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - lifespan is handled by Starlette
            return
        sb = self.sb
        method: str = scope["method"]
        root: str = scope.get("root_path", "")
        full_path: str = scope["path"]
        path = full_path[len(root) :] if root and full_path.startswith(root) else full_path
        path = path.rstrip("/") or "/"
        headers = Headers(scope=scope)
        body = await _read_body(receive)
        request_id = headers.get("x-request-id") or str(uuid.uuid4())
        endpoint, params, path_known = _match(method, path)
        auth_kind, token = _credentials(headers)
        known = sb.key_record(token) if token else None
        query_string = scope.get("query_string", b"").decode("latin-1")
        record = RecordedRequest(
            method=method,
            path=path,
            query=query_string,
            headers={h: v for h in RECORDED_HEADERS if (v := headers.get(h)) is not None},
            auth=auth_kind,
            key=None if token is None else (known.role if known else "unknown"),
            endpoint=endpoint,
            request_id=request_id,
            at=iso_ms(sb.clock.now_ms()),
        )
        sb.record(record)

        before = sb.faults.take(method, path, frozenset({"latency", "status", "drop", "non_json"}), after=False)
        for f in before:
            if f.kind == "latency":
                await anyio.sleep(f.seconds)
        limit_headers, retry_after = self._rate_limit(token or "anonymous")
        terminal = next((f for f in before if f.kind != "latency"), None)
        reply: _Reply
        if terminal is not None:
            record.fault = terminal.kind
            if terminal.kind == "drop":
                await self._drop(scope, send)
                return
            reply = self._fault_reply(terminal, request_id)
        elif retry_after is not None:
            error = ApiError(
                429,
                "rate_limited",
                "Rate limit exceeded. Retry after the window resets.",
                headers={"Retry-After": str(retry_after)},
            )
            reply = _Reply(429, _json(error.body(request_id)), headers=error.headers)
        else:
            reply = self._handle(
                method,
                path,
                full_path,
                endpoint,
                params,
                path_known,
                headers,
                QueryParams(query_string),
                body,
                token,
                request_id,
            )
            after_kinds = {"status", "drop", "non_json"}
            if 200 <= reply.status < 300:
                after_kinds |= {"malformed", "drift"}
            after = sb.faults.take(method, path, frozenset(after_kinds), after=True)
            if after:
                f = after[0]
                record.fault = f.kind
                if f.kind == "drop":
                    await self._drop(scope, send)
                    return
                if f.kind in ("status", "non_json"):
                    reply = self._fault_reply(f, request_id)
                elif f.kind == "malformed":
                    data, ctype = malformed(f.variant or "no_message", reply.body)
                    reply = _Reply(reply.status, data, content_type=ctype, replay=reply.replay)
                else:
                    reply = _Reply(reply.status, drift(f.variant or "unknown_status", reply.body), replay=reply.replay)
        record.status = reply.status
        record.idempotent_replay = reply.replay
        out_headers = {"X-Request-Id": request_id, **limit_headers, **(reply.headers or {})}
        if reply.replay:
            out_headers[REPLAY_HEADER] = "true"
        await _send(send, reply.status, reply.body, reply.content_type, out_headers)

    async def _drop(self, scope: Scope, send: Send) -> None:
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

    def _fault_reply(self, f: Fault, request_id: str) -> _Reply:
        status = f.status or (502 if f.kind == "non_json" else 500)
        extra: dict[str, str] = {}
        if f.retry_after is not None:
            extra["Retry-After"] = f.retry_after
        if f.kind == "non_json":
            return _Reply(status, non_json_body(status), content_type="text/html", headers=extra)
        _, code, message = STATUS_CODES.get(status, (HTTPStatus(status).phrase, "internal_error", "Injected fault."))
        error = ApiError(status, f.code or code, message)
        return _Reply(status, _json(error.body(request_id)), headers=extra)

    def _rate_limit(self, bucket: str) -> tuple[dict[str, str], int | None]:
        cfg = self.sb.config
        now_ms = self.sb.clock.now_ms()
        window_ms = cfg.rate_window_seconds * 1000
        window = now_ms // window_ms
        current, count = self._windows.get(bucket, (window, 0))
        if current != window:
            count = 0
        count += 1
        if len(self._windows) > 10_000:
            self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        self._windows[bucket] = (window, count)
        reset_ms = (window + 1) * window_ms
        headers = {
            "X-RateLimit-Limit": str(cfg.rate_limit),
            "X-RateLimit-Remaining": str(max(cfg.rate_limit - count, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset_ms / 1000)),
        }
        if count > cfg.rate_limit:
            return headers, max(1, math.ceil((reset_ms - now_ms) / 1000))
        return headers, None

    # -- request handling --------------------------------------------------------------------

    def _handle(
        self,
        method: str,
        path: str,
        full_path: str,
        endpoint: str | None,
        params: dict[str, str],
        path_known: bool,
        headers: Headers,
        query: QueryParams,
        body: bytes,
        token: str | None,
        request_id: str,
    ) -> _Reply:
        idem_slot: tuple[tuple[str, str, str, str], str] | None = None
        try:
            if endpoint is None:
                if path_known:
                    raise ApiError(405, "bad_request", f"Cannot {method} {full_path}")
                raise not_found(f"Cannot {method} {full_path}")
            key = self._authenticate(headers, token)
            self._authorize(key, endpoint)
            idem = headers.get("idempotency-key")
            if method in WRITE_METHODS and idem is not None:
                if not idem.strip() or len(idem) > 255:
                    raise validation_error([("Idempotency-Key", "must be between 1 and 255 characters")])
                cache_key = (key.key, method, path, idem)
                fingerprint = _fingerprint(body)
                entry = self._idempotency.get(cache_key)
                now_ms = self.sb.clock.now_ms()
                if entry is not None and entry.expires_ms > now_ms:
                    if entry.fingerprint != fingerprint and self.sb.config.idempotency_conflict_on_body_mismatch:
                        raise ApiError(
                            409,
                            "conflict",
                            "This Idempotency-Key was already used with a different request body.",
                        )
                    return _Reply(entry.status, entry.body, replay=True)
                idem_slot = (cache_key, fingerprint)
            status, payload = self._route(endpoint, params, query, body, key)
        except ApiError as error:
            reply = _Reply(error.status, _json(error.body(request_id)), headers=error.headers or None)
        else:
            reply = _Reply(status, _json(payload))
        if idem_slot is not None and reply.status < 500 and reply.status != 429:
            cache_key, fingerprint = idem_slot
            now_ms = self.sb.clock.now_ms()
            if len(self._idempotency) >= IDEMPOTENCY_PRUNE_AT:
                self._idempotency = {k: v for k, v in self._idempotency.items() if v.expires_ms > now_ms}
            expires = now_ms + self.sb.config.idempotency_window_seconds * 1000
            self._idempotency[cache_key] = _IdempotencyEntry(fingerprint, reply.status, reply.body, expires)
        return reply

    def _authenticate(self, headers: Headers, token: str | None) -> ApiKey:
        auth = headers.get("authorization")
        api_key = headers.get("x-api-key")
        if auth is None and api_key is None:
            raise ApiError(
                401, "unauthorized", "No API key provided. Send Authorization: Bearer sk_... or X-Api-Key: sk_..."
            )
        if auth is not None and auth.strip() and _credentials(headers)[0] != "bearer":
            raise ApiError(401, "api_key_invalid", "Invalid API key.")
        if not token:
            raise ApiError(401, "api_key_missing", "The API key header is present but empty.")
        key = self.sb.key_record(token)
        if key is None:
            raise ApiError(401, "api_key_invalid", "Invalid API key.")
        if key.expired:
            raise ApiError(401, "api_key_expired", "This API key has expired.")
        return key

    def _authorize(self, key: ApiKey, endpoint: str) -> None:
        cfg = self.sb.config
        required = cfg.scope_map.get(endpoint)
        if required is None or required in key.scopes:
            return
        if (
            cfg.accept_conversations_read_for_call_reads
            and endpoint in ("calls.list", "calls.retrieve")
            and "conversations:read" in key.scopes
        ):
            return
        raise ApiError(403, "insufficient_scope", f"This API key is missing the required scope: {required}.")

    def _route(
        self, endpoint: str, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        handlers: dict[str, Callable[[dict[str, str], QueryParams, bytes, ApiKey], tuple[int, dict[str, Any]]]] = {
            "agents.list": self._agents_list,
            "agents.retrieve": self._agents_retrieve,
            "agents.channels": self._agents_channels,
            "calls.list": self._calls_list,
            "calls.retrieve": self._calls_retrieve,
            "calls.make": self._calls_make,
            "phone_numbers.list": self._numbers_list,
            "phone_numbers.retrieve": self._numbers_retrieve,
            "phone_numbers.update": self._numbers_update,
        }
        return handlers[endpoint](params, query, body, key)

    def _agent(self, key: ApiKey, agent_id: str) -> Agent:
        agent = self.sb.world.agent(key.team, agent_id) if ID_RE.match(agent_id) else None
        if agent is None:
            raise not_found("Agent not found")
        return agent

    def _list_params(
        self, query: QueryParams, fields: tuple[str, ...], default_sort: str, problems: list[tuple[str, str]]
    ) -> _ListParams:
        page = _int_param(query.get("page"), "page", 1, 1, None, problems)
        limit = _int_param(query.get("limit"), "limit", 20, 1, 100, problems)
        search = query.get("search")
        if search is not None and len(search) > 255:
            problems.append(("search", "must be at most 255 characters"))
        sort = (query.get("sort") or "").strip()
        field, descending = default_sort, True
        if sort:
            name = sort[1:] if sort.startswith("-") else sort
            if len(sort) > 64 or name not in fields:
                if self.sb.config.reject_unknown_sort:
                    problems.append(("sort", f"must be one of {', '.join(fields)}, optionally prefixed with -"))
            else:
                field, descending = name, sort.startswith("-")
        return _ListParams(page, limit, search.strip() if search and search.strip() else None, field, descending)

    def _agents_list(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        problems: list[tuple[str, str]] = []
        lp = self._list_params(query, AGENT_SORT_FIELDS, "created_at", problems)
        if problems:
            raise validation_error(problems)
        agents = self.sb.world.team_agents(key.team)
        if lp.search:
            needle = lp.search.lower()
            agents = [
                a
                for a in agents
                if needle in a.seed.name.lower()
                or needle in a.seed.description.lower()
                or needle in a.seed.business_name.lower()
            ]
        sort_key: dict[str, Callable[[Agent], Any]] = {
            "created_at": lambda a: a.created_ms,
            "updated_at": lambda a: a.updated_ms,
            "name": lambda a: a.seed.name.lower(),
        }
        agents = sorted(agents, key=sort_key[lp.sort_field], reverse=lp.descending)
        start = (lp.page - 1) * lp.limit
        data = [a.to_json() for a in agents[start : start + lp.limit]]
        return 200, envelope(data, page_meta(len(agents), lp.page, lp.limit))

    def _agents_retrieve(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        agent = self._agent(key, params["agent_id"])
        return 200, envelope(self.sb.world.agent_detail(agent))

    def _agents_channels(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        agent = self._agent(key, params["agent_id"])
        return 200, envelope(self.sb.world.channels(agent))

    def _calls_list(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        problems: list[tuple[str, str]] = []
        lp = self._list_params(query, tuple(CALL_SORT_FIELDS), "created_on", problems)
        status_raw = query.get("status")
        status: int | None = None
        if status_raw is not None and status_raw != "":
            if status_raw not in STATUS_CODE:
                problems.append(("status", f"must be one of {', '.join(STATUSES)}"))
            else:
                status = STATUS_CODE[status_raw]
        test_raw = query.get("is_test_call")
        is_test: bool | None = None
        if test_raw is not None and test_raw != "":
            if test_raw.lower() not in ("true", "false"):
                problems.append(("is_test_call", "must be a boolean (true or false)"))
            else:
                is_test = test_raw.lower() == "true"
        if problems:
            raise validation_error(problems)
        agent = self._agent(key, params["agent_id"])
        q = CallQuery(CALL_SORT_FIELDS[lp.sort_field], lp.descending, status, is_test, lp.search)
        world = self.sb.world
        total, rows = world.list_calls(agent.index, q, (lp.page - 1) * lp.limit, lp.limit, self.sb.clock.now_ms())
        return 200, envelope([world.call_json(r) for r in rows], page_meta(total, lp.page, lp.limit))

    def _calls_retrieve(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        agent = self._agent(key, params["agent_id"])
        world = self.sb.world
        ordinal = world.ordinal_of(params["call_id"])
        if ordinal is None:
            raise not_found("Call not found")
        row = world.row(ordinal, self.sb.clock.now_ms())
        if row.agent_index != agent.index:
            raise not_found("Call not found")
        return 200, envelope(world.call_detail_json(row))

    def _calls_make(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        payload = _json_object(body)
        problems: list[tuple[str, str]] = []
        destination = payload.get("destination")
        if "destination" not in payload or destination is None:
            problems.append(("destination", "is required"))
        elif not isinstance(destination, str):
            problems.append(("destination", "must be a string"))
        elif not E164_RE.match(destination):
            problems.append(("destination", "must be an E.164 phone number"))
        is_test = payload.get("is_test_call")
        if "is_test_call" not in payload or is_test is None:
            problems.append(("is_test_call", "is required"))
        elif not isinstance(is_test, bool):
            problems.append(("is_test_call", "must be a boolean"))
        if problems:
            raise validation_error(problems)
        assert isinstance(destination, str)
        assert isinstance(is_test, bool)
        agent = self._agent(key, params["agent_id"])
        sb = self.sb
        world = sb.world
        if sb.config.paused_agent_blocks_calls and agent.status == "paused":
            raise ApiError(400, "bad_request", "agent is paused; calls are disabled until it is live again")
        if not is_test and not world.has_live_channel(agent):
            raise ApiError(400, "channel_not_configured", "telephony channel is not configured for this agent")
        now_ms = sb.clock.now_ms()
        if is_test and world.active_test_calls(agent.team, now_ms) >= sb.config.test_call_capacity:
            detail = (
                f"test call capacity reached ({sb.config.test_call_capacity} concurrent test calls); try again later"
            )
            return 201, envelope({"status": "busy", "call_id": None, "detail": detail})
        call = world.place_call(agent, destination, is_test, now_ms)
        call_id = world.call_id(call.ordinal)
        if call.script == "failed":
            return 201, envelope({"status": "failed", "call_id": call_id, "detail": "destination unreachable"})
        return 201, envelope({"status": "initiated", "call_id": call_id, "detail": None})

    def _numbers_list(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        problems: list[tuple[str, str]] = []
        lp = self._list_params(query, PHONE_SORT_FIELDS, "created_at", problems)
        if problems:
            raise validation_error(problems)
        numbers = [p for p in self.sb.world.phone_numbers if p.team == key.team]
        if lp.search:
            needle = lp.search.lower()
            digits = "".join(ch for ch in needle if ch.isdigit())
            numbers = [
                p
                for p in numbers
                if needle in p.e164 or (digits and digits in p.e164) or needle in (p.label or "").lower()
            ]
        sort_key: dict[str, Callable[[PhoneNumber], Any]] = {
            "created_at": lambda p: p.created_ms,
            "updated_at": lambda p: p.updated_ms,
            "e164": lambda p: p.e164,
            "label": lambda p: (p.label or "").lower(),
        }
        numbers = sorted(numbers, key=sort_key[lp.sort_field], reverse=lp.descending)
        if lp.sort_field == "label":
            numbers.sort(key=lambda p: p.label is None)
        start = (lp.page - 1) * lp.limit
        data = [p.to_json(detail=False) for p in numbers[start : start + lp.limit]]
        return 200, envelope(data, page_meta(len(numbers), lp.page, lp.limit))

    def _number(self, key: ApiKey, number_id: str) -> PhoneNumber:
        number = self.sb.world.phone_number(key.team, number_id)
        if number is None:
            raise not_found("Phone number not found")
        return number

    def _numbers_retrieve(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        return 200, envelope(self._number(key, params["number_id"]).to_json())

    def _numbers_update(
        self, params: dict[str, str], query: QueryParams, body: bytes, key: ApiKey
    ) -> tuple[int, dict[str, Any]]:
        payload = _json_object(body)
        problems: list[tuple[str, str]] = []
        agent_id = payload.get("agent_id")
        if agent_id is not None and (not isinstance(agent_id, str) or not ID_RE.match(agent_id)):
            problems.append(("agent_id", "must be an agent id or null"))
        label = payload.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > 100):
            problems.append(("label", "must be a string of at most 100 characters"))
        if problems:
            raise validation_error(problems)
        number = self._number(key, params["number_id"])
        if "agent_id" in payload:
            if isinstance(agent_id, str):
                number.agent_id = self._agent(key, agent_id).id
            else:
                number.agent_id = None
        if "label" in payload:
            number.label = cast("str | None", label)
        number.updated_ms = self.sb.clock.now_ms()
        return 200, envelope(number.to_json())


def _fingerprint(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise validation_error([("body", "must be a JSON object")])
    try:
        parsed = json.loads(body)
    except ValueError:
        raise ApiError(400, "bad_request", "Malformed JSON in request body") from None
    if not isinstance(parsed, dict):
        raise validation_error([("body", "must be a JSON object")])
    return cast("dict[str, Any]", parsed)


def _match(method: str, path: str) -> tuple[str | None, dict[str, str], bool]:
    path_known = False
    for route_method, pattern, endpoint in _ROUTES:
        m = pattern.match(path)
        if m is None:
            continue
        if route_method == method:
            return endpoint, m.groupdict(), True
        path_known = True
    return None, {}, path_known


def _credentials(headers: Headers) -> tuple[str | None, str | None]:
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


async def _send(send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw.extend((k.lower().encode(), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# -- control routes --------------------------------------------------------------------------


def _fault_json(f: Fault) -> dict[str, Any]:
    return asdict(f)


def build_app(sandbox: Sandbox, api: Api) -> Starlette:

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": iso_ms(sandbox.clock.now_ms())})

    async def info(request: Request) -> Response:
        return JSONResponse(sandbox.describe())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.faults.clear()
        elif request.method == "POST":
            try:
                raw = await request.json()
                if not isinstance(raw, dict):
                    raise TypeError("a fault is a JSON object")
                sandbox.faults.add(Fault(**cast("dict[str, Any]", raw)))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": str(exc)}, status_code=400)
            return JSONResponse({"faults": [_fault_json(f) for f in sandbox.faults.active]}, status_code=201)
        return JSONResponse({"faults": [_fault_json(f) for f in sandbox.faults.active]})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                raw = await request.json()
                seconds = float(cast("dict[str, Any]", raw)["seconds"]) if isinstance(raw, dict) else math.nan
                sandbox.clock.advance(seconds)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"message": f'send {{"seconds": <number >= 0>}} ({exc})'}, status_code=400)
        return JSONResponse({"now": iso_ms(sandbox.clock.now_ms()), "speed": sandbox.clock.speed})

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            sandbox.requests.clear()
        return JSONResponse({"requests": [asdict(r) for r in sandbox.requests]})

    return Starlette(
        routes=[
            Mount(API_PREFIX, app=api),
            Route(CONTROL_PREFIX + "/health", health),
            Route(CONTROL_PREFIX + "/info", info),
            Route(CONTROL_PREFIX + "/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route(CONTROL_PREFIX + "/clock", clock, methods=["GET"]),
            Route(CONTROL_PREFIX + "/clock/advance", clock, methods=["POST"]),
            Route(CONTROL_PREFIX + "/requests", requests, methods=["GET", "DELETE"]),
        ]
    )
