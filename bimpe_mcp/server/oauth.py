"""`--auth oauth`: the server is an OAuth 2.1 resource server, as the MCP authorization specification describes.

Access tokens are JWTs (RFC 9068) that the authorization server at BIMPE_OAUTH_ISSUER signs. Its metadata (RFC 8414,
or OpenID Connect discovery) names its key set; a token is accepted when its signature verifies against one of those
keys (RS256, ES256 or EdDSA; `none` and HMAC never), its `typ` is an access token's, and its `iss`, `aud`
(BIMPE_OAUTH_AUDIENCE, by default the resource: BIMPE_HTTP_PUBLIC_URL), `exp` and `nbf` hold, within `LEEWAY_SECONDS`.
A token signed with a key the server does not know has the key set read again, at most once every `REFETCH_SECONDS`,
so that the issuer can rotate its keys without a restart and a flood of made-up key ids costs the issuer one request.

Scopes: `bimpe:read` admits every read tool, resource and prompt (a token without it is refused with 403);
`place_call` (and `confirm_call`, which presses its confirmation card) needs `bimpe:call` as well. Every client sees
every tool; a `tools/call` naming one of those two with a token without `bimpe:call` is refused with 403
`insufficient_scope`, naming the scopes it needs: the specification's step-up authorization, where the client asks the
authorization server for a token with them and sends the call again. A 401 asks for `bimpe:read` alone, so that a
client holds the least its user needs until a call is placed.

The server calls the API with its own BIMPE_API_KEY. The token's subject (`sub` at its issuer) is the tenant of
budgets, confirmations and audit entries, and the identity the request is known by; the subject and the token's
`client_id` go into the audit entry and the log lines of the request, never the token.

Protected resource metadata (RFC 9728) is served at /.well-known/oauth-protected-resource and at the same path with
the resource's path appended, without auth.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.responses import JSONResponse, Response

from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.settings import ConfigError, Settings
from bimpe_mcp.sandbox.hosts import is_loopback
from bimpe_mcp.server.keys import GateVerifier, Unverifiable, verified
from bimpe_mcp.server.log_setup import REQUESTER

if TYPE_CHECKING:
    import httpx2
    from jwt import PyJWK
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

READ_SCOPE = "bimpe:read"
CALL_SCOPE = "bimpe:call"
SCOPES = [READ_SCOPE, CALL_SCOPE]
CALL_TOOLS = frozenset({"place_call", "confirm_call"})
"""The tools that place a call: they need CALL_SCOPE."""
ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt", "jwt", ""})
"""The `typ` of an access token: RFC 9068's, or the plain `JWT` (or none) many providers still write. Any other type
(an ID token's, a logout token's...) is refused; an ID token is refused by its audience as well."""
LEEWAY_SECONDS = 30
"""How far `exp` and `nbf` may be off, for clocks that disagree a little."""
REFETCH_SECONDS = 10.0
"""A token signed with an unknown key reads the key set again at most this often."""
KEYS_MAX_AGE = 3600.0
"""The key set is read again on the first token after this many seconds, so that a key the issuer dropped stops
being accepted."""
FETCH_TIMEOUT = 10.0
FETCH_MAX_BYTES = 512 * 1024
RETRY_SECONDS = 10
"""The Retry-After of a 503 when the issuer cannot be reached to verify a token."""
PRM_PATH = "/.well-known/oauth-protected-resource"
MAX_CLAIM_CHARS = 256


class IssuerUnreachable(Unverifiable):
    """The issuer's metadata or keys cannot be read: a token signed with a key not yet known is neither accepted nor
    refused."""

    description = "The authorization server cannot be reached to verify the token: retry after the time in Retry-After"


# --- configuration ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """This server as an OAuth protected resource."""

    url: str
    """The resource identifier: the URL clients use."""
    audience: str
    issuer: str
    jwks_url: str | None = None

    @property
    def metadata_url(self) -> str:
        """The path-suffixed metadata URL (RFC 9728 §3.1), which a 401's challenge names."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{PRM_PATH}{parts.path.rstrip('/')}"

    def metadata(self) -> dict[str, Any]:
        return {
            "resource": self.url,
            "authorization_servers": [self.issuer],
            "scopes_supported": SCOPES,
            "bearer_methods_supported": ["header"],
            "resource_name": "BimpeAI calls (bimpe-mcp)",
        }


def _secure(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))


def check(settings: Settings, host: str) -> None:
    """Refuse, before anything listens, an issuer or a key set that could be read over plain HTTP off this machine,
    and a public server without the URL its clients use."""
    if not settings.oauth_issuer:
        raise ConfigError(
            "--auth oauth needs BIMPE_OAUTH_ISSUER: the issuer URL of the authorization server that signs the access "
            "tokens (e.g. https://login.example.com/realms/team)"
        )
    for var, url in (("BIMPE_OAUTH_ISSUER", settings.oauth_issuer), ("BIMPE_OAUTH_JWKS_URL", settings.oauth_jwks_url)):
        if url and not _secure(url):
            raise ConfigError(
                f"{var}: {shown(url, 80)} is plain http:// off this machine, where anyone on the way could "
                "change the keys: use https:// (http:// is accepted on loopback only)"
            )
    if not settings.http_public_url and not is_loopback(host):
        raise ConfigError(
            f"--auth oauth on --host {shown(host)} needs BIMPE_HTTP_PUBLIC_URL: the URL clients use (e.g. "
            "https://mcp.example.com/mcp), which names this server in its tokens' audience"
        )


def resource_of(settings: Settings, local_url: str) -> Resource:
    """The resource: BIMPE_HTTP_PUBLIC_URL, else (on loopback) the URL this server listens on."""
    assert settings.oauth_issuer is not None
    url = settings.http_public_url or local_url
    return Resource(url=url, audience=settings.oauth_audience or url, issuer=settings.oauth_issuer,
                    jwks_url=settings.oauth_jwks_url)  # fmt: skip


# --- the issuer's metadata and keys -------------------------------------------------------------------------------


def discovery_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata is looked for, in order: RFC 8414 (the well-known path before the issuer's path),
    then OpenID Connect discovery (after it, then before it)."""
    parts = urlsplit(issuer)
    base, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    urls = [f"{base}/.well-known/oauth-authorization-server{path}", f"{base}{path}/.well-known/openid-configuration"]
    return urls + ([f"{base}/.well-known/openid-configuration{path}"] if path else [])


class Issuer:
    """The authorization server's metadata, read once, and its signing keys, read on the first token, again after
    KEYS_MAX_AGE, and again for a key id not known (at most once every REFETCH_SECONDS)."""

    def __init__(self, resource: Resource, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.resource = resource
        self.transport = transport
        self.name = resource.issuer
        """The issuer as its metadata spells it: the `iss` its tokens carry."""
        self._jwks_url = resource.jwks_url
        self._keys: dict[str, PyJWK] = {}
        self._read_at: float | None = None
        self._refetched_at: float | None = None
        self._lock = anyio.Lock()
        self.fetches = 0

    async def key(self, kid: str | None, alg: str) -> PyJWK | None:
        """The issuer's key that signs tokens with this key id and algorithm, if it has one."""
        async with self._lock:
            now = time.monotonic()
            if self._read_at is None or now - self._read_at >= KEYS_MAX_AGE:
                await self._read_keys(now)
            found = self._pick(kid, alg)
            recently = self._refetched_at is not None and now - self._refetched_at < REFETCH_SECONDS
            if found is None and kid is not None and kid not in self._keys and not recently:
                self._refetched_at = now
                await self._read_keys(now)
                found = self._pick(kid, alg)
            return found

    def _pick(self, kid: str | None, alg: str) -> PyJWK | None:
        if kid is not None:
            key = self._keys.get(kid)
            return key if key is not None and key.algorithm_name == alg else None
        fitting = [key for key in self._keys.values() if key.algorithm_name == alg]
        return fitting[0] if len(fitting) == 1 else None

    async def _read_keys(self, now: float) -> None:
        from jwt import PyJWK, PyJWKError
        from jwt.exceptions import InvalidKeyError

        if self._jwks_url is None:
            await self._discover()
        assert self._jwks_url is not None
        document = await self._get(self._jwks_url, "key set")
        found = document.get("keys")
        keys: dict[str, PyJWK] = {}
        for raw in cast("list[object]", found) if isinstance(found, list) else []:
            jwk = cast("dict[str, Any]", raw) if isinstance(raw, dict) else {}
            if not jwk or jwk.get("use", "sig") != "sig":
                continue
            try:
                key = PyJWK(jwk)
            except (PyJWKError, InvalidKeyError, ValueError, TypeError):
                continue  # a kind of key no accepted algorithm uses, or none at all
            if key.algorithm_name in ALGORITHMS:
                keys[str(jwk.get("kid", f"#{len(keys)}"))] = key
        if not keys:
            log.warning("the issuer's key set holds no RS256, ES256 or EdDSA signing key")
        self._keys, self._read_at = keys, now

    async def _discover(self) -> None:
        configured = self.resource.issuer.rstrip("/")
        for url in discovery_urls(self.resource.issuer):
            try:
                metadata = await self._get(url, "metadata")
            except IssuerUnreachable:
                continue
            named = metadata.get("issuer")
            if not isinstance(named, str) or named.rstrip("/") != configured:
                log.warning("the metadata at %s names another issuer: not used", shown(url, 120))
                continue
            jwks = self.resource.jwks_url or metadata.get("jwks_uri")
            if not isinstance(jwks, str) or not _secure(jwks):
                log.warning("the issuer's metadata names no https:// jwks_uri: set BIMPE_OAUTH_JWKS_URL")
                raise IssuerUnreachable(RETRY_SECONDS)
            self.name, self._jwks_url = named, jwks
            return
        log.warning("no metadata of the issuer could be read (tried %s)", ", ".join(discovery_urls(configured)))
        raise IssuerUnreachable(RETRY_SECONDS)

    async def _get(self, url: str, what: str) -> dict[str, Any]:
        import httpx2

        self.fetches += 1
        try:
            async with httpx2.AsyncClient(transport=self.transport, timeout=FETCH_TIMEOUT) as http:
                answer = await http.get(url, headers={"Accept": "application/json"})
            if answer.status_code != 200 or len(answer.content) > FETCH_MAX_BYTES:
                raise ValueError(f"answered {answer.status_code}")
            document: object = json.loads(answer.content)
        except (httpx2.HTTPError, ValueError) as exc:
            log.warning("the issuer's %s at %s cannot be read (%s)", what, shown(url, 120), type(exc).__name__)
            raise IssuerUnreachable(RETRY_SECONDS) from None
        if not isinstance(document, dict):
            raise IssuerUnreachable(RETRY_SECONDS)
        return cast("dict[str, Any]", document)


# --- tokens -------------------------------------------------------------------------------------------------------


class OAuthVerifier(GateVerifier):
    """The SDK's token verifier for `--auth oauth`: a JWT access token of the issuer, for this resource."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer

    async def verdict(self, token: str) -> AccessToken | None:
        """The principal of a token this server accepts, else None; raises IssuerUnreachable when the issuer's keys
        cannot be read to tell. The reason of a refusal is logged (never the token)."""
        principal = await self._verified(token.strip())
        if principal is not None:
            REQUESTER.set(requester(principal))
        return principal

    async def _verified(self, token: str) -> AccessToken | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            return _refused("not a JWT")
        alg, kid, typ = header.get("alg"), header.get("kid"), str(header.get("typ", "")).lower()
        if alg not in ALGORITHMS:
            return _refused(f"signed with {shown(alg)}, which is not RS256, ES256 or EdDSA")
        if typ not in TOKEN_TYPES:
            return _refused(f"its typ is {shown(typ)}: not an access token")
        if kid is not None and not isinstance(kid, str):
            return _refused("its kid is not a string")
        try:
            unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return _refused("its claims are not a JSON object")
        if str(unverified.get("iss", "")).rstrip("/") != self.issuer.resource.issuer.rstrip("/"):
            return _refused("issued by another issuer")
        key = await self.issuer.key(kid, str(alg))
        if key is None:
            return _refused("signed with a key the issuer does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=[str(alg)], audience=self.issuer.resource.audience,
                issuer=self.issuer.name, leeway=LEEWAY_SECONDS, options={"require": ["exp", "iss", "aud", "sub"]},
            )  # fmt: skip
        except jwt.InvalidTokenError as exc:
            return _refused(_reason(exc))
        return principal_of(token, claims, self.issuer.resource.audience)


def _reason(exc: Exception) -> str:
    import jwt

    reasons: list[tuple[type[Exception], str]] = [
        (jwt.ExpiredSignatureError, "expired"),
        (jwt.ImmatureSignatureError, "not valid yet (nbf or iat in the future)"),
        (jwt.InvalidAudienceError, "issued for another audience"),
        (jwt.InvalidIssuerError, "issued by another issuer"),
        (jwt.MissingRequiredClaimError, "missing a required claim (exp, iss, aud or sub)"),
        (jwt.InvalidSignatureError, "its signature does not verify"),
    ]
    return next((said for kind, said in reasons if isinstance(exc, kind)), "malformed")


def _refused(reason: str) -> None:
    log.info("refused an access token with 401: %s", reason)


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """The token's scopes: `scope`, space-separated (RFC 9068), or `scp`, a list or a string (some providers)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in cast("list[object]", value)]
    return []


def principal_of(token: str, claims: dict[str, Any], audience: str) -> AccessToken | None:
    subject, client = claims.get("sub"), claims.get("client_id") or claims.get("azp")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_CLAIM_CHARS:
        return _refused("its sub is not a short string")
    client_id = client if isinstance(client, str) and 0 < len(client) <= MAX_CLAIM_CHARS else None
    named = {"iss": claims["iss"]} | ({"client_id": client_id} if client_id else {})
    # The SDK refuses a token past expires_at with no leeway: the leeway is granted here.
    expires = claims["exp"] + LEEWAY_SECONDS if isinstance(claims.get("exp"), int | float) else None
    return AccessToken(token=token, client_id=client_id or subject, scopes=scopes_of(claims),
                       expires_at=int(expires) if expires else None, resource=audience, subject=subject,
                       claims=named)  # fmt: skip


def requester(principal: AccessToken) -> str:
    """Who made the request, as its log lines name them: the token's subject and client, never the token."""
    client = (principal.claims or {}).get("client_id")
    said = f"subject {shown(principal.subject, 80, noun='a subject')}"
    return said + (f" client {shown(client, 80, noun='a client id')}" if client and client != principal.subject else "")


# --- answers ------------------------------------------------------------------------------------------------------


def challenge(resource: Resource) -> str:
    """The auth-params of a 401's WWW-Authenticate that lead a client to the authorization server."""
    return f'resource_metadata="{resource.metadata_url}", scope="{READ_SCOPE}"'


def insufficient(scope: str, resource: Resource, needed: str) -> Response:
    """403 insufficient_scope: the token lacks `scope`; `needed` are the scopes to ask for."""
    said = f"This token lacks the scope {scope}: ask the authorization server for a token with {needed}"
    value = (f'Bearer error="insufficient_scope", scope="{needed}", resource_metadata="{resource.metadata_url}", '
             f'error_description="{said}"')  # fmt: skip
    body = {"error": "insufficient_scope", "error_description": said, "scope": needed}
    return JSONResponse(body, status_code=403, headers={"WWW-Authenticate": value})


def admit(principal: AccessToken, resource: Resource) -> Response | None:
    """403 for a token that may not read: every request needs READ_SCOPE."""
    if READ_SCOPE not in principal.scopes:
        log.info("refused a token without %s with 403", READ_SCOPE)
        return insufficient(READ_SCOPE, resource, READ_SCOPE)
    return None


def metadata_paths(resource: Resource, path: str) -> list[str]:
    """Where the protected resource metadata is served: the root form, and the path-suffixed forms of the resource's
    path and of the path this server answers on (they differ behind a proxy that rewrites paths)."""
    suffixes = [urlsplit(resource.url).path.rstrip("/"), path.rstrip("/")]
    return list(dict.fromkeys([PRM_PATH, *(PRM_PATH + suffix for suffix in suffixes if suffix)]))


def metadata_route(resource: Resource) -> Any:
    document = resource.metadata()

    async def protected_resource(_: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
        return JSONResponse(document, headers=headers)

    return protected_resource


def auth_settings(resource: Resource) -> AuthSettings:
    """The SDK's settings: no routes of its own (the metadata is served here, with both scopes), READ_SCOPE
    required; the audience is checked by the verifier."""
    return AuthSettings(issuer_url=AnyHttpUrl(resource.issuer), resource_server_url=None, required_scopes=[READ_SCOPE])


# --- bimpe:call ---------------------------------------------------------------------------------------------------


def _calls_a_call_tool(body: bytes) -> bool:
    try:
        message: object = json.loads(body)
    except (ValueError, RecursionError):
        return False  # the SDK answers the parse error
    messages = cast("list[object]", message) if isinstance(message, list) else [message]
    for item in messages:
        if isinstance(item, dict):
            request = cast("dict[str, Any]", item)
            params: object = request.get("params")
            name = cast("dict[str, Any]", params).get("name") if isinstance(params, dict) else None
            if request.get("method") == "tools/call" and name in CALL_TOOLS:
                return True
    return False


class CallScope:
    """Behind the gate, on the MCP path: a POST whose token lacks CALL_SCOPE and that calls place_call or
    confirm_call is answered 403 insufficient_scope. The body of such a token's POSTs is read here (up to
    `max_body` bytes; a larger one is passed on whole for the SDK's 413) and handed on unchanged."""

    def __init__(self, app: ASGIApp, path: str, verifier: OAuthVerifier, resource: Resource, max_body: int) -> None:
        self.app, self.path, self.verifier = app, path.rstrip("/"), verifier
        self.resource, self.max_body = resource, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or str(scope["path"]).rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        principal = verified()
        if principal is None or CALL_SCOPE in principal.scopes:
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        size, more = 0, True
        while more and size <= self.max_body:
            message = await receive()
            read.append(message)
            size += len(message.get("body", b""))
            more = message["type"] == "http.request" and bool(message.get("more_body"))
        if not more and _calls_a_call_tool(b"".join(m.get("body", b"") for m in read)):
            log.info("refused a call tool with 403: the token lacks %s", CALL_SCOPE)
            await insufficient(CALL_SCOPE, self.resource, " ".join(SCOPES))(scope, receive, send)
            return

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        await self.app(scope, replay, send)
