"""`--auth oauth` against a real OpenID provider on loopback: oidc-provider (tests/oidc/provider.mjs, an OpenID
Certified implementation) issues JWT access tokens (RFC 9068) by client credentials for the server's resource, and
`bimpe-mcp --transport http --auth oauth` verifies them, calling the standalone sandbox with its own API key.

Clients of the provider: `caller` (bimpe:read bimpe:call), `reader` (bimpe:read), `dialler` (bimpe:call alone).
Tokens that must be refused are forged here with the provider's own private key (or none, or the public key as an
HMAC secret), each differing from an accepted one in the one property under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from tests.dist_support import TOOLS, console_script, node_env, node_package, node_tool
from tests.served import HttpServer, Served, StandaloneSandbox
from tests.support import ACCEPT_STREAMS, INITIALIZE, assert_no_secret, child_env, data
from tests.test_remote_http import FAILED_DESTINATION, every_tool

PROVIDER = Path(__file__).with_name("oidc") / "provider.mjs"
CLIENTS = {
    "caller": ("caller-secret-5d0c83e7a1f24b96", "bimpe:read bimpe:call"),
    "reader": ("reader-secret-9a7e21c44f0b3d58", "bimpe:read"),
    "dialler": ("dialler-secret-3c6f9e02b8d71a45", "bimpe:call"),
}
ELSEWHERE = "https://elsewhere.example/mcp"
ERAS = ["legacy", "auto"]
ACCEPT = ACCEPT_STREAMS | {"MCP-Protocol-Version": "2025-11-25"}


def private_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    kind = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[alg]
    found: dict[str, Any] = json.loads(kind.to_jwk(key))
    return found | {"kid": kid, "alg": alg, "use": "sig"}


@dataclass
class Keys:
    rsa: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    ed: ed25519.Ed25519PrivateKey

    @classmethod
    def fresh(cls) -> Keys:
        return cls(rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1()),
                   ed25519.Ed25519PrivateKey.generate())  # fmt: skip


class OidcProvider:
    """tests/oidc/provider.mjs on a free loopback port."""

    def __init__(self, folder: Path, keys: list[dict[str, Any]], alg: str, clients: list[dict[str, str]]) -> None:
        node_package("oidc-provider")
        config = folder / "provider.json"
        config.write_text(json.dumps({"keys": keys, "alg": alg, "clients": clients}), "utf-8")
        self.served = Served([node_tool("node"), str(PROVIDER), str(config)], {}, read="stdout")
        self.issuer = self.served.wait_for(r"issuer (http://127\.0\.0\.1:\d+)").group(1)

    def token(self, client: str, resource: str, scope: str | None = None) -> str:
        secret, allowed = CLIENTS[client]
        form = {"grant_type": "client_credentials", "scope": scope or allowed, "resource": resource}
        answer = httpx2.post(self.issuer + "/token", data=form, auth=(client, secret), timeout=30)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def rotate(self, keys: list[dict[str, Any]], alg: str, clients: list[dict[str, str]]) -> None:
        body = {"keys": keys, "alg": alg, "clients": clients}
        httpx2.post(self.issuer + "/_test/keys", json=body, timeout=30).raise_for_status()

    def key_set_reads(self) -> int:
        reads: int = httpx2.get(self.issuer + "/_test/stats", timeout=30).json()["jwks"]
        return reads

    def stop(self) -> None:
        self.served.stop()


def clients(**algs: str) -> list[dict[str, str]]:
    return [{"client_id": name, "client_secret": secret, "scope": scope} | ({"alg": algs[name]} if name in algs else {})
            for name, (secret, scope) in CLIENTS.items()]  # fmt: skip


def oauth_server(sandbox: StandaloneSandbox, issuer: str, **more: str) -> HttpServer:
    env = {
        "BIMPE_BASE_URL": sandbox.origin,
        "BIMPE_AGENT_ID": sandbox.agents["live"],
        "BIMPE_API_KEY": sandbox.keys["full"],
        "BIMPE_HTTP_AUTH": "oauth",
        "BIMPE_OAUTH_ISSUER": issuer,
        **more,
    }
    return HttpServer(env)


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys.fresh()


@pytest.fixture(scope="module")
def provider(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    started = OidcProvider(
        tmp_path_factory.mktemp("idp"), [private_jwk(keys.rsa, "rsa-1", "RS256")], "RS256", clients()
    )
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def server(sandbox: StandaloneSandbox, provider: OidcProvider) -> Iterator[HttpServer]:
    served = oauth_server(sandbox, provider.issuer)
    try:
        yield served
    finally:
        served.stop()


def post(url: str, token: str | None, body: dict[str, Any] | None = None) -> httpx2.Response:
    headers = ACCEPT | ({"Authorization": f"Bearer {token}"} if token is not None else {})
    return httpx2.post(url, json=body or INITIALIZE, headers=headers, timeout=30)


def metadata_url(server: HttpServer) -> str:
    return f"{server.origin}/.well-known/oauth-protected-resource/mcp"


# --- the metadata documents ---------------------------------------------------------------------------------------


def test_the_protected_resource_metadata_names_the_issuer_and_both_scopes(
    server: HttpServer, provider: OidcProvider
) -> None:
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        answer = httpx2.get(server.origin + path, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        document = answer.json()
        assert document["resource"] == server.url, document
        assert document["authorization_servers"] == [provider.issuer], document
        assert document["scopes_supported"] == ["bimpe:read", "bimpe:call"], document
        assert document["bearer_methods_supported"] == ["header"], document


def test_a_request_without_a_token_gets_401_leading_to_the_metadata(server: HttpServer) -> None:
    answer = post(server.url, None)
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and f'resource_metadata="{metadata_url(server)}"' in challenge
    assert "error=" not in challenge.replace("error_description=", ""), "no error code without a credential"
    assert answer.json()["error"] == "missing_token"


# --- a client that gets its token from the provider ---------------------------------------------------------------


class MemoryTokens:
    """The SDK client's token storage, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@asynccontextmanager
async def oauth_client(
    url: str, name: str, issuer: str, mode: str = "auto"
) -> AsyncGenerator[tuple[Client, MemoryTokens]]:
    """The Python SDK's client with its client-credentials OAuth flow: the server's 401 leads it to the protected
    resource metadata, the issuer's metadata and its token endpoint, where it asks a token for this resource."""
    secret, scope = CLIENTS[name]
    storage = MemoryTokens()
    auth = ClientCredentialsOAuthProvider(server_url=url, storage=storage, client_id=name, client_secret=secret,
                                          scope=scope, issuer=issuer)  # fmt: skip
    http = httpx2.AsyncClient(auth=auth, timeout=60)
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client, storage


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_a_client_that_gets_its_token_from_the_provider_calls_every_tool_in_both_eras(
    server: HttpServer, sandbox: StandaloneSandbox, provider: OidcProvider, mode: str
) -> None:
    """The 401 asks for bimpe:read; place_call's 403 asks for bimpe:call as well, and the client steps up."""
    step_ups = server.log().count("refused a call tool with 403")
    async with oauth_client(server.url, "caller", provider.issuer, mode) as (client, storage):
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
        assert storage.tokens is not None and storage.tokens.scope == "bimpe:read"
        assert await every_tool(client, sandbox.agents["live"]) == TOOLS
        assert (await client.list_resources()).resources and (await client.list_prompts()).prompts
        audit = await client.read_resource("bimpe://audit/recent")
    assert storage.tokens is not None and set(str(storage.tokens.scope).split()) == {"bimpe:read", "bimpe:call"}
    assert server.log().count("refused a call tool with 403") == step_ups + 1, "one step-up, at place_call"
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == server.url and claims["iss"] == provider.issuer and claims["sub"] == "caller"
    entries = [json.loads(line) for line in getattr(audit.contents[0], "text", "").splitlines()]
    assert entries and entries[-1]["subject"] == {"sub": "caller", "client_id": "caller"}, entries
    assert storage.tokens.access_token not in server.log(), "the token never reaches the log"
    assert "[subject 'caller']" in server.log()
    assert_no_secret(server.log())


@pytest.mark.anyio
async def test_a_token_with_bimpe_read_alone_reads_everything_but_never_places_a_call(
    server: HttpServer, sandbox: StandaloneSandbox, provider: OidcProvider
) -> None:
    async with oauth_client(server.url, "reader", provider.issuer) as (client, _):
        agents = data(await client.call_tool("list_agents", {}))["agents"]
        assert sandbox.agents["live"] in {agent["id"] for agent in agents}
        assert (await client.list_prompts()).prompts
    token = provider.token("reader", server.url)
    arguments = {"destination": "+15005550003", "is_test_call": True}
    for tool in ("place_call", "confirm_call"):
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        answer = post(server.url, token, call)
        assert answer.status_code == 403, answer.text
        challenge = answer.headers["www-authenticate"]
        assert 'error="insufficient_scope", scope="bimpe:read bimpe:call"' in challenge, challenge
        assert "lacks the scope bimpe:call" in answer.json()["error_description"]
    listing: dict[str, Any] = {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}
    assert post(server.url, token, listing).status_code != 403, "only a call of place_call or confirm_call is refused"


def test_a_token_without_bimpe_read_is_refused_with_403_naming_the_scope(
    server: HttpServer, provider: OidcProvider
) -> None:
    answer = post(server.url, provider.token("dialler", server.url))
    assert answer.status_code == 403, answer.text
    assert 'error="insufficient_scope", scope="bimpe:read"' in answer.headers["www-authenticate"]
    assert "bimpe:read" in answer.json()["error_description"]


# --- tokens refused -----------------------------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def good_claims(server: HttpServer, provider: OidcProvider, **changed: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": server.url, "sub": "forger", "client_id": "caller", "iat": now,
              "exp": now + 300, "jti": uuid.uuid4().hex, "scope": "bimpe:read bimpe:call"}  # fmt: skip
    claims.update(changed)
    return {k: v for k, v in claims.items() if v is not None}


def signed(claims: dict[str, Any], keys: Keys, kid: str = "rsa-1", typ: str = "at+jwt") -> str:
    return jwt.encode(claims, keys.rsa, algorithm="RS256", headers={"kid": kid, "typ": typ})


def unsigned(claims: dict[str, Any]) -> str:
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": "rsa-1"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def hmac_with_public_key(claims: dict[str, Any], keys: Keys) -> str:
    """HS256 keyed with the provider's public key, as published: a verifier that let the token pick its algorithm
    would take the public key as the HMAC secret."""
    public = keys.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'at+jwt', 'kid': 'rsa-1'}).encode())}." + b64(
        json.dumps(claims).encode()
    )
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


Forge = Callable[[HttpServer, OidcProvider, Keys], str]
REFUSED: dict[str, tuple[Forge, str]] = {
    "expired": (lambda s, p, k: signed(good_claims(s, p, exp=int(time.time()) - 120), k), "expired"),
    "not_yet_valid": (lambda s, p, k: signed(good_claims(s, p, nbf=int(time.time()) + 120), k), "not valid yet"),
    "wrong_audience": (lambda s, p, k: p.token("caller", ELSEWHERE), "another audience"),
    "wrong_issuer": (lambda s, p, k: signed(good_claims(s, p, iss="http://127.0.0.1:9/other"), k), "another issuer"),
    "alg_none": (lambda s, p, k: unsigned(good_claims(s, p)), "signed with 'none'"),
    "hmac_with_the_public_key": (lambda s, p, k: hmac_with_public_key(good_claims(s, p), k), "signed with 'HS256'"),
    "tampered": (lambda s, p, k: tampered(signed(good_claims(s, p), k)), "signature does not verify"),
    "unknown_key": (lambda s, p, k: signed(good_claims(s, p), k, kid="rsa-unknown"), "a key the issuer does not"),
    "a_logout_token": (lambda s, p, k: signed(good_claims(s, p), k, typ="logout+jwt"), "not an access token"),
    "no_subject": (lambda s, p, k: signed(good_claims(s, p, sub=None), k), "missing a required claim"),
    "a_subject_too_long": (lambda s, p, k: signed(good_claims(s, p, sub="x" * 300), k), "its sub is not a short"),
    "not_a_jwt": (lambda s, p, k: "not-a-jwt-at-all", "not a JWT"),
    "claims_not_an_object": (lambda s, p, k: claims_as(b"[1, 2]", k), "its claims are not a JSON object"),
}


def claims_as(payload: bytes, keys: Keys) -> str:
    """A token whose payload is `payload`, signed as the issuer signs."""
    header = b64(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}).encode())
    signing_input = f"{header}.{b64(payload)}"
    signature = keys.rsa.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64(json.dumps(claims | {'sub': 'somebody-else'}).encode())}.{signature}"


def test_a_token_forged_like_the_refused_ones_but_valid_is_accepted(
    server: HttpServer, provider: OidcProvider, keys: Keys
) -> None:
    """The refused tokens below differ from this one in one property each; within the leeway, an expired token or a
    token valid a moment from now is still accepted."""
    for claims in (good_claims(server, provider), good_claims(server, provider, exp=int(time.time()) - 5,
                                                              nbf=int(time.time()) + 5)):  # fmt: skip
        assert post(server.url, signed(claims, keys)).status_code == 200
    # Scopes as a list under `scp` (as Entra writes them), and no key id where the issuer has one key of that kind.
    listed = good_claims(server, provider, scope=None, scp=["bimpe:read", "bimpe:call"])
    assert post(server.url, signed(listed, keys)).status_code == 200
    anonymous = jwt.encode(good_claims(server, provider), keys.rsa, algorithm="RS256", headers={"typ": "at+jwt"})
    assert post(server.url, anonymous).status_code == 200
    headers = ACCEPT | {"Authorization": f"Bearer {anonymous}", "Content-Type": "application/json"}
    garbled = httpx2.post(server.url, content=b"{not json", headers=headers, timeout=30)
    assert garbled.status_code == 400 and garbled.json()["error"]["code"] == -32700, "the SDK answers a parse error"


@pytest.mark.parametrize("case", list(REFUSED))
def test_each_bad_token_is_refused_with_401_invalid_token(
    server: HttpServer, provider: OidcProvider, keys: Keys, case: str
) -> None:
    forge, reason = REFUSED[case]
    token = forge(server, provider, keys)
    said = server.log().count(reason)
    answer = post(server.url, token)
    assert answer.status_code == 401, answer.text
    challenge = answer.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge and f'resource_metadata="{metadata_url(server)}"' in challenge
    assert answer.json()["error"] == "invalid_token" and token not in answer.text
    assert said == 0, f"each reason is met once: {reason!r}"
    server.served.wait_for(f"refused an access token with 401: .*{re.escape(reason)}")
    assert token not in server.log()


# --- key rotation -------------------------------------------------------------------------------------------------


def test_the_issuer_rotates_its_keys_without_a_restart_and_unknown_key_ids_are_rate_limited(
    sandbox: StandaloneSandbox, keys: Keys, tmp_path: Path
) -> None:
    first = [private_jwk(keys.rsa, "rsa-1", "RS256")]
    idp = OidcProvider(tmp_path, first, "RS256", clients())
    served = oauth_server(sandbox, idp.issuer)
    try:
        assert post(served.url, idp.token("caller", served.url)).status_code == 200
        assert idp.key_set_reads() == 1
        fresh = Keys.fresh()
        # The new key set: ES256 signs every client's tokens but the reader's, which EdDSA signs; RS256 is gone.
        idp.rotate([private_jwk(fresh.ec, "ec-2", "ES256"), private_jwk(fresh.ed, "ed-2", "EdDSA")], "ES256",
                   clients(reader="EdDSA"))  # fmt: skip
        for client, alg in (("caller", "ES256"), ("reader", "EdDSA")):
            token = idp.token(client, served.url)
            assert jwt.get_unverified_header(token)["alg"] == alg
            assert post(served.url, token).status_code == 200, (client, served.log()[-2000:])
        assert idp.key_set_reads() == 2, "one read of the new key set, for the first token signed with it"
        own = rsa.generate_private_key(65537, 2048)
        flood = [jwt.encode(flooding(served, idp.issuer), own, algorithm="RS256", headers={"kid": f"made-up-{n}",
                 "typ": "at+jwt"}) for n in range(30)]  # fmt: skip
        for token in flood:
            assert post(served.url, token).status_code == 401
        assert idp.key_set_reads() <= 3, "thirty unknown key ids read the key set once at most"
    finally:
        served.stop()
        idp.stop()


def flooding(server: HttpServer, issuer: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": server.url, "sub": "flood", "iat": now, "exp": now + 300, "scope": "bimpe:read"}


# --- configuration ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "args", "said"),
    [
        ({}, [], "--auth oauth needs BIMPE_OAUTH_ISSUER"),
        (
            {"BIMPE_OAUTH_ISSUER": "http://login.example.com"},
            [],
            "BIMPE_OAUTH_ISSUER: 'http://login.example.com' is plain http:// off this machine",
        ),
        ({"BIMPE_OAUTH_ISSUER": "https://login.example.com"}, ["--host", "0.0.0.0"], "needs BIMPE_HTTP_PUBLIC_URL"),
        ({"BIMPE_OAUTH_ISSUER": "login.example.com"}, [], "BIMPE_OAUTH_ISSUER: must be an https:// URL"),
    ],
)
def test_a_configuration_that_cannot_work_is_refused_before_anything_listens(
    env: dict[str, str], args: list[str], said: str
) -> None:
    argv = [console_script(), "--transport", "http", "--auth", "oauth", "--port", "0", *args]
    run = subprocess.run(argv, env=child_env(BIMPE_SANDBOX="true", **env), capture_output=True, text=True, timeout=60,
                         check=False)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert said in run.stderr and "streamable HTTP on" not in run.stderr, run.stderr


def test_one_users_tokens_share_one_rate_and_another_user_keeps_theirs(
    sandbox: StandaloneSandbox, provider: OidcProvider, keys: Keys
) -> None:
    limited = oauth_server(sandbox, provider.issuer, BIMPE_HTTP_RATE_LIMIT="3/hour")
    try:
        alice = [signed(good_claims(limited, provider, sub="alice"), keys) for _ in range(2)]
        bob = signed(good_claims(limited, provider, sub="bob"), keys)
        answers = [post(limited.url, token).status_code for token in (alice[0], alice[1], alice[0], alice[1])]
        refused = post(limited.url, alice[1])
        other = post(limited.url, bob)
    finally:
        limited.stop()
    assert answers == [200, 200, 200, 429], "a renewed token is the same user"
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "user" in refused.text and other.status_code == 200


TS_CLIENT = Path(__file__).with_name("ts_oauth_client.mjs")


def test_the_typescript_sdk_signs_in_at_the_provider_and_calls_every_tool(
    server: HttpServer, sandbox: StandaloneSandbox, provider: OidcProvider
) -> None:
    """A host on the TypeScript SDK 1.x: its client-credentials provider follows the 401 to the metadata and the
    token endpoint, and its output-schema validation checks every result."""
    secret, scope = CLIENTS["caller"]
    plan = {"url": server.url, "issuer": provider.issuer, "clientId": "caller", "clientSecret": secret,
            "scope": scope, "agent": sandbox.agents["live"], "destination": FAILED_DESTINATION}  # fmt: skip
    run = subprocess.run(
        [node_tool("node"), str(TS_CLIENT)],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        env=node_env(),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert_no_secret(run.stdout + run.stderr)
    seen = json.loads(run.stdout)
    assert set(seen["listed"]) == set(seen["called"]) == TOOLS
