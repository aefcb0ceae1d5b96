"""The state in Redis, shared by every replica on every machine (redis-py's asyncio client, imported only here).

Each decision is one Lua script, which Redis runs atomically: counting a dial against the budget of its kind and
spending its confirmation, or spending a confirmation alone. Timestamps are the server's clock, as in SQLite; entries
expire after the API's idempotency window."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bimpe_mcp.core.state import (
    DAY,
    HELD_SECONDS,
    KEPT_SECONDS,
    RECENT_KEPT,
    Admission,
    Card,
    Press,
    Refusal,
    StateUnavailable,
    shown_url,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

PREFIX = "bimpe-mcp:"
# KEYS: the dial, the dials of the kind, the confirmation (or the dial again, unused). ARGV: fingerprint, member
# (agent|key), now, seconds kept, key, whether a confirmation is spent, then the limits as JSON [[name, span, n]].
ADMIT = """
local now = tonumber(ARGV[3])
local confirm = ARGV[6] == '1'
if confirm then
  local got = redis.call('GET', KEYS[3])
  if got and got ~= ARGV[5] then return {'spent', got} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 86400)
  for _, limit in ipairs(cjson.decode(ARGV[7])) do
    local inside = redis.call('ZCOUNT', KEYS[2], '(' .. tostring(now - limit[2]), '+inf')
    if inside >= limit[3] then return {'budget', limit[1]} end
  end
  redis.call('ZADD', KEYS[2], now, ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
if confirm then redis.call('SET', KEYS[3], ARGV[5], 'NX', 'EX', ARGV[4]) end
return false
"""
SPEND = """
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
return redis.call('GET', KEYS[1])
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return false
"""
RECORD = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return false
"""


# A card is kept as the JSON [nonce, status, body, until] under its call's fingerprint, its nonce naming that
# fingerprint. KEYS: the card, its nonce. ARGV: the card, now, seconds kept, the fingerprint.
PEND = """
local got = redis.call('GET', KEYS[1])
if got and tonumber(cjson.decode(got)[4]) > tonumber(ARGV[2]) then return got end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])
return ARGV[1]
"""
# KEYS: the card. ARGV: the nonce pressed, the status it takes, now, until.
PRESS = """
local got = redis.call('GET', KEYS[1])
if not got then return false end
local card = cjson.decode(got)
if card[1] ~= ARGV[1] then return false end
if card[2] ~= 'pending' then return {card[2], got} end
if tonumber(card[4]) <= tonumber(ARGV[3]) then return {'expired', got} end
card[2] = ARGV[2]
card[4] = ARGV[4]
local pressed = cjson.encode(card)
redis.call('SET', KEYS[1], pressed, 'KEEPTTL')
return {'pressed', pressed}
"""
SETTLE = """
local got = redis.call('GET', KEYS[1])
if got and cjson.decode(got)[1] == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
return false
"""

# `paced` in one step. KEYS: the name's pace. ARGV: now, interval, span. Answers the seconds to wait, as text (0:
# counted); the pace expires once it is paid off.
PACE = """
local now = tonumber(ARGV[1])
local due = tonumber(redis.call('GET', KEYS[1]) or '0')
if due < now then due = now end
local wait = due + tonumber(ARGV[2]) - tonumber(ARGV[3]) - now
if wait > 1e-4 then return string.format('%.6f', wait) end
due = due + tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', due), 'PX', math.max(1, math.ceil((due - now) * 1000)))
return '0'
"""


def _card(fingerprint: str, raw: str) -> Card:
    nonce, status, body, until = json.loads(raw)
    return Card(fingerprint, str(nonce), str(status), str(body), float(until))


class RedisStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.where = shown_url(url)
        self._redis: Redis | None = None

    def _client(self) -> Redis:
        if self._redis is None:
            try:
                from redis.asyncio import Redis
            except ImportError:
                raise StateUnavailable(
                    f"{self.where}: the redis package is not installed (pip install 'bimpe-mcp[redis]')"
                ) from None
            self._redis = Redis.from_url(  # pyright: ignore[reportUnknownMemberType]
                self.url, decode_responses=True, socket_timeout=3.0, socket_connect_timeout=3.0, retry_on_timeout=False
            )
        return self._redis

    async def _do(self, name: str, *args: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await getattr(self._client(), name)(*args)
        except (RedisError, OSError) as exc:
            raise StateUnavailable(f"{self.where}: {type(exc).__name__}") from None

    async def admit(self, admission: Admission) -> Refusal | None:
        a = admission
        confirmation = (
            PREFIX + "spent:" + a.confirmation if a.confirmation else PREFIX + "dial:" + a.agent + "|" + a.key
        )
        keys = [PREFIX + "dial:" + a.agent + "|" + a.key, PREFIX + "dials:" + a.kind, confirmation]
        limits = json.dumps([list(limit) for limit in a.limits]) if a.limits else "[]"
        argv = [a.fingerprint, a.agent + "|" + a.key, repr(a.now), int(DAY), a.key, int(a.confirmation is not None)]
        got = await self._do("eval", ADMIT, 3, *keys, *argv, limits)
        return (str(got[0]), str(got[1])) if got else None

    async def times(self, kind: str, since: float) -> list[float]:
        rows = await self._do("zrangebyscore", PREFIX + "dials:" + kind, f"({since!r}", "+inf", None, None, True)
        return [float(score) for _, score in rows]

    async def dialled(self, agent: str, key: str) -> str | None:
        return await self._do("get", PREFIX + "dial:" + agent + "|" + key)

    async def spent(self, confirmation: str) -> str | None:
        return await self._do("get", PREFIX + "spent:" + confirmation)

    async def secret(self, fresh: str) -> str:
        await self._do("set", PREFIX + "secret:confirm", fresh, None, None, True)
        return str(await self._do("get", PREFIX + "secret:confirm"))

    async def spend(self, confirmation: str, key: str, now: float) -> str:
        return str(await self._do("eval", SPEND, 1, PREFIX + "spent:" + confirmation, key, int(DAY)))

    async def result(self, agent: str, key: str) -> tuple[str, str] | None:
        raw = await self._do("get", PREFIX + "result:" + agent + "|" + key)
        if raw is None:
            return None
        fingerprint, body = json.loads(raw)
        return str(fingerprint), str(body)

    async def keep(self, agent: str, key: str, fingerprint: str, body: str, now: float) -> None:
        await self._do(
            "set", PREFIX + "result:" + agent + "|" + key, json.dumps([fingerprint, body]), int(KEPT_SECONDS)
        )

    async def held(self, fingerprint: str, now: float) -> str | None:
        return await self._do("get", PREFIX + "held:" + fingerprint)

    async def hold(self, fingerprint: str, key: str, now: float) -> None:
        await self._do("set", PREFIX + "held:" + fingerprint, key, int(HELD_SECONDS))

    async def release(self, fingerprint: str, key: str) -> None:
        await self._do("eval", RELEASE, 1, PREFIX + "held:" + fingerprint, key)

    async def card(self, fingerprint: str, now: float) -> Card | None:
        raw = await self._do("get", PREFIX + "card:" + fingerprint)
        found = None if raw is None else _card(fingerprint, raw)
        return found if found is not None and found.until > now else None

    async def pend(self, card: Card, now: float) -> Card:
        c = card
        keys = [PREFIX + "card:" + c.fingerprint, PREFIX + "card-nonce:" + c.nonce]
        raw = json.dumps([c.nonce, c.status, c.body, repr(c.until)])
        got = await self._do("eval", PEND, 2, *keys, raw, repr(now), int(DAY), c.fingerprint)
        return _card(c.fingerprint, str(got))

    async def press(self, nonce: str, status: str, now: float, until: float) -> Press | None:
        fingerprint = await self._do("get", PREFIX + "card-nonce:" + nonce)
        if fingerprint is None:
            return None
        got = await self._do("eval", PRESS, 1, PREFIX + "card:" + fingerprint, nonce, status, repr(now), repr(until))
        return None if not got else (str(got[0]), _card(str(fingerprint), str(got[1])))

    async def settle(self, fingerprint: str, nonce: str) -> None:
        keys = [PREFIX + "card:" + fingerprint, PREFIX + "card-nonce:" + nonce]
        await self._do("eval", SETTLE, 2, *keys, nonce)

    async def remember(self, entry: str) -> None:
        await self._do("eval", RECORD, 1, PREFIX + "audit", entry, RECENT_KEPT)

    async def recent(self) -> list[str]:
        return [str(e) for e in await self._do("lrange", PREFIX + "audit", 0, -1)]

    async def remember_for(self, tenant: str, entry: str) -> None:
        await self._do("eval", RECORD, 1, PREFIX + "audit:" + tenant, entry, RECENT_KEPT)

    async def recent_for(self, tenant: str) -> list[str]:
        return [str(e) for e in await self._do("lrange", PREFIX + "audit:" + tenant, 0, -1)]

    async def verdict(self, digest: str, now: float) -> bool | None:
        got = await self._do("get", PREFIX + "verdict:" + digest)
        return None if got is None else got == "1"

    async def judge(self, digest: str, accepted: bool, now: float, seconds: float) -> None:
        await self._do("set", PREFIX + "verdict:" + digest, "1" if accepted else "0", max(1, round(seconds)))

    async def pace(self, name: str, now: float, interval: float, span: float) -> float:
        return float(await self._do("eval", PACE, 1, PREFIX + "pace:" + name, repr(now), repr(interval), repr(span)))

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
