"""Confirmation tokens: HMAC-signed, bound to a hash of the exact call, expiring after a few minutes.

A token is `nonce.expiry.digest.signature`. Any replica holding the same secret verifies it; the call it confirms is
placed under an idempotency key derived from the nonce, so presenting a token again can never ring a second time."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

TOKEN_SECONDS = 300
_DIGEST_CHARS = 16


def call_digest(agent_id: str, destination: str, is_test_call: bool) -> str:
    """A hash of the exact call a token confirms: any change gives another digest. (The idempotency key is bound
    through the nonce instead: a retry after an unknown outcome adds the key the failure named.)"""
    body = json.dumps([agent_id, destination, is_test_call])
    return hashlib.sha256(body.encode()).hexdigest()[:_DIGEST_CHARS]


class TokenError(ValueError):
    """Why a token confirms nothing; the message is written for the model."""


class Tokens:
    def __init__(self, secret: bytes | None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, digest: str, now: datetime) -> str:
        body = f"{secrets.token_hex(12)}.{int(now.timestamp()) + TOKEN_SECONDS}.{digest}"
        return f"{body}.{self._sign(body)}"

    def nonce(self, token: str, digest: str) -> tuple[str, int]:
        """The token's nonce and expiry (epoch seconds), when it is genuine and confirms exactly this call."""
        parts = token.split(".")
        if len(parts) != 4 or not hmac.compare_digest(self._sign(".".join(parts[:3])), parts[3]):
            raise TokenError("the confirmation_token is not one this server issued (or it was altered)")
        nonce, expiry, bound = parts[:3]
        if bound != digest:
            raise TokenError("the confirmation_token was issued for other arguments: any change needs a new one")
        return nonce, int(expiry)
