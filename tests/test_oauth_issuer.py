"""What the server does with an authorization server that publishes odd or no documents: each case a loopback issuer
whose metadata and key set the test writes, and a server process in front of it. A token the server cannot check is
answered 503 with Retry-After (neither accepted nor refused); metadata naming another issuer, and keys of kinds no
accepted algorithm uses, are passed over."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from jwt.algorithms import RSAAlgorithm

from tests.served import HttpServer, StandaloneSandbox
from tests.test_oauth import Keys, OidcProvider, good_claims, oauth_server, post, signed


@dataclass
class Site:
    """A loopback issuer serving the documents in `paths` (path -> (status, body)); every request it was sent."""

    paths: dict[str, tuple[int, Any]] = field(default_factory=dict[str, tuple[int, Any]])
    asked: list[str] = field(default_factory=list[str])
    issuer: str = ""


@contextmanager
def issuer_site() -> Generator[Site]:
    site = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.asked.append(self.path)
            status, body = site.paths.get(self.path, (404, {"error": "not_found"}))
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.issuer = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys.fresh()


def claims(server: HttpServer, site: Site) -> dict[str, Any]:
    """A valid token's claims for this server, issued by `site`."""
    return good_claims(server, cast("OidcProvider", site), sub="ada")


def public_jwk(keys: Keys, kid: str = "rsa-1", **more: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(keys.rsa.public_key()))
    return jwk | {"kid": kid, "alg": "RS256", "use": "sig"} | more


@contextmanager
def served(sandbox: StandaloneSandbox, site: Site) -> Generator[HttpServer]:
    server = oauth_server(sandbox, site.issuer)
    try:
        yield server
    finally:
        server.stop()


def test_metadata_naming_another_issuer_is_passed_over_for_the_one_that_names_this_issuer(
    sandbox: StandaloneSandbox, keys: Keys
) -> None:
    with issuer_site() as site:
        site.paths["/.well-known/oauth-authorization-server"] = (200, {"issuer": "https://elsewhere.example"})
        site.paths["/.well-known/openid-configuration"] = (200, {"issuer": site.issuer, "jwks_uri": site.issuer + "/k"})
        # Beside the key: one for encryption, one HMAC secret and one no algorithm can read, all passed over.
        odd = [public_jwk(keys, "enc", use="enc"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
               {"kty": "XYZ", "kid": "strange"}]  # fmt: skip
        site.paths["/k"] = (200, {"keys": [public_jwk(keys), *odd]})
        with served(sandbox, site) as server:
            good = post(server.url, signed(claims(server, site), keys))
            encrypting = post(server.url, signed(claims(server, site), keys, kid="enc"))
            log = server.log()
    assert good.status_code == 200 and encrypting.status_code == 401
    assert "names another issuer" in log
    assert "/.well-known/openid-configuration" in site.asked


@pytest.mark.parametrize(
    ("documents", "said"),
    [
        ({}, "no metadata of the issuer could be read"),
        ({"/.well-known/oauth-authorization-server": (200, {"issuer": "ISSUER", "jwks_uri": "http://keys.example/k"})},
         "names no https:// jwks_uri"),
        ({"/.well-known/oauth-authorization-server": (200, {"issuer": "ISSUER", "jwks_uri": "ISSUER/k"}),
          "/k": (500, {"error": "down"})}, "key set at"),
        ({"/.well-known/oauth-authorization-server": (200, "[1, 2]")}, "no metadata of the issuer could be read"),
    ],
    ids=["no_metadata", "jwks_not_https", "key_set_failing", "metadata_not_an_object"],
)  # fmt: skip
def test_an_issuer_whose_keys_cannot_be_read_gets_503_with_retry_after_never_a_401(
    sandbox: StandaloneSandbox, keys: Keys, documents: dict[str, tuple[int, Any]], said: str
) -> None:
    with issuer_site() as site:
        for path, (status, body) in documents.items():
            text = json.dumps(body) if not isinstance(body, str) else body
            site.paths[path] = (status, json.loads(text.replace("ISSUER", site.issuer)))
        with served(sandbox, site) as server:
            answer = post(server.url, signed(claims(server, site), keys))
            log = server.log()
    assert answer.status_code == 503 and int(answer.headers["retry-after"]) > 0, answer.text
    assert "cannot be reached" in answer.json()["error_description"]
    assert said in log


def test_a_key_set_without_a_signing_key_of_an_accepted_kind_refuses_every_token_and_says_why(
    sandbox: StandaloneSandbox, keys: Keys
) -> None:
    with issuer_site() as site:
        site.paths["/.well-known/oauth-authorization-server"] = (
            200,
            {"issuer": site.issuer, "jwks_uri": site.issuer + "/k"},
        )
        site.paths["/k"] = (200, {"keys": [public_jwk(keys, use="enc")]})
        with served(sandbox, site) as server:
            answer = post(server.url, signed(claims(server, site), keys))
            log = server.log()
    assert answer.status_code == 401 and "holds no RS256, ES256 or EdDSA signing key" in log
