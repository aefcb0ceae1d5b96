"""The state the API serves and changes: agents, phone numbers, seeded and placed calls.

A placed call derives its lifecycle from the clock when read, so nothing runs in the background.
"""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .clock import iso_ms
from .conversations import BY_KIND
from .records import B36_DIGITS, STATUS_RANK, STATUSES, TERMINAL, AgentRecord, CallRow, CallStatus, PhoneNumber
from .seeding import FLAG_TEST, SeededCalls, seed_agents, seed_phone_numbers
from .transcripts import build_transcript, script_turns

# Scripted destinations (E.164, in the +1 500 555 range that no real subscriber uses).
BUSY_DESTINATION = "+15005550002"
FAILED_DESTINATION = "+15005550003"
CANCELLED_DESTINATION = "+15005550004"
NO_ANSWER_DESTINATION = "+15005550005"
_SCRIPTS = {
    BUSY_DESTINATION: "busy",
    FAILED_DESTINATION: "failed",
    CANCELLED_DESTINATION: "cancelled",
    NO_ANSWER_DESTINATION: "no_answer",
}

# Lifecycle of a placed call, in milliseconds after it was placed.
QUEUED_MS = 2_000
ANSWER_MS = 7_000
BUSY_END_MS = 8_000
CANCEL_END_MS = 12_000
NO_ANSWER_END_MS = 32_000

# Call ids are ordinals under a keyed bijection of 40 bits: stable for a seed, but not guessable in order.
_CALL_ID_BITS = 40
_CALL_ID_MASK = (1 << _CALL_ID_BITS) - 1
_CALL_ID_MULT = 0x9E3779B97 | 1
_CALL_ID_INV = pow(_CALL_ID_MULT, -1, 1 << _CALL_ID_BITS)
_CALL_ID_RE = re.compile(r"^call_[0-9a-z]{8}$")
_PHONE_QUERY_RE = re.compile(r"^[+\d\s().-]+$")

# The `sort` values of the calls list, by the field each sorts on.
CALL_SORT_FIELDS: dict[str, str] = {
    "created_on": "created_on",
    "created_at": "created_on",
    "ended_at": "ended_at",
    "duration_seconds": "duration_seconds",
    "status": "status",
}

SortKey = tuple[int, int, int]

_ROW_SORT_VALUES: dict[str, Callable[[CallRow], int | None]] = {
    "created_on": lambda r: r.created_ms,
    "ended_at": lambda r: r.ended_ms,
    "duration_seconds": lambda r: r.duration,
    "status": lambda r: STATUS_RANK[r.status],
}


def _b36(value: int, width: int) -> str:
    out: list[str] = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        out.append(B36_DIGITS[rem])
    return "".join(reversed(out))


@dataclass
class PlacedRow:
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
    scenario: int

    def row(self, now_ms: int) -> CallRow:
        t = now_ms - self.created_ms
        c = self.created_ms
        status = CallStatus.QUEUED
        ringing = answered = ended = duration = None
        end_reason = error_reason = None
        turns = 0
        if self.script == "failed":
            status, ended = CallStatus.FAILED, c
            end_reason, error_reason = "failed", "destination_unreachable"
        elif t >= QUEUED_MS:
            ringing = c + QUEUED_MS
            status = CallStatus.RINGING
            if self.script == "busy" and t >= BUSY_END_MS:
                status, ended, end_reason, error_reason = CallStatus.BUSY, c + BUSY_END_MS, "busy", "callee_busy"
            elif self.script == "cancelled" and t >= CANCEL_END_MS:
                status, ended, end_reason = CallStatus.CANCELLED, c + CANCEL_END_MS, "caller_cancelled"
            elif self.script == "no_answer" and t >= NO_ANSWER_END_MS:
                status, ended, end_reason, error_reason = (
                    CallStatus.FAILED,
                    c + NO_ANSWER_END_MS,
                    "no_answer",
                    "no_answer",
                )
            elif self.script == "normal" and t >= ANSWER_MS:
                answered = c + ANSWER_MS
                status = CallStatus.ANSWERED
                if t >= ANSWER_MS + self.duration * 1000:
                    status, ended, duration = CallStatus.ENDED, answered + self.duration * 1000, self.duration
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
            self.scenario,
        )


@dataclass(frozen=True)
class CallQuery:
    sort_field: str = "created_on"
    descending: bool = True
    status: int | None = None
    is_test: bool | None = None
    search: str | None = None


def _key(value: int | None, ordinal: int, descending: bool) -> SortKey:
    """Nulls last in both directions; ties broken by ordinal (creation order) in the same direction."""
    sign = -1 if descending else 1
    if value is None:
        return (1, 0, sign * ordinal)
    return (0, sign * value, sign * ordinal)


def _row_key(row: CallRow, q: CallQuery) -> SortKey:
    return _key(_ROW_SORT_VALUES[q.sort_field](row), row.ordinal, q.descending)


def _seeded_key(seeded: SeededCalls, q: CallQuery) -> Callable[[int], SortKey]:
    value_of: Callable[[int], int | None] = {
        "created_on": seeded.created.__getitem__,
        "ended_at": seeded.ended_ms,
        "duration_seconds": seeded.duration_of,
        "status": seeded.status_rank,
    }[q.sort_field]
    return lambda o: _key(value_of(o), o, q.descending)


def _normalise_search(search: str) -> str:
    text = search.strip().lower()
    if _PHONE_QUERY_RE.match(text) and any(ch.isdigit() for ch in text):
        return "".join(ch for ch in text if ch.isdigit())
    return text


def _call_haystack(call_id: str, row: CallRow) -> str:
    """What a call search looks in."""
    return f"{call_id}|{row.source or ''}|{row.destination}"


@dataclass
class World:
    """Everything the API serves: teams' agents, phone numbers, seeded and placed calls."""

    seed: int
    total_calls: int
    start_ms: int
    agents: list[AgentRecord] = field(default_factory=lambda: [])
    phone_numbers: list[PhoneNumber] = field(default_factory=lambda: [])
    placed: list[PlacedRow] = field(default_factory=lambda: [])
    _seeded: SeededCalls | None = None
    _order_cache: OrderedDict[tuple[int, CallQuery], array[int]] = field(default_factory=lambda: OrderedDict())
    _haystacks: dict[int, tuple[str, array[int]]] = field(default_factory=lambda: {})
    _id_key: int = 0

    @classmethod
    def build(cls, seed: int, total_calls: int, start_ms: int) -> World:
        """The world of a seed. Seeded calls are generated on first use, not here."""
        rng = random.Random(seed)
        id_key = rng.getrandbits(_CALL_ID_BITS)
        agents = seed_agents(rng, start_ms)
        numbers = seed_phone_numbers(rng, start_ms, agents)
        return cls(seed, total_calls, start_ms, agents=agents, phone_numbers=numbers, _id_key=id_key)

    # -- lookups ---------------------------------------------------------------------------

    def role_id(self, role: str) -> str:
        return next(a.id for a in self.agents if a.seed.role == role)

    def agent(self, team: str, agent_id: str) -> AgentRecord | None:
        return next((a for a in self.agents if a.id == agent_id and a.team == team), None)

    def team_agents(self, team: str) -> list[AgentRecord]:
        return [a for a in self.agents if a.team == team]

    def phone_number(self, team: str, number_id: str) -> PhoneNumber | None:
        return next((p for p in self.phone_numbers if p.id == number_id and p.team == team), None)

    def team_phone_numbers(self, team: str) -> list[PhoneNumber]:
        return [p for p in self.phone_numbers if p.team == team]

    def linked_numbers(self, agent: AgentRecord) -> list[PhoneNumber]:
        return [p for p in self.phone_numbers if p.agent_id == agent.id]

    def channels(self, agent: AgentRecord) -> list[dict[str, Any]]:
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

    def has_live_channel(self, agent: AgentRecord) -> bool:
        return any(c["type"] in ("telephony", "voice") and c["is_connected"] for c in self.channels(agent))

    def agent_detail(self, agent: AgentRecord) -> dict[str, Any]:
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
            self._seeded = SeededCalls(self.seed, self.total_calls, self.start_ms, self.agents)
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
            return self.seeded.row(ordinal, now_ms)
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
        if row.status == CallStatus.ENDED and row.answered_ms is not None and row.ended_ms is not None:
            agent = self.agents[row.agent_index]
            logs = build_transcript(
                seed=self.seed,
                ordinal=row.ordinal,
                call_id=out["id"],
                scenario=row.scenario,
                agent_name=agent.first_name,
                business=agent.seed.business_name,
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
        candidates: Sequence[int] = seeded.per_agent.get(agent_index, array("i"))
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
            order = array("i", sorted(candidates, key=_seeded_key(seeded, q)))
        self._order_cache[key] = order
        if len(self._order_cache) > 64:
            self._order_cache.popitem(last=False)
        return order

    def _search_seeded(self, agent_index: int, search: str) -> list[int]:
        """Seeded calls of an agent whose id, source or destination contains the search, in creation order.
        Each agent's calls are kept as one text, a line a call, so a search is one scan of that text."""
        base = self.seeded.per_agent.get(agent_index, array("i"))
        hay = self._haystacks.get(agent_index)
        if hay is None:
            parts: list[str] = []
            starts = array("q")
            pos = 0
            for o in base:
                line = _call_haystack(self.call_id(o), self.seeded.row(o)) + "\n"
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
        """Calls whose state moves with the clock: the seeded calls not over at the start, and the placed ones."""
        seeded = self.seeded
        rows = [seeded.row(o, now_ms) for o in seeded.moving.get(agent_index, ())]
        rows += [p.row(now_ms) for p in self.placed if p.agent_index == agent_index]
        if q.status is not None:
            rows = [r for r in rows if r.status == q.status]
        if q.is_test is not None:
            rows = [r for r in rows if r.is_test == q.is_test]
        if q.search:
            needle = _normalise_search(q.search)
            rows = [r for r in rows if needle in _call_haystack(self.call_id(r.ordinal), r)]
        rows.sort(key=lambda r: _row_key(r, q))
        return rows

    def list_calls(
        self, agent_index: int, q: CallQuery, offset: int, limit: int, now_ms: int
    ) -> tuple[int, list[CallRow]]:
        """One page of an agent's calls, seeded and placed merged in the query's order, and the total."""
        seeded_order = self._seeded_order(agent_index, q)
        placed = self._placed_matches(agent_index, q, now_ms)
        total = len(seeded_order) + len(placed)
        end = min(offset + limit, total)
        if offset >= end:
            return total, []
        seeded = self.seeded
        key_of = _seeded_key(seeded, q)
        positions = [bisect_left(seeded_order, _row_key(r, q), key=key_of) + j for j, r in enumerate(placed)]
        j = bisect_left(positions, offset)
        s = offset - j
        out: list[CallRow] = []
        for m in range(offset, end):
            if j < len(placed) and positions[j] == m:
                out.append(placed[j])
                j += 1
            else:
                out.append(seeded.row(seeded_order[s]))
                s += 1
        return total, out

    def active_test_calls(self, team: str, now_ms: int) -> int:
        return sum(1 for p in self.placed if p.team == team and p.is_test and p.row(now_ms).status not in TERMINAL)

    def place_call(self, agent: AgentRecord, destination: str, is_test: bool, now_ms: int) -> PlacedRow:
        ordinal = self.total_calls + len(self.placed)
        rng = random.Random(self.seed * 1_000_003 + ordinal)
        outbound = BY_KIND[(agent.seed.domain, False, "normal")]
        scenario = outbound[rng.randrange(len(outbound))]
        turns = script_turns(scenario, 0)
        linked = self.linked_numbers(agent)
        call = PlacedRow(
            ordinal=ordinal,
            agent_index=agent.index,
            team=agent.team,
            destination=destination,
            source=None if is_test or not linked else linked[0].e164,
            is_test=is_test,
            created_ms=now_ms,
            script=_SCRIPTS.get(destination, "normal"),
            duration=int(turns * rng.uniform(5.0, 7.5)),
            turns=turns,
            scenario=scenario,
        )
        self.placed.append(call)
        return call
