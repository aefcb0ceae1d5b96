"""With `--auth passthrough`, whether a bearer token is an API key the API accepts: one cheap read (the first agent),
before a session opens or a tool runs. The verdict, a refusal too, is kept briefly in the state store
(BIMPE_STATE_URL) under a digest of the key, never the key, so that every replica shares it; a store that cannot be
reached leaves this process's own memory of verdicts.

`GateVerifier` is what the verifiers the gate asks first (passthrough's and OAuth's) share: the verdict the gate
reached for a request, which the layers behind it (the limits, the OAuth scope check, the SDK's bearer middleware)
take from `VERIFIED` instead of verifying the same bearer again."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

from mcp.server.auth.provider import AccessToken

from bimpe_mcp.core.state import StateUnavailable, Tenanted

if TYPE_CHECKING:
    from bimpe_mcp.tools.state import Connector

log = logging.getLogger(__name__)

ACCEPTED_SECONDS = 60.0
"""How long a key the API accepted is taken as valid without asking again (a revoked key works that long)."""
REFUSED_SECONDS = 60.0
"""How long a key the API refused is refused without asking again."""
RETRY_SECONDS = 30
"""The Retry-After of a 503 when the API cannot be reached to verify a key and named no wait itself."""
LOCAL_KEPT = 10_000


class Unverifiable(Exception):
    """The API could not be asked (unreachable, failing, or limiting this server): neither yes nor no."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the API cannot verify keys now; retry after {retry_after} s")
        self.retry_after = retry_after


class TooManyToVerify(Exception):
    """The sender has had more keys verified by the API than BIMPE_HTTP_RATE_LIMIT allows it: this one is not asked
    about (neither yes nor no) until `retry_after` seconds have passed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many keys to verify; retry after {retry_after} s")
        self.retry_after = retry_after


SENDER: ContextVar[str] = ContextVar("sender", default="")
"""The address of the client whose bearer is being verified (the gate sets it): a key the API must be asked about
counts against it."""


# The bearer the gate verified for the request being served, with its principal.
VERIFIED: ContextVar[tuple[str, AccessToken] | None] = ContextVar("verified_bearer", default=None)


class GateVerifier:
    """A token verifier the gate asks first, through `checked`: its verdict on the bearer (`verdict`, which raises
    Unverifiable when it cannot say) is kept for the request, and the SDK's own check of the same bearer
    (`verify_token`) takes it from there."""

    async def verdict(self, token: str) -> AccessToken | None:
        raise NotImplementedError

    async def checked(self, token: str) -> AccessToken | None:
        principal = await self.verdict(token)
        VERIFIED.set((token, principal) if principal is not None else None)
        return principal

    async def verify_token(self, token: str) -> AccessToken | None:
        seen = VERIFIED.get()
        if seen is not None and seen[0] == token:
            return seen[1]
        try:
            return await self.verdict(token)
        except (Unverifiable, TooManyToVerify):
            return None


def verified() -> AccessToken | None:
    """The principal the gate admitted the request being served with, if a GateVerifier judged it."""
    seen = VERIFIED.get()
    return seen[1] if seen is not None else None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyCheck:
    """Verdicts on API keys. With `pace` (BIMPE_HTTP_RATE_LIMIT's count of an identity), each key the API must be
    asked about counts against its sender's address first: requests the gate refuses never reach the limits, so
    without it one address could have the server ask the API about any number of made-up keys."""

    def __init__(
        self, connector: Connector, store: Tenanted, pace: Callable[[str], Awaitable[float]] | None = None
    ) -> None:
        self.connector = connector
        self.store = store
        self.pace = pace
        self._local: dict[str, tuple[bool, float]] = {}

    async def aclose(self) -> None:
        await self.connector.aclose()
        await self.store.aclose()

    async def accepted(self, key: str) -> bool:
        """Whether the API accepts `key`, from a verdict kept less than a minute ago or from the API itself; raises
        Unverifiable when the API cannot say, TooManyToVerify when the sender may not have another key asked about
        yet."""
        hashed, now = digest(key), time.time()
        kept = await self._kept(hashed, now)
        if kept is not None:
            return kept
        if self.pace is not None:
            waited = await self.pace(f"address:{SENDER.get() or 'unknown'}")
            if waited > 0:
                raise TooManyToVerify(max(1, math.ceil(waited)))
        verdict = await self._ask(key)
        await self._keep(hashed, verdict, now)
        return verdict

    async def _kept(self, hashed: str, now: float) -> bool | None:
        try:
            return await self.store.verdict(hashed, now)
        except StateUnavailable:
            verdict, until = self._local.get(hashed, (False, 0.0))
            return verdict if until > now else None

    async def _keep(self, hashed: str, verdict: bool, now: float) -> None:
        seconds = ACCEPTED_SECONDS if verdict else REFUSED_SECONDS
        try:
            await self.store.judge(hashed, verdict, now, seconds)
        except StateUnavailable as exc:
            log.warning("a key's verdict is kept by this process only (%s)", exc)
            if len(self._local) >= LOCAL_KEPT:
                self._local = {h: v for h, v in self._local.items() if v[1] > now}
            if len(self._local) < LOCAL_KEPT:
                self._local[hashed] = (verdict, now + seconds)

    async def _ask(self, key: str) -> bool:
        from bimpe_mcp.api.errors import ApiError, BimpeError

        try:
            await self.connector.for_key(key).list_agents(limit=1)
        except ApiError as exc:
            if exc.status == 401:
                return False
            if exc.status == 403:
                return True  # a key of the team, restricted to other scopes: the API answers each tool
            log.warning("a key could not be verified: the API answered %d", exc.status)
            raise Unverifiable(max(1, round(exc.retry_after or RETRY_SECONDS))) from None
        except BimpeError as exc:
            log.warning("a key could not be verified: %s", type(exc).__name__)
            raise Unverifiable(RETRY_SECONDS) from None
        return True
