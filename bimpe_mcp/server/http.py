"""Streamable HTTP for remote clients: who may call (`--auth`), which Host and Origin a request may carry, how big a
request may be, the health route, and uvicorn in one process or in several (`--workers`, stateless only).

Auth goes through the SDK: a `TokenVerifier` that the SDK's bearer middleware calls on every request. In front of it,
`Gate` answers what the SDK would refuse with words an operator can act on: a foreign Host (421) or Origin (403)
names the setting that lists the accepted ones, and a 401 tells a missing credential from a refused one.

With `--auth tokens` the bearer token is checked against BIMPE_HTTP_TOKENS_FILE in constant time and the server's own
BIMPE_API_KEY is used for the API. With `--auth passthrough` the bearer token is that client's own API key, verified
against the API before the request goes further (`keys.KeyCheck`: 401 when the API refuses it, 503 when the API
cannot say); the SDK keeps it in the request's auth context, and state.Connector builds the API client of that request
from it (nothing holds it once the request is answered). Each key is a tenant, named by a digest of the key. With
`--auth oauth` the bearer token is a JWT access token of BIMPE_OAUTH_ISSUER, its scopes say what it may do, and the
server's own BIMPE_API_KEY is used (oauth.py).

Behind the gate, `limits.Limits` paces each client (BIMPE_HTTP_RATE_LIMIT) and caps its open sessions; below the
application, `limits.ReadDeadline` cuts a client that takes over BIMPE_HTTP_READ_TIMEOUT to send a request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from uvicorn.supervisors import Multiprocess

from bimpe_mcp import __version__
from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.settings import ENV_VARS, SECRET_FIELDS, ConfigError, Settings, env_text
from bimpe_mcp.core.state import open_store
from bimpe_mcp.sandbox.hosts import is_loopback
from bimpe_mcp.server import collector, oauth, telemetry
from bimpe_mcp.server.backend import with_sandbox
from bimpe_mcp.server.build import Inbound
from bimpe_mcp.server.keys import SENDER, GateVerifier, KeyCheck, TooManyToVerify, Unverifiable
from bimpe_mcp.server.limits import Config, RateLimit, digest, limits_for
from bimpe_mcp.server.log_setup import configure_logging
from bimpe_mcp.tools.state import TENANT_PREFIX, Connector

if TYPE_CHECKING:
    import httpx2
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DEFAULT_PATH = "/mcp"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024
"""Request bodies over this size are refused with 413: no tool takes more than a few kilobytes of arguments."""
SERVING_ENV = "BIMPE_HTTP_SERVING"
"""How the parent tells each uvicorn worker process what to serve (the transport options, as JSON; no secret)."""
WORKER_FACTORY = "bimpe_mcp.server.http:worker_app"
_HEX = re.compile(r"[0-9a-f]{64}")
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Serving:
    """The transport options of `--transport http`."""

    host: str = "127.0.0.1"
    path: str = DEFAULT_PATH
    stateless: bool = False
    json_response: bool = False


# --- who may call -------------------------------------------------------------------------------------------------


def load_tokens(path: str | None) -> list[bytes]:
    """The SHA-256 digests of the tokens in the file: one per line, the token itself or `sha256:<hex>` of it; blank
    lines and lines starting with # are skipped."""
    var = "BIMPE_HTTP_TOKENS_FILE"
    if not path:
        raise ConfigError(f"--auth tokens needs {var}: a file with one bearer token (or sha256:<hex> of one) per line")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{var}: cannot read {shown(path)} ({reason})") from None
    digests: list[bytes] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("sha256:"):
            hexed = line.removeprefix("sha256:").strip().lower()
            if not _HEX.fullmatch(hexed):
                raise ConfigError(f"{var}: line {number}: sha256: must be followed by 64 hexadecimal digits")
            digests.append(bytes.fromhex(hexed))
        elif len(line) < MIN_TOKEN_CHARS or any(ch.isspace() for ch in line):
            raise ConfigError(
                f"{var}: line {number}: a token is one word of at least {MIN_TOKEN_CHARS} characters "
                "(generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        else:
            digests.append(hashlib.sha256(line.encode()).digest())
    if not digests:
        raise ConfigError(f"{var}: {shown(path)} holds no token: add one per line")
    return digests


class TokenFileVerifier:
    """Bearer tokens from BIMPE_HTTP_TOKENS_FILE, compared as SHA-256 digests in constant time: every known digest
    is compared, whichever matches."""

    def __init__(self, digests: list[bytes]) -> None:
        self._digests = digests

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = 0
        for number, known in enumerate(self._digests, 1):
            if hmac.compare_digest(digest, known):
                found = number
        return AccessToken(token=token, client_id=f"token-{found}", scopes=[]) if found else None


class PassthroughVerifier(GateVerifier):
    """Each bearer token is the client's own BimpeAI key, verified against the API (`keys.KeyCheck`, verdicts kept
    briefly) before a session opens or a tool runs. The principal (which owns a stateful session, and is the tenant
    of budgets, confirmations and audit entries) is a digest of the key, so one client's state is never another's."""

    def __init__(self, check: KeyCheck | None = None) -> None:
        self.check = check

    async def verdict(self, token: str) -> AccessToken | None:
        """The principal of an API key the API accepts, else None; raises Unverifiable when the API cannot say."""
        key = token.strip()
        if not key or len(key) > 512 or not (key.isascii() and key.isprintable()) or " " in key:
            return None
        if self.check is not None and not await self.check.accepted(key):
            return None
        return AccessToken(token=key, client_id=f"{TENANT_PREFIX}{tenant_of(key)}", scopes=[])


def inbound(
    settings: Settings,
    origin: str,
    transport: httpx2.AsyncBaseTransport | None = None,
    path: str = DEFAULT_PATH,
    now: Callable[[], float] = time.time,
) -> Inbound | None:
    """The SDK auth of `--auth`, or None for `--auth none`."""
    if settings.http_auth == "none":
        return None
    if settings.http_auth == "oauth":
        return oauth_inbound(settings, origin + path)
    # No authorization server and no protected-resource metadata: tokens are issued by the operator, not by OAuth.
    auth = AuthSettings(issuer_url=AnyHttpUrl(origin), resource_server_url=None)
    if settings.http_auth == "tokens":
        return Inbound(TokenFileVerifier(load_tokens(settings.http_tokens_file)), auth)
    store = open_store(settings.state_url)
    # Each key the API is asked about counts against its sender's address at the rate of any identity.
    rate = RateLimit(settings.http_rate_limit, store, now) if settings.http_rate_limit is not None else None
    check = KeyCheck(Connector(settings, transport, passthrough=True), store, rate.wait if rate else None)
    return Inbound(PassthroughVerifier(check), auth, passthrough=True, close=check.aclose)


def check(settings: Settings, serving: Serving, workers: int) -> None:
    """Refuse, before anything listens, what would serve the API key to anyone or break across workers."""
    if settings.http_auth == "none" and not is_loopback(serving.host):
        raise ConfigError(
            f"--host {shown(serving.host)} with --auth none would let anyone who reaches it use the API key: "
            "add --auth tokens (with BIMPE_HTTP_TOKENS_FILE), --auth passthrough or --auth oauth, or listen on "
            "127.0.0.1"
        )
    if workers > 1 and not serving.stateless:
        raise ConfigError(
            f"--workers {workers} needs --stateless: a session kept by one worker is unknown to the others"
        )
    if workers > 1 and settings.sandbox:
        raise ConfigError(
            "--workers: the embedded --sandbox lives in one process; run `bimpe-mcp sandbox` and point "
            "BIMPE_BASE_URL at it instead"
        )
    if workers > 1 and (settings.state_url or "").startswith("memory://") and not settings.read_only:
        raise ConfigError(
            f"--workers {workers} with BIMPE_STATE_URL=memory://: each worker would count its own budgets and forget "
            "the confirmations and calls of the others; leave BIMPE_STATE_URL unset (a SQLite file the workers "
            "share) or point it at sqlite:///PATH or redis://"
        )
    if workers > 1 and settings.http_rate_limit and (settings.state_url or "").startswith("memory://"):
        raise ConfigError(
            f"--workers {workers} with BIMPE_HTTP_RATE_LIMIT and BIMPE_STATE_URL=memory://: each worker would count "
            f"its own requests, letting a client send {workers} times the rate; leave BIMPE_STATE_URL unset (a SQLite "
            "file the workers share) or point it at sqlite:///PATH or redis://"
        )
    if settings.http_auth == "passthrough" and (settings.sandbox or settings.configured):
        raise ConfigError(
            "--auth passthrough: each client's bearer token is its own API key, so the server takes none: unset "
            "BIMPE_API_KEY (and BIMPE_SANDBOX; for the sandbox, point BIMPE_BASE_URL at `bimpe-mcp sandbox`)"
        )
    if settings.http_auth == "tokens":
        load_tokens(settings.http_tokens_file)
    if settings.http_auth == "oauth":
        oauth.check(settings, serving.host)


def oauth_inbound(settings: Settings, local_url: str) -> Inbound:
    """`--auth oauth`: JWT access tokens of BIMPE_OAUTH_ISSUER for this resource (server/oauth.py)."""
    resource = oauth.resource_of(settings, local_url)
    verifier = oauth.OAuthVerifier(oauth.Issuer(resource))
    return Inbound(
        verifier,
        oauth.auth_settings(resource),
        challenge=oauth.challenge(resource),
        admit=lambda principal: oauth.admit(principal, resource),
    )


def notes(settings: Settings, serving: Serving) -> list[str]:
    """What an operator should know at start, though nothing is wrong enough to refuse."""
    said: list[str] = []
    if not is_loopback(serving.host) and not settings.http_allowed_hosts:
        said.append(
            f"--host {serving.host}: requests must name this address or localhost in their Host header; behind a "
            "load balancer or a DNS name, list the names clients use in BIMPE_HTTP_ALLOWED_HOSTS"
        )
    if serving.json_response:
        said.append("--json-response: progress notifications (wait_for_call) cannot stream to clients")
    return said


# --- which Host and Origin ----------------------------------------------------------------------------------------


def listed(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def transport_security(settings: Settings, host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection on every bind: the Host and Origin values allowed are the configured ones, or the
    bind address and the localhost forms."""
    bound = f"[{host}]" if ":" in host else host
    local = list(dict.fromkeys([bound, "127.0.0.1", "localhost", "[::1]"]))
    hosts = listed(settings.http_allowed_hosts) or [f"{name}:*" for name in local]
    origins = listed(settings.http_allowed_origins) or [f"http://{name}:*" for name in local]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def _accepted(value: str, allowed: list[str]) -> bool:
    """The SDK's rule: an exact value, or `name:*` for the name with any port."""
    return value in allowed or any(a.endswith(":*") and value.startswith(a[:-1]) for a in allowed)


HOST_REFUSED = (
    "Invalid Host header: this server answers only the names listed in BIMPE_HTTP_ALLOWED_HOSTS (by default its bind "
    "address and localhost). Behind a load balancer or a DNS name, its operator lists there the names clients use."
)
ORIGIN_REFUSED = (
    "Invalid Origin header: this server accepts browser requests only from the origins listed in "
    "BIMPE_HTTP_ALLOWED_ORIGINS (by default http:// with its bind address or localhost)."
)
NO_BEARER = "Authentication required: send the header Authorization: Bearer <token>"
BEARER_REFUSED = "The bearer token is not one this server accepts: check the token the client sends"
BEARER_NOT_A_KEY = "The bearer token is not an API key: send your BimpeAI API key (sk_...) as the bearer token"
KEY_UNVERIFIABLE = "The BimpeAI API cannot be reached to verify the API key: retry after the time in Retry-After"


class Gate:
    """In front of the MCP endpoint, before the SDK's own checks (which stay): Host and Origin, then the bearer
    token. Each refusal says what was wrong; nothing from the request is repeated back."""

    def __init__(self, app: ASGIApp, path: str, security: TransportSecuritySettings, entry: Inbound | None) -> None:
        self.app = app
        self.path = path.rstrip("/")
        self.security = security
        self.entry = entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        SENDER.set(str(client[0]) if client else "")
        refusal = await self.refusal(headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def refusal(self, headers: Headers) -> Response | None:
        host, origin = headers.get("host"), headers.get("origin")
        if not host or not _accepted(host, self.security.allowed_hosts):
            log.warning("refused Host %s with 421: not in BIMPE_HTTP_ALLOWED_HOSTS", shown(host or ""))
            return PlainTextResponse(HOST_REFUSED, status_code=421)
        if origin and not _accepted(origin, self.security.allowed_origins):
            log.warning("refused Origin %s with 403: not in BIMPE_HTTP_ALLOWED_ORIGINS", shown(origin))
            return PlainTextResponse(ORIGIN_REFUSED, status_code=403)
        if self.entry is None:
            return None
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("missing_token", NO_BEARER, self.entry.challenge)
        verifier = self.entry.verifier
        try:
            if isinstance(verifier, GateVerifier):
                principal = await verifier.checked(token)
            else:
                principal = await verifier.verify_token(token)
        except Unverifiable as exc:
            said = exc.description if isinstance(exc, oauth.IssuerUnreachable) else KEY_UNVERIFIABLE
            return _unverifiable(exc.retry_after, said)
        except TooManyToVerify as exc:
            log.info("refused a bearer token with 429: its address had BIMPE_HTTP_RATE_LIMIT's keys verified")
            return _too_many_to_verify(exc.retry_after)
        if principal is None:
            log.info("refused a bearer token with 401: not accepted")
            said = BEARER_NOT_A_KEY if self.entry.passthrough else BEARER_REFUSED
            return _unauthorized("invalid_token", said, self.entry.challenge)
        return self.entry.admit(principal) if self.entry.admit is not None else None


def tenant_of(key: str) -> str:
    """The tenant of an API key: a digest of it, never the key."""
    return digest(key)


def _unverifiable(retry_after: int, said: str = KEY_UNVERIFIABLE) -> Response:
    """503: the API (or the issuer) cannot be reached to verify the credential."""
    return _not_yet(503, "temporarily_unavailable", said, retry_after)


def _too_many_to_verify(retry_after: int) -> Response:
    """429: the sender's address had as many keys verified as BIMPE_HTTP_RATE_LIMIT allows it."""
    said = ("Too many API keys to verify from this address: each key this server has not verified lately counts "
            "against BIMPE_HTTP_RATE_LIMIT; send it again after the time in Retry-After")  # fmt: skip
    return _not_yet(429, "too_many_requests", said, retry_after)


def _not_yet(status: int, error: str, said: str, retry_after: int) -> Response:
    """A credential neither accepted nor refused: to be sent again after `retry_after` seconds."""
    body = {"error": error, "error_description": said}
    return JSONResponse(body, status_code=status, headers={"Retry-After": str(retry_after)})


def _unauthorized(error: str, description: str, more: str = "") -> Response:
    """401 as RFC 6750 spells it: a request without a credential gets no error code in WWW-Authenticate, a refused
    one gets invalid_token; the JSON body names the case either way. `more` adds auth-params (resource_metadata)."""
    code = f'error="{error}", ' if error == "invalid_token" else ""
    extra = f", {more}" if more else ""
    challenge = f'Bearer realm="bimpe-mcp", {code}error_description="{description}"{extra}'
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": challenge})


# --- the application ----------------------------------------------------------------------------------------------


class WorkerLog:
    """One INFO line per HTTP request with the id of the process that answered it (which worker, behind a shared
    socket) and the status; nothing from the request itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        status: list[int] = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        await self.app(scope, receive, sending)
        log.info("worker %d answered %s with %d", self.pid, scope["method"], status[0])


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def build_app(settings: Settings, serving: Serving, origin: str, now: Callable[[], float] = time.time) -> ASGIApp:
    """The ASGI application: MCP at `serving.path` behind the configured auth and the limits (their rate counted on
    `now`), and GET /healthz without them."""
    from bimpe_mcp.server.build import build_server

    checked, transport, clock = with_sandbox(settings)
    entry = inbound(settings, origin, transport, serving.path, now)
    server = build_server(checked, transport=transport, clock=clock, inbound=entry)
    server.custom_route(HEALTH_PATH, methods=["GET"])(healthz)
    verifier = entry.verifier if entry is not None else None
    if isinstance(verifier, oauth.OAuthVerifier):
        for well_known in oauth.metadata_paths(verifier.issuer.resource, serving.path):
            server.custom_route(well_known, methods=["GET"])(oauth.metadata_route(verifier.issuer.resource))
    security = transport_security(settings, serving.host)
    app = server.streamable_http_app(
        streamable_http_path=serving.path,
        json_response=serving.json_response,
        stateless_http=serving.stateless,
        max_request_body_size=MAX_BODY_BYTES,
        transport_security=security,
        host=serving.host,
    )
    if isinstance(verifier, oauth.OAuthVerifier):
        app = oauth.CallScope(app, serving.path, verifier, verifier.issuer.resource, MAX_BODY_BYTES)
    limited = limits_for(app, settings, serving.path, stateless=serving.stateless, body_bytes=MAX_BODY_BYTES, now=now)
    gated: ASGIApp = Gate(limited, serving.path, security, entry)
    return WorkerLog(telemetry.TraceHeaders(gated) if telemetry.start() is not None else gated)


# --- running ------------------------------------------------------------------------------------------------------


def worker_env(settings: Settings, serving: Serving, origin: str) -> dict[str, str]:
    """The settings as BIMPE_* variables for the worker processes. The secrets are already in the environment, where
    they came from (they never go on a command line); without a confirmation secret, the workers get one to share."""
    env: dict[str, str] = {}
    for var, field in ENV_VARS.items():
        value = getattr(settings, field)
        if field not in SECRET_FIELDS and value is not None:
            env[var] = env_text(value)
    if settings.confirm_secret is None:
        # One secret for every worker, so that a confirmation token one worker gave is accepted by the others.
        env["BIMPE_CONFIRM_SECRET"] = secrets.token_urlsafe(32)
    env[SERVING_ENV] = json.dumps(asdict(serving) | {"origin": origin})
    return env


def worker_app() -> ASGIApp:
    """The application of one uvicorn worker process, from the environment its parent prepared."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    options = json.loads(os.environ[SERVING_ENV])
    origin = options.pop("origin")
    app = build_app(settings, Serving(**options), origin)
    collector.settled()
    return app


def serve(
    settings: Settings, serving: Serving, sock: socket.socket, workers: int, announce: Callable[[], None]
) -> None:
    """Serve on the bound socket; `announce` runs once requests are answered."""
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    origin = f"http://{shown_host}:{port}"
    level = settings.log_level.lower()
    if workers > 1:
        os.environ.update(worker_env(settings, serving, origin))
        config = Config(WORKER_FACTORY, factory=True, workers=workers, log_config=None, log_level=level,
                        access_log=False, read_timeout=settings.http_read_timeout)  # fmt: skip
        Workers(config, [sock], announce).run()
        return
    config = Config(build_app(settings, serving, origin), log_config=None, log_level=level, access_log=False,
                    read_timeout=settings.http_read_timeout)  # fmt: skip
    Announced(config, announce).run(sockets=[sock])


class Announced(uvicorn.Server):
    """uvicorn's server, announcing once it serves (a failing application start-up exits the process first)."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.announce()


class Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, announcing once every worker serves."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], announce: Callable[[], None]) -> None:
        super().__init__(config, sockets)
        self.announce = announce

    def init_processes(self) -> None:
        super().init_processes()
        for process in self.processes:
            process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit)
        self.announce()
