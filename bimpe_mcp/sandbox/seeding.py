"""The seeded world, generated from the seed and the material in `data.py`: agents, phone numbers and calls.

Seeded calls live in parallel arrays (a few dozen bytes each); a call's row is rebuilt from its ordinal when read.
Every draw from a random generator happens in a fixed order, so a seed always gives the same world.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable

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
)
from .records import B36_DIGITS, STATUS_RANK, AgentRecord, CallRow, CallStatus, PhoneNumber

DAY_MS = 86_400_000
# The live agent's newest calls are still in progress, one begun every two minutes up to the start.
IN_PROGRESS = 9
IN_PROGRESS_GAP_MS = 120_000
FINISHED_BEFORE_MS = 3_600_000
FLAG_TEST = 1
FLAG_INBOUND = 2
_PLAN_WEIGHTS = tuple(weight for _, weight, _ in NUMBER_PLANS)
_PLAN_WEIGHT = sum(_PLAN_WEIGHTS)
_END_REASON_WEIGHTS = tuple(weight for _, weight in END_REASONS_ENDED)
# A seeded inbound call exists only once its caller got through, so it is never queued, busy or failed.
_NEVER_INBOUND = frozenset({CallStatus.QUEUED, CallStatus.BUSY, CallStatus.FAILED})


def _rand_id(rng: random.Random, prefix: str, width: int = 12) -> str:
    return prefix + "".join(rng.choice(B36_DIGITS) for _ in range(width))


def _weighted(roll: float, weights: Iterable[int]) -> int:
    """The index a roll in [0, sum of weights) lands on (the last one for a roll past the end)."""
    index = -1
    for index, weight in enumerate(weights):
        roll -= weight
        if roll < 0:
            return index
    return index


def seed_agents(rng: random.Random, start_ms: int) -> list[AgentRecord]:
    agents: list[AgentRecord] = []
    for index, s in enumerate(AGENT_SEEDS):
        created = start_ms - s.age_days * DAY_MS - rng.randint(0, DAY_MS)
        updated = min(start_ms - rng.randint(DAY_MS // 24, 5 * DAY_MS), start_ms - 3_600_000)
        agents.append(
            AgentRecord(
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
    return agents


def seed_phone_numbers(rng: random.Random, start_ms: int, agents: list[AgentRecord]) -> list[PhoneNumber]:
    """The numbers, each linked to its agent; an agent's first linked number becomes its home number."""
    by_role = {a.seed.role: a for a in agents}
    numbers: list[PhoneNumber] = []
    for p in PHONE_NUMBER_SEEDS:
        owner = by_role[p.agent_role] if p.agent_role else None
        created = start_ms - p.age_days * DAY_MS - rng.randint(0, DAY_MS)
        numbers.append(
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
    return numbers


class SeededCalls:
    """All seeded calls in parallel arrays; ordinals ascend with `created_on` within an agent."""

    def __init__(self, seed: int, total: int, start_ms: int, agents: list[AgentRecord]) -> None:
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
        self._agents = agents
        self._seed = seed
        rng = random.Random(seed * 7919 + 17)
        span_ms = SEED_SPAN_DAYS * DAY_MS
        first_ms = start_ms - 120_000 - span_ms
        live_index = next(a.index for a in agents if a.seed.role == "live")
        for agent, count, test_share in self._plan(total, live_index):
            if count <= 0:
                continue
            first = len(self.created)
            gaps = [rng.expovariate(1.0) for _ in range(count)]
            in_progress = agent.index == live_index and count >= 30
            # Finished calls fill the span up to an hour before the start (so each has ended by then); the calls
            # still in progress follow in the last minutes.
            finished = count - IN_PROGRESS if in_progress else count
            scale = (span_ms - (FINISHED_BEFORE_MS if in_progress else 0)) / sum(gaps[:finished])
            t = float(first_ms)
            for i, gap in enumerate(gaps):
                t += gap * scale
                live_now = in_progress and i >= count - IN_PROGRESS
                # Calls still in progress began minutes ago, not days: every earlier day holds finished calls only.
                when = start_ms - 120_000 - (count - 1 - i) * IN_PROGRESS_GAP_MS if live_now else int(t)
                self._add_call(rng, agent, when, test_share, live_now)
            self.per_agent[agent.index] = array("i", range(first, len(self.created)))
        self.count = len(self.created)

    def _plan(self, total: int, live_index: int) -> list[tuple[AgentRecord, int, float]]:
        """(agent, calls, share of test calls): the live agent first, with all the calls the others leave."""
        by_role = {a.seed.role: a for a in self._agents}
        weights = sum(n for _, n, _ in OTHER_AGENT_CALLS)
        others = min(weights, total // 6)
        plan = [(by_role[role], others * n // weights, share) for role, n, share in OTHER_AGENT_CALLS]
        assigned = sum(count for _, count, _ in plan)
        return [(self._agents[live_index], total - assigned, LIVE_TEST_SHARE), *plan]

    def _add_call(
        self, rng: random.Random, agent: AgentRecord, created: int, test_share: float, in_progress: bool
    ) -> None:
        is_test = not in_progress and rng.random() < test_share
        if in_progress:
            status = (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.ANSWERED)[len(self.created) % 3]
        else:
            status = _finished_status(rng.random())
        inbound = not is_test and agent.home_number is not None and status not in _NEVER_INBOUND and rng.random() < 0.4
        country, _, prefixes = NUMBER_PLANS[_weighted(rng.random() * _PLAN_WEIGHT, _PLAN_WEIGHTS)]
        prefix, digits = rng.choice(prefixes)
        number = int(f"{country}{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}")
        ring, tail, duration, turns = _timings(rng, status)
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
        base = self.created[o] + max(self.ring[o], 0)
        if status == CallStatus.ENDED:
            return base + self.tail[o] + self.duration[o] * 1000 + o % 997
        if status in (CallStatus.BUSY, CallStatus.CANCELLED, CallStatus.FAILED):
            return base + self.tail[o]
        return None

    def duration_of(self, o: int) -> int | None:
        """Seconds talked, for ended calls only."""
        return self.duration[o] if self.status[o] == CallStatus.ENDED else None

    def status_rank(self, o: int) -> int:
        return STATUS_RANK[self.status[o]]

    def row(self, o: int) -> CallRow:
        status = self.status[o]
        flags = self.flags[o]
        created = self.created[o]
        ring = self.ring[o]
        agent = self._agents[self.agent[o]]
        remote = f"+{self.remote[o]}"
        is_test = bool(flags & FLAG_TEST)
        inbound = bool(flags & FLAG_INBOUND)
        home = None if is_test else agent.home_number
        source, destination = (remote, home or remote) if inbound else (home, remote)
        ringing = created + ring if ring >= 0 else None
        answered = (
            ringing + self.tail[o]
            if ringing is not None and status in (CallStatus.ENDED, CallStatus.ANSWERED)
            else None
        )
        end_reason, error_reason = self._reasons(o, status)
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
            self.duration_of(o),
            end_reason,
            error_reason,
            self.turns[o],
        )

    def _reasons(self, o: int, status: int) -> tuple[str | None, str | None]:
        """(end_reason, error_reason), picked by a hash of the ordinal so that no state is kept."""
        h = ((o * 2654435761) ^ self._seed) & 0xFFFFFFFF
        if status == CallStatus.ENDED:
            return END_REASONS_ENDED[_weighted(h % 100, _END_REASON_WEIGHTS)][0], None
        if status == CallStatus.BUSY:
            return "busy", "callee_busy"
        if status == CallStatus.FAILED:
            return "failed", FAILED_REASONS[h % len(FAILED_REASONS)]
        if status == CallStatus.CANCELLED:
            return CANCELLED_REASONS[h % len(CANCELLED_REASONS)], None
        return None, None


def _finished_status(roll: float) -> int:
    if roll < 0.72:
        return CallStatus.ENDED
    if roll < 0.81:
        return CallStatus.BUSY
    if roll < 0.89:
        return CallStatus.FAILED
    return CallStatus.CANCELLED


def _timings(rng: random.Random, status: int) -> tuple[int, int, int, int]:
    """(ms to ringing, ms from ringing to the answer or the end, seconds talked, turns); -1 where none."""
    ring = tail = duration = -1
    turns = 0
    if status == CallStatus.ENDED:
        ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 12_000)
        roll = rng.random()
        turns = rng.randint(200, 260) if roll < 0.02 else rng.randint(2, 9) if roll < 0.1 else rng.randint(10, 40)
        duration = int(turns * rng.uniform(4.5, 8.5))
    elif status == CallStatus.BUSY:
        ring, tail = rng.randint(800, 4_500), rng.randint(3_000, 9_000)
    elif status == CallStatus.FAILED:
        ring = rng.randint(800, 4_500) if rng.random() < 0.5 else -1
        tail = rng.randint(200, 3_000)
    elif status == CallStatus.CANCELLED:
        ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 25_000)
    elif status == CallStatus.RINGING:
        ring = rng.randint(800, 4_500)
    elif status == CallStatus.ANSWERED:
        ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 12_000)
    return ring, tail, duration, turns
