"""Seeded, deterministic data and the state of placed calls.

Seeded calls live in parallel arrays (a few dozen bytes each); their details and transcripts are
rebuilt on demand from the call's ordinal. Placed calls derive their lifecycle from the clock
when read, so nothing runs in the background.
"""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .clock import iso_ms
from .data import (
    AGENT_SEEDS,
    CANCELLED_REASONS,
    END_REASONS_ENDED,
    FAILED_REASONS,
    LIVE_TEST_SHARE,
    NUMBER_PLANS,
    OTHER_AGENT_CALLS,
    PHONE_NUMBER_SEEDS,
    SEED_SPAN_DAYS,
    TEAM_MAIN,
    TEAM_OTHER,
    AgentSeed,
)
from .transcripts import build_transcript

STATUSES: tuple[str, ...] = ("queued", "ringing", "answered", "ended", "busy", "failed", "cancelled")
QUEUED, RINGING, ANSWERED, ENDED, BUSY, FAILED, CANCELLED = range(7)
STATUS_CODE: dict[str, int] = {name: i for i, name in enumerate(STATUSES)}
TERMINAL = frozenset({ENDED, BUSY, FAILED, CANCELLED})
# Alphabetical rank of each status code, for sort=status.
_STATUS_RANK = {code: rank for rank, code in enumerate(sorted(range(7), key=lambda c: STATUSES[c]))}

FLAG_TEST = 1
FLAG_INBOUND = 2

DAY_MS = 86_400_000

# Scripted destinations (E.164, in the +1 500 555 range that no real subscriber uses).
BUSY_DESTINATION = "+15005550002"
FAILED_DESTINATION = "+15005550003"
CANCELLED_DESTINATION = "+15005550004"
NO_ANSWER_DESTINATION = "+15005550005"

# Lifecycle of a placed call, in milliseconds after it was placed.
QUEUED_MS = 2_000
ANSWER_MS = 7_000
BUSY_END_MS = 8_000
CANCEL_END_MS = 12_000
NO_ANSWER_END_MS = 32_000

_CALL_ID_BITS = 40
_CALL_ID_MASK = (1 << _CALL_ID_BITS) - 1
_CALL_ID_MULT = 0x9E3779B97 | 1
_CALL_ID_INV = pow(_CALL_ID_MULT, -1, 1 << _CALL_ID_BITS)
_CALL_ID_RE = re.compile(r"^call_[0-9a-z]{8}$")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_PHONE_QUERY_RE = re.compile(r"^[+\d\s().-]+$")

CALL_SORT_FIELDS: dict[str, str] = {
    "created_on": "created_on",
    "created_at": "created_on",
    "ended_at": "ended_at",
    "duration_seconds": "duration_seconds",
    "status": "status",
}


def _b36(value: int, width: int) -> str:
    out: list[str] = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        out.append(_B36[rem])
    return "".join(reversed(out))


def _rand_id(rng: random.Random, prefix: str, width: int = 12) -> str:
    return prefix + "".join(rng.choice(_B36) for _ in range(width))


def _weighted(roll: int, options: Sequence[tuple[str, int]]) -> str:
    """Pick from options whose weights sum to 100, by a roll in 0..99."""
    for name, weight in options:
        roll -= weight
        if roll < 0:
            return name
    return options[-1][0]


class CallRow(NamedTuple):
    """Every field of one call at a given instant (seeded or placed)."""

    ordinal: int
    agent_index: int
    source: str | None
    destination: str
    status: int
    inbound: bool
    is_test: bool
    created_ms: int
    ringing_ms: int | None
    answered_ms: int | None
    ended_ms: int | None
    duration: int | None
    end_reason: str | None
    error_reason: str | None
    turns: int


@dataclass
class Agent:
    index: int
    id: str
    seed: AgentSeed
    team: str
    created_ms: int
    updated_ms: int
    status: str
    status_reason: str | None
    channel_ids: tuple[str, ...]
    kb_ids: tuple[str, ...]
    integration_ids: tuple[str, ...]
    test_channel_code: str
    workflow_id: str
    home_number: str | None = None

    @property
    def first_name(self) -> str:
        return self.seed.name.split(" - ")[0]

    def to_json(self) -> dict[str, Any]:
        s = self.seed
        return {
            "id": self.id,
            "name": s.name,
            "description": s.description,
            "language": s.language,
            "persona": s.persona,
            "workflow_id": self.workflow_id,
            "timezone": s.timezone,
            "logo": s.logo,
            "business_name": s.business_name,
            "business_address": s.business_address,
            "business_email": s.business_email,
            "business_description": s.business_description,
            "test_channel_code": self.test_channel_code,
            "status": self.status,
            "status_reason": self.status_reason,
            "escalation_email": s.escalation_email,
            "created_at": iso_ms(self.created_ms),
            "updated_at": iso_ms(self.updated_ms),
        }


@dataclass
class PhoneNumber:
    id: str
    e164: str
    label: str | None
    agent_id: str | None
    team: str
    inbound_enabled: bool
    created_ms: int
    updated_ms: int

    def to_json(self, detail: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "agent_id": self.agent_id, "label": self.label, "e164": self.e164}
        if detail:
            out.update(
                created_at=iso_ms(self.created_ms),
                updated_at=iso_ms(self.updated_ms),
                inbound_enabled=self.inbound_enabled,
            )
        return out


@dataclass
class PlacedCall:
    ordinal: int
    agent_index: int
    team: str
    destination: str
    source: str | None
    is_test: bool
    created_ms: int
    script: str
    duration: int
    turns: int

    def row(self, now_ms: int) -> CallRow:
        t = now_ms - self.created_ms
        c = self.created_ms
        status = QUEUED
        ringing = answered = ended = duration = None
        end_reason = error_reason = None
        turns = 0
        if self.script == "failed":
            status, ended = FAILED, c
            end_reason, error_reason = "failed", "destination_unreachable"
        elif t >= QUEUED_MS:
            ringing = c + QUEUED_MS
            status = RINGING
            if self.script == "busy" and t >= BUSY_END_MS:
                status, ended, end_reason, error_reason = BUSY, c + BUSY_END_MS, "busy", "callee_busy"
            elif self.script == "cancelled" and t >= CANCEL_END_MS:
                status, ended, end_reason = CANCELLED, c + CANCEL_END_MS, "caller_cancelled"
            elif self.script == "no_answer" and t >= NO_ANSWER_END_MS:
                status, ended, end_reason, error_reason = FAILED, c + NO_ANSWER_END_MS, "no_answer", "no_answer"
            elif self.script == "normal" and t >= ANSWER_MS:
                answered = c + ANSWER_MS
                status = ANSWERED
                if t >= ANSWER_MS + self.duration * 1000:
                    status, ended, duration = ENDED, answered + self.duration * 1000, self.duration
                    end_reason, turns = "completed", self.turns
        return CallRow(
            self.ordinal,
            self.agent_index,
            self.source,
            self.destination,
            status,
            False,
            self.is_test,
            c,
            ringing,
            answered,
            ended,
            duration,
            end_reason,
            error_reason,
            turns,
        )


class SeededCalls:
    """All seeded calls in parallel arrays; ordinals ascend with `created_on` within an agent."""

    def __init__(self, seed: int, total: int, start_ms: int, agents: list[Agent], live_index: int) -> None:
        self.agent = array("B")
        self.created = array("q")
        self.status = array("B")
        self.flags = array("B")
        self.ring = array("i")
        self.tail = array("i")
        self.duration = array("i")
        self.turns = array("H")
        self.remote = array("q")
        self.per_agent: dict[int, array[int]] = {}
        rng = random.Random(seed * 7919 + 17)
        by_role = {a.seed.role: a for a in agents}
        others = min(sum(n for _, n, _ in OTHER_AGENT_CALLS), total // 6)
        weights = sum(n for _, n, _ in OTHER_AGENT_CALLS)
        plan: list[tuple[Agent, int, float]] = []
        assigned = 0
        for role, n, share in OTHER_AGENT_CALLS:
            count = others * n // weights
            plan.append((by_role[role], count, share))
            assigned += count
        plan.insert(0, (agents[live_index], total - assigned, LIVE_TEST_SHARE))
        plans = [(cc, w, tuple(p)) for cc, w, p in NUMBER_PLANS]
        plan_weight = sum(w for _, w, _ in plans)
        span_ms = SEED_SPAN_DAYS * DAY_MS
        end_ms = start_ms - 120_000
        for agent, count, test_share in plan:
            if count <= 0:
                continue
            first = len(self.created)
            gaps = [rng.expovariate(1.0) for _ in range(count)]
            scale = span_ms / sum(gaps)
            t = float(end_ms - span_ms)
            in_progress = agent.index == live_index and count >= 30
            for i, gap in enumerate(gaps):
                t += gap * scale
                self._add_call(rng, agent, int(t), test_share, in_progress and i >= count - 9, plans, plan_weight)
            self.per_agent[agent.index] = array("i", range(first, len(self.created)))
        self.count = len(self.created)

    def _add_call(
        self,
        rng: random.Random,
        agent: Agent,
        created: int,
        test_share: float,
        in_progress: bool,
        plans: list[tuple[str, int, tuple[tuple[str, int], ...]]],
        plan_weight: int,
    ) -> None:
        is_test = not in_progress and rng.random() < test_share
        if in_progress:
            status = (QUEUED, RINGING, ANSWERED)[len(self.created) % 3]
        else:
            roll = rng.random()
            status = ENDED if roll < 0.72 else BUSY if roll < 0.81 else FAILED if roll < 0.89 else CANCELLED
        inbound = (
            not is_test and agent.home_number is not None and status != QUEUED and status not in (BUSY, FAILED)
        ) and rng.random() < 0.4
        roll = rng.random() * plan_weight
        country, prefixes = plans[-1][0], plans[-1][2]
        for cc, weight, options in plans:
            roll -= weight
            if roll < 0:
                country, prefixes = cc, options
                break
        prefix, digits = rng.choice(prefixes)
        number = int(f"{country}{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}")
        ring = tail = duration = -1
        turns = 0
        if status == ENDED:
            ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 12_000)
            roll = rng.random()
            turns = rng.randint(200, 260) if roll < 0.02 else rng.randint(2, 9) if roll < 0.1 else rng.randint(10, 40)
            duration = int(turns * rng.uniform(4.5, 8.5))
        elif status == BUSY:
            ring, tail = rng.randint(800, 4_500), rng.randint(3_000, 9_000)
        elif status == FAILED:
            ring = rng.randint(800, 4_500) if rng.random() < 0.5 else -1
            tail = rng.randint(200, 3_000)
        elif status == CANCELLED:
            ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 25_000)
        elif status == RINGING:
            ring = rng.randint(800, 4_500)
        elif status == ANSWERED:
            ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 12_000)
        self.agent.append(agent.index)
        self.created.append(created)
        self.status.append(status)
        self.flags.append((FLAG_TEST if is_test else 0) | (FLAG_INBOUND if inbound else 0))
        self.ring.append(ring)
        self.tail.append(tail)
        self.duration.append(duration)
        self.turns.append(turns)
        self.remote.append(number)

    def ended_ms(self, o: int) -> int | None:
        status = self.status[o]
        ring = self.ring[o]
        base = self.created[o] + max(ring, 0)
        if status == ENDED:
            return base + self.tail[o] + self.duration[o] * 1000 + o % 997
        if status in (BUSY, CANCELLED, FAILED):
            return base + self.tail[o]
        return None

    def sort_key(self, o: int, q: CallQuery) -> SortKey:
        value: int | None
        if q.sort_field == "created_on":
            value = self.created[o]
        elif q.sort_field == "ended_at":
            value = self.ended_ms(o)
        elif q.sort_field == "duration_seconds":
            value = self.duration[o] if self.status[o] == ENDED else None
        else:
            value = _STATUS_RANK[self.status[o]]
        return _key(value, o, q.descending)

    def row(self, o: int, agents: list[Agent], seed: int) -> CallRow:
        status = self.status[o]
        flags = self.flags[o]
        created = self.created[o]
        ring = self.ring[o]
        agent = agents[self.agent[o]]
        remote = f"+{self.remote[o]}"
        is_test = bool(flags & FLAG_TEST)
        inbound = bool(flags & FLAG_INBOUND)
        home = None if is_test else agent.home_number
        source, destination = (remote, home or remote) if inbound else (home, remote)
        ringing = created + ring if ring >= 0 else None
        answered = ringing + self.tail[o] if ringing is not None and status in (ENDED, ANSWERED) else None
        duration = self.duration[o] if status == ENDED else None
        h = ((o * 2654435761) ^ seed) & 0xFFFFFFFF
        end_reason = error_reason = None
        if status == ENDED:
            end_reason = _weighted(h % 100, END_REASONS_ENDED)
        elif status == BUSY:
            end_reason, error_reason = "busy", "callee_busy"
        elif status == FAILED:
            end_reason, error_reason = "failed", FAILED_REASONS[h % len(FAILED_REASONS)]
        elif status == CANCELLED:
            end_reason = CANCELLED_REASONS[h % len(CANCELLED_REASONS)]
        return CallRow(
            o,
            self.agent[o],
            source,
            destination,
            status,
            inbound,
            is_test,
            created,
            ringing,
            answered,
            self.ended_ms(o),
            duration,
            end_reason,
            error_reason,
            self.turns[o],
        )


SortKey = tuple[int, int, int]


@dataclass(frozen=True)
class CallQuery:
    sort_field: str = "created_on"
    descending: bool = True
    status: int | None = None
    is_test: bool | None = None
    search: str | None = None


def _row_key(row: CallRow, q: CallQuery) -> SortKey:
    value: int | None
    if q.sort_field == "created_on":
        value = row.created_ms
    elif q.sort_field == "ended_at":
        value = row.ended_ms
    elif q.sort_field == "duration_seconds":
        value = row.duration
    else:
        value = _STATUS_RANK[row.status]
    return _key(value, row.ordinal, q.descending)


def _key(value: int | None, ordinal: int, descending: bool) -> SortKey:
    """Nulls last in both directions; ties broken by ordinal (creation order) in the same direction."""
    sign = -1 if descending else 1
    if value is None:
        return (1, 0, sign * ordinal)
    return (0, sign * value, sign * ordinal)


def _normalise_search(search: str) -> str:
    text = search.strip().lower()
    if _PHONE_QUERY_RE.match(text) and any(ch.isdigit() for ch in text):
        return "".join(ch for ch in text if ch.isdigit())
    return text


@dataclass
class World:
    """Everything the API serves: teams' agents, phone numbers, seeded and placed calls."""

    seed: int
    total_calls: int
    start_ms: int
    agents: list[Agent] = field(default_factory=lambda: [])
    phone_numbers: list[PhoneNumber] = field(default_factory=lambda: [])
    placed: list[PlacedCall] = field(default_factory=lambda: [])
    _seeded: SeededCalls | None = None
    _order_cache: OrderedDict[tuple[int, CallQuery], array[int]] = field(default_factory=lambda: OrderedDict())
    _haystacks: dict[int, tuple[str, array[int]]] = field(default_factory=lambda: {})
    _id_key: int = 0

    @classmethod
    def build(cls, seed: int, total_calls: int, start_ms: int) -> World:
        world = cls(seed=seed, total_calls=total_calls, start_ms=start_ms)
        rng = random.Random(seed)
        world._id_key = rng.getrandbits(_CALL_ID_BITS)
        for index, s in enumerate(AGENT_SEEDS):
            created = start_ms - s.age_days * DAY_MS - rng.randint(0, DAY_MS)
            updated = min(start_ms - rng.randint(DAY_MS // 24, 5 * DAY_MS), start_ms - 3_600_000)
            world.agents.append(
                Agent(
                    index=index,
                    id=_rand_id(rng, "agt_"),
                    seed=s,
                    team=s.team,
                    created_ms=created,
                    updated_ms=max(updated, created),
                    status=s.status,
                    status_reason=s.status_reason,
                    channel_ids=tuple(_rand_id(rng, "chn_") for _ in s.channels),
                    kb_ids=tuple(_rand_id(rng, "kb_") for _ in s.knowledge_bases),
                    integration_ids=tuple(_rand_id(rng, "int_") for _ in s.integrations),
                    test_channel_code=f"{rng.randint(100000, 999999)}",
                    workflow_id=_rand_id(rng, "wf_"),
                )
            )
        by_role = {a.seed.role: a for a in world.agents}
        for p in PHONE_NUMBER_SEEDS:
            owner = by_role[p.agent_role] if p.agent_role else None
            created = start_ms - p.age_days * DAY_MS - rng.randint(0, DAY_MS)
            world.phone_numbers.append(
                PhoneNumber(
                    id=_rand_id(rng, "pn_"),
                    e164=p.e164,
                    label=p.label,
                    agent_id=owner.id if owner else None,
                    team=p.team,
                    inbound_enabled=p.inbound_enabled,
                    created_ms=created,
                    updated_ms=created + DAY_MS,
                )
            )
            if owner is not None and owner.home_number is None:
                owner.home_number = p.e164
        return world

    # -- lookups ---------------------------------------------------------------------------

    def role_id(self, role: str) -> str:
        return next(a.id for a in self.agents if a.seed.role == role)

    def agent(self, team: str, agent_id: str) -> Agent | None:
        for a in self.agents:
            if a.id == agent_id and a.team == team:
                return a
        return None

    def team_agents(self, team: str) -> list[Agent]:
        return [a for a in self.agents if a.team == team]

    def phone_number(self, team: str, number_id: str) -> PhoneNumber | None:
        for p in self.phone_numbers:
            if p.id == number_id and p.team == team:
                return p
        return None

    def linked_numbers(self, agent: Agent) -> list[PhoneNumber]:
        return [p for p in self.phone_numbers if p.agent_id == agent.id]

    def channels(self, agent: Agent) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"id": cid, "type": c.type, "name": c.name, "status": c.status, "is_connected": c.is_connected}
            for cid, c in zip(agent.channel_ids, agent.seed.channels, strict=True)
        ]
        for p in self.linked_numbers(agent):
            out.append(
                {
                    "id": "chn_tel_" + p.id.removeprefix("pn_"),
                    "type": "telephony",
                    "name": f"Phone {p.e164}",
                    "status": "active",
                    "is_connected": True,
                }
            )
        return out

    def has_live_channel(self, agent: Agent) -> bool:
        return any(c["type"] in ("telephony", "voice") and c["is_connected"] for c in self.channels(agent))

    def agent_detail(self, agent: Agent) -> dict[str, Any]:
        out = agent.to_json()
        out["knowledge_bases"] = [
            {"id": kid, "type": kind, "name": name, "description": desc}
            for kid, (kind, name, desc) in zip(agent.kb_ids, agent.seed.knowledge_bases, strict=True)
        ]
        out["integrations"] = [
            {"id": iid, "type": kind, "name": name, "status": "active" if ok else "error", "is_connected": ok}
            for iid, (kind, name, ok) in zip(agent.integration_ids, agent.seed.integrations, strict=True)
        ]
        out["channels"] = self.channels(agent)
        return out

    # -- calls -----------------------------------------------------------------------------

    @property
    def seeded(self) -> SeededCalls:
        if self._seeded is None:
            live = next(a.index for a in self.agents if a.seed.role == "live")
            self._seeded = SeededCalls(self.seed, self.total_calls, self.start_ms, self.agents, live)
        return self._seeded

    def call_id(self, ordinal: int) -> str:
        return "call_" + _b36(((ordinal * _CALL_ID_MULT) & _CALL_ID_MASK) ^ self._id_key, 8)

    def ordinal_of(self, call_id: str) -> int | None:
        if not _CALL_ID_RE.match(call_id):
            return None
        value = int(call_id[5:], 36)
        if value > _CALL_ID_MASK:
            return None
        ordinal = ((value ^ self._id_key) * _CALL_ID_INV) & _CALL_ID_MASK
        if ordinal >= self.total_calls + len(self.placed):
            return None
        return ordinal

    def row(self, ordinal: int, now_ms: int) -> CallRow:
        if ordinal < self.total_calls:
            return self.seeded.row(ordinal, self.agents, self.seed)
        return self.placed[ordinal - self.total_calls].row(now_ms)

    def call_json(self, row: CallRow) -> dict[str, Any]:
        return {
            "id": self.call_id(row.ordinal),
            "source": row.source,
            "destination": row.destination,
            "status": STATUSES[row.status],
            "direction": "inbound" if row.inbound else "outbound",
            "created_on": iso_ms(row.created_ms),
            "duration_seconds": row.duration,
            "is_test_call": row.is_test,
            "error_reason": row.error_reason,
            "end_reason": row.end_reason,
            "ringing_at": None if row.ringing_ms is None else iso_ms(row.ringing_ms),
            "ended_at": None if row.ended_ms is None else iso_ms(row.ended_ms),
        }

    def call_detail_json(self, row: CallRow) -> dict[str, Any]:
        out = self.call_json(row)
        answered = None if row.answered_ms is None else iso_ms(row.answered_ms)
        out["started_at"] = answered
        out["answered_at"] = answered
        logs: list[dict[str, Any]] = []
        if row.status == ENDED and row.answered_ms is not None and row.ended_ms is not None:
            agent = self.agents[row.agent_index]
            logs = build_transcript(
                seed=self.seed,
                ordinal=row.ordinal,
                call_id=out["id"],
                domain=agent.seed.domain,
                agent_name=agent.first_name,
                business=agent.seed.business_name,
                inbound=row.inbound,
                turns=row.turns,
                answered_ms=row.answered_ms,
                ended_ms=row.ended_ms,
            )
        out["conversation_logs"] = logs
        return out

    def _seeded_order(self, agent_index: int, q: CallQuery) -> array[int]:
        key = (agent_index, q)
        cached = self._order_cache.get(key)
        if cached is not None:
            self._order_cache.move_to_end(key)
            return cached
        seeded = self.seeded
        base = seeded.per_agent.get(agent_index, array("i"))
        candidates: Sequence[int] = base
        if q.search:
            candidates = self._search_seeded(agent_index, q.search)
        if q.status is not None:
            status = seeded.status
            candidates = [o for o in candidates if status[o] == q.status]
        if q.is_test is not None:
            flags = seeded.flags
            want = FLAG_TEST if q.is_test else 0
            candidates = [o for o in candidates if flags[o] & FLAG_TEST == want]
        if q.sort_field == "created_on":
            order = array("i", reversed(candidates) if q.descending else candidates)
        else:
            order = array("i", sorted(candidates, key=lambda o: seeded.sort_key(o, q)))
        self._order_cache[key] = order
        if len(self._order_cache) > 64:
            self._order_cache.popitem(last=False)
        return order

    def _search_seeded(self, agent_index: int, search: str) -> list[int]:
        hay = self._haystacks.get(agent_index)
        seeded = self.seeded
        base = seeded.per_agent.get(agent_index, array("i"))
        if hay is None:
            parts: list[str] = []
            starts = array("q")
            pos = 0
            for o in base:
                row = seeded.row(o, self.agents, self.seed)
                line = f"{self.call_id(o)}|{row.source or ''}|{row.destination}\n"
                starts.append(pos)
                pos += len(line)
                parts.append(line)
            hay = ("".join(parts), starts)
            self._haystacks[agent_index] = hay
        text, starts = hay
        needle = _normalise_search(search)
        hits: list[int] = []
        at = text.find(needle)
        while at >= 0:
            line = bisect_right(starts, at) - 1
            hits.append(line)
            next_line = starts[line + 1] if line + 1 < len(starts) else len(text)
            at = text.find(needle, next_line)
        return [base[i] for i in hits]

    def _placed_matches(self, agent_index: int, q: CallQuery, now_ms: int) -> list[CallRow]:
        rows = [p.row(now_ms) for p in self.placed if p.agent_index == agent_index]
        if q.status is not None:
            rows = [r for r in rows if r.status == q.status]
        if q.is_test is not None:
            rows = [r for r in rows if r.is_test == q.is_test]
        if q.search:
            needle = _normalise_search(q.search)
            rows = [r for r in rows if needle in f"{self.call_id(r.ordinal)}|{r.source or ''}|{r.destination}"]
        rows.sort(key=lambda r: _row_key(r, q))
        return rows

    def list_calls(
        self, agent_index: int, q: CallQuery, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[CallRow]]:
        seeded_order = self._seeded_order(agent_index, q)
        placed = self._placed_matches(agent_index, q, now_ms)
        total = len(seeded_order) + len(placed)
        end = min(offset + limit, total)
        if offset >= end:
            return total, []
        seeded = self.seeded

        def key_of(o: int) -> SortKey:
            return seeded.sort_key(o, q)

        positions = [bisect_left(seeded_order, _row_key(r, q), key=key_of) + j for j, r in enumerate(placed)]
        j = bisect_left(positions, offset)
        s = offset - j
        out: list[CallRow] = []
        for m in range(offset, end):
            if j < len(placed) and positions[j] == m:
                out.append(placed[j])
                j += 1
            else:
                out.append(seeded.row(seeded_order[s], self.agents, self.seed))
                s += 1
        return total, out

    def active_test_calls(self, team: str, now_ms: int) -> int:
        return sum(1 for p in self.placed if p.team == team and p.is_test and p.row(now_ms).status not in TERMINAL)

    def place_call(self, agent: Agent, destination: str, is_test: bool, now_ms: int) -> PlacedCall:
        ordinal = self.total_calls + len(self.placed)
        rng = random.Random(self.seed * 1_000_003 + ordinal)
        script = {
            BUSY_DESTINATION: "busy",
            FAILED_DESTINATION: "failed",
            CANCELLED_DESTINATION: "cancelled",
            NO_ANSWER_DESTINATION: "no_answer",
        }.get(destination, "normal")
        turns = rng.randint(10, 24)
        linked = self.linked_numbers(agent)
        call = PlacedCall(
            ordinal=ordinal,
            agent_index=agent.index,
            team=agent.team,
            destination=destination,
            source=None if is_test or not linked else linked[0].e164,
            is_test=is_test,
            created_ms=now_ms,
            script=script,
            duration=int(turns * rng.uniform(5.0, 7.5)),
            turns=turns,
        )
        self.placed.append(call)
        return call


TEAMS = (TEAM_MAIN, TEAM_OTHER)
