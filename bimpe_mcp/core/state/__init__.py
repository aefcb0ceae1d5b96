"""Where place_call's memory lives, so that it holds across processes and replicas: which (agent, idempotency key)
was dialled and when (the budgets), the confirmations spent and the key each was spent on, the results kept for
replays, the dials whose answer never reached the client, the recent audit entries, the secret that signs
confirmation tokens when BIMPE_CONFIRM_SECRET is not set, the confirmation cards waiting for a person's press, and
(HTTP passthrough) the verdicts on the API keys clients sent, kept briefly under a digest of each key, and (HTTP with
BIMPE_HTTP_RATE_LIMIT) each client's pace of requests.

With passthrough each API key is a tenant: `scoped(store, tenant)` is the view of one tenant, whose budgets, dials,
confirmations, kept results and audit entries are its own (the tenant is a digest of the key, never the key).

`open_store(url)` reads BIMPE_STATE_URL: unset, a SQLite file in the user's state directory; `sqlite:///path`;
`memory://` (this process only); `redis://` or `rediss://` (shared by every replica). Each change that decides
anything (`admit`, `spend`, `pend`, `press`) is one atomic step on the store, so concurrent processes never exceed a
budget, spend one confirmation twice, or take two presses of one card. A store that cannot be reached raises
`StateUnavailable`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

DAY = 86_400.0
KEPT_SECONDS = DAY  # the API's own idempotency window
HELD_SECONDS = 3_600.0
RECENT_KEPT = 100
# What BIMPE_STATE_URL may start with (the settings refuse anything else).
SCHEMES = ("sqlite:///", "memory://", "redis://", "rediss://")
SLACK = 1e-4
"""Seconds of rounding a pace forgives (instants near 1.7e9 s carry errors of a few tenths of a microsecond)."""


class StateUnavailable(Exception):
    """The store cannot be read or written; the message names the store, never a password."""


@dataclass(frozen=True)
class Admission:
    """A call about to be sent: counted once per (agent, key) in the budget of its kind unless a window's limit is
    reached, and its confirmation (if any) spent on its key. `limits` are (window, seconds, limit) for the windows
    with a limit."""

    agent: str
    key: str
    kind: str
    fingerprint: str
    now: float
    limits: tuple[tuple[str, float, int], ...] = ()
    confirmation: str | None = None


@dataclass(frozen=True)
class Card:
    """A confirmation card: the call it asks about (`fingerprint`, and `body`, the call and its key as JSON), the
    one-time `nonce` its buttons send, its `status` (`pending` until a person presses Confirm or Decline, then
    `confirmed` or `declined`), and `until`, when it stops counting: a pending card expires then, an answered one is
    forgotten."""

    fingerprint: str
    nonce: str
    status: str
    body: str
    until: float


# What a press found: ("pressed", the card as answered now), or the card unchanged with why the press did nothing:
# ("expired", ...) or the status it had already ("confirmed", "declined").
Press = tuple[str, Card]

# Why an admission was refused: ("spent", the key the confirmation went out with) or ("budget", the window).
Refusal = tuple[str, str]


class Store(Protocol):
    where: str

    async def admit(self, admission: Admission) -> Refusal | None: ...

    async def times(self, kind: str, since: float) -> list[float]:
        """When the calls of this kind dialled after `since` were counted, oldest first."""
        ...

    async def dialled(self, agent: str, key: str) -> str | None:
        """The fingerprint of the call dialled under this agent and key, if any."""
        ...

    async def spent(self, confirmation: str) -> str | None: ...

    async def secret(self, fresh: str) -> str:
        """The confirmation secret every process on this state signs with: the one stored, or `fresh`, stored now
        (the first writer wins)."""
        ...

    async def spend(self, confirmation: str, key: str, now: float) -> str:
        """Spend a confirmation on `key` unless it was spent already; the key it is spent on."""
        ...

    async def result(self, agent: str, key: str) -> tuple[str, str] | None:
        """The fingerprint and the JSON of the result kept for this agent and key."""
        ...

    async def keep(self, agent: str, key: str, fingerprint: str, body: str, now: float) -> None: ...

    async def held(self, fingerprint: str, now: float) -> str | None:
        """The key of a dial of this call whose answer may never have reached the client."""
        ...

    async def hold(self, fingerprint: str, key: str, now: float) -> None: ...

    async def release(self, fingerprint: str, key: str) -> None: ...

    async def card(self, fingerprint: str, now: float) -> Card | None:
        """The card of this call that still counts at `now`, if any."""
        ...

    async def pend(self, card: Card, now: float) -> Card:
        """`card`, stored now unless a card of the same call still counts (then that one)."""
        ...

    async def press(self, nonce: str, status: str, now: float, until: float) -> Press | None:
        """A press of the card with this nonce: a pending card not yet expired takes `status` and counts until
        `until`; any other is left as it is. None when no card has this nonce."""
        ...

    async def settle(self, fingerprint: str, nonce: str) -> None:
        """The card forgotten: its answer reached the model."""
        ...

    async def remember(self, entry: str) -> None:
        """One audit entry (JSON), among the recent ones every replica sees."""
        ...

    async def recent(self) -> list[str]: ...

    async def verdict(self, digest: str, now: float) -> bool | None:
        """Whether the API accepted the key of this digest, when that was judged less than a while ago."""
        ...

    async def judge(self, digest: str, accepted: bool, now: float, seconds: float) -> None:
        """The API's verdict on the key of this digest, kept for `seconds`."""
        ...

    async def aclose(self) -> None: ...


class Tenanted(Store, Protocol):
    async def remember_for(self, tenant: str, entry: str) -> None: ...

    async def recent_for(self, tenant: str) -> list[str]: ...

    async def pace(self, name: str, now: float, interval: float, span: float) -> float:
        """One request of `name` (an HTTP client's identity) at `now`, under a rate of one per `interval` seconds
        with at most `span / interval` at once (`paced`): 0 when it is counted, else the seconds until one would be.
        One atomic step, so that every process sharing the store counts against one rate."""
        ...


class Scoped:
    """One tenant's view of a store: every name that decides anything (agent, kind, confirmation, fingerprint)
    carries the tenant, and its audit entries are its own."""

    def __init__(self, store: Tenanted, tenant: str) -> None:
        self.base = store
        self.tenant = tenant
        self.where = store.where

    def _of(self, name: str) -> str:
        return f"{self.tenant}/{name}"

    async def admit(self, admission: Admission) -> Refusal | None:
        a = admission
        confirmation = self._of(a.confirmation) if a.confirmation is not None else None
        mine = Admission(self._of(a.agent), a.key, self._of(a.kind), a.fingerprint, a.now, a.limits, confirmation)
        return await self.base.admit(mine)

    async def times(self, kind: str, since: float) -> list[float]:
        return await self.base.times(self._of(kind), since)

    async def dialled(self, agent: str, key: str) -> str | None:
        return await self.base.dialled(self._of(agent), key)

    async def spent(self, confirmation: str) -> str | None:
        return await self.base.spent(self._of(confirmation))

    async def spend(self, confirmation: str, key: str, now: float) -> str:
        return await self.base.spend(self._of(confirmation), key, now)

    async def secret(self, fresh: str) -> str:
        return await self.base.secret(fresh)

    async def result(self, agent: str, key: str) -> tuple[str, str] | None:
        return await self.base.result(self._of(agent), key)

    async def keep(self, agent: str, key: str, fingerprint: str, body: str, now: float) -> None:
        await self.base.keep(self._of(agent), key, fingerprint, body, now)

    async def held(self, fingerprint: str, now: float) -> str | None:
        return await self.base.held(self._of(fingerprint), now)

    async def hold(self, fingerprint: str, key: str, now: float) -> None:
        await self.base.hold(self._of(fingerprint), key, now)

    async def release(self, fingerprint: str, key: str) -> None:
        await self.base.release(self._of(fingerprint), key)

    async def card(self, fingerprint: str, now: float) -> Card | None:
        return self._own(await self.base.card(self._of(fingerprint), now))

    async def pend(self, card: Card, now: float) -> Card:
        mine = replace(card, fingerprint=self._of(card.fingerprint), nonce=self._of(card.nonce))
        found = self._own(await self.base.pend(mine, now))
        assert found is not None
        return found

    async def press(self, nonce: str, status: str, now: float, until: float) -> Press | None:
        pressed = await self.base.press(self._of(nonce), status, now, until)
        if pressed is None:
            return None
        found = self._own(pressed[1])
        assert found is not None
        return pressed[0], found

    async def settle(self, fingerprint: str, nonce: str) -> None:
        await self.base.settle(self._of(fingerprint), self._of(nonce))

    def _own(self, card: Card | None) -> Card | None:
        """A card as this tenant knows it: its names without the tenant."""
        if card is None:
            return None
        cut = len(self.tenant) + 1
        return replace(card, fingerprint=card.fingerprint[cut:], nonce=card.nonce[cut:])

    async def remember(self, entry: str) -> None:
        await self.base.remember_for(self.tenant, entry)

    async def recent(self) -> list[str]:
        return await self.base.recent_for(self.tenant)

    async def verdict(self, digest: str, now: float) -> bool | None:
        return await self.base.verdict(digest, now)

    async def judge(self, digest: str, accepted: bool, now: float, seconds: float) -> None:
        await self.base.judge(digest, accepted, now, seconds)

    async def aclose(self) -> None:
        await self.base.aclose()


def scoped(store: Tenanted, tenant: str) -> Store:
    """The store as the tenant sees it; the whole store without a tenant (one operator's key)."""
    return Scoped(store, tenant) if tenant else store


def over_limit(times: list[float], now: float, limits: tuple[tuple[str, float, int], ...]) -> str | None:
    """The first window whose limit the dials at `times` reach at `now`."""
    for name, span, limit in limits:
        if sum(1 for t in times if now - t < span) >= limit:
            return name
    return None


def paced(due: float | None, now: float, interval: float, span: float) -> tuple[float, float]:
    """A rate as a token bucket, kept as one instant per name (GCRA): `due` is when the requests counted so far are
    all paid off. A request at `now` is counted unless that would put `due` more than `span` ahead; answers the new
    `due` and 0, or `due` unchanged and the seconds to wait. `span / interval` requests pass at once, then one every
    `interval` seconds."""
    start = now if due is None or due < now else due
    wait = start + interval - span - now
    if wait > SLACK:
        return start, wait
    return start + interval, 0.0


def state_home(environ: dict[str, str] | None = None, platform: str = sys.platform) -> Path:
    """The user's state directory of bimpe-mcp: $XDG_STATE_HOME/bimpe-mcp, else ~/.local/state/bimpe-mcp (Linux
    and others), ~/Library/Application Support/bimpe-mcp (macOS), %LOCALAPPDATA%\\bimpe-mcp (Windows)."""
    env = dict(os.environ) if environ is None else environ
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"]) / "bimpe-mcp"
    if platform == "win32" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "bimpe-mcp"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "bimpe-mcp"
    return Path.home() / ".local" / "state" / "bimpe-mcp"


def default_file() -> Path:
    return state_home() / "state.sqlite3"


def open_store(url: str | None) -> Tenanted:
    """The store BIMPE_STATE_URL names; nothing is connected or created until it is first used."""
    if url is None or url.startswith("sqlite:///"):
        from bimpe_mcp.core.state.sqlite_store import SqliteStore

        return SqliteStore(Path(url[len("sqlite:///") :]) if url else default_file())
    if url.startswith("memory://"):
        from bimpe_mcp.core.state.sqlite_store import SqliteStore

        return SqliteStore(None)
    from bimpe_mcp.core.state.redis_store import RedisStore

    return RedisStore(url)


def shown_url(url: str) -> str:
    """A store's URL as it may be shown: any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    auth, host = rest.split("@", 1)
    user = auth.split(":", 1)[0] if ":" in auth else ""
    return f"{scheme}://{user}:***@{host}"
