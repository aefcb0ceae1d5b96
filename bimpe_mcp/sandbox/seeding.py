"""The seeded world, generated from the seed and the material in `data.py`: agents, phone numbers and calls.

Seeded calls live in parallel arrays (a few dozen bytes each); a call's row is rebuilt from its ordinal when read.
Every draw from a random generator happens in a fixed order, so a seed always gives the same world.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from .conversations import SCENARIOS, Kind, pick, scenario_named
from .data import (
    AGENT_SEEDS,
    CANCELLED_REASONS,
    FAILED_REASONS,
    LIVE_TEST_SHARE,
    NUMBER_PLANS,
    OTHER_AGENT_CALLS,
    PHONE_NUMBER_SEEDS,
    SEED_SPAN_DAYS,
)
from .records import B36_DIGITS, STATUS_RANK, AgentRecord, CallRow, CallStatus, PhoneNumber
from .transcripts import script_turns

DAY_MS = 86_400_000
# Calls drawn at random fill the days up to an hour and a half before the start, so each has ended by then.
FINISHED_BEFORE_MS = 5_400_000
# The hours calls come in, in the agent's time zone: 07:30 to 20:30.
OPEN_MS = 27_000_000
CLOSE_MS = 73_800_000
FLAG_TEST = 1
FLAG_INBOUND = 2
_PLAN_WEIGHTS = tuple(weight for _, weight, _ in NUMBER_PLANS)
_PLAN_WEIGHT = sum(_PLAN_WEIGHTS)
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


@dataclass(frozen=True)
class Pinned:
    """A call the world always has: its status, and optionally its direction, conversation and state at the start."""

    status: int
    inbound: bool = False
    scenario: str | None = None
    # QUEUED, RINGING or ANSWERED: the call is in that state when the sandbox starts, and goes on from there.
    at_start: int | None = None
    # For a call in flight, how many seconds before the start it was placed.
    placed_before_s: int = 0


_S = CallStatus
# What the days the README asks about hold, by agent role: (0 for today or 1 for yesterday, fraction of the day
# (of today up to an hour before the start), the call). Busy calls all ring the same customer.
PINNED_DAYS: dict[str, tuple[tuple[int, float, Pinned], ...]] = {
    "live": (
        (1, 0.38, Pinned(_S.FAILED)),
        (1, 0.45, Pinned(_S.BUSY)),
        (1, 0.52, Pinned(_S.ENDED, inbound=True, scenario="booking")),
        (1, 0.63, Pinned(_S.FAILED)),
        (1, 0.70, Pinned(_S.BUSY)),
        (0, 0.30, Pinned(_S.BUSY)),
        (0, 0.60, Pinned(_S.FAILED)),
        (0, 0.90, Pinned(_S.ENDED, scenario="reminder")),
    ),
    "no_channel": (
        (1, 0.40, Pinned(_S.FAILED)),
        (1, 0.50, Pinned(_S.BUSY)),
        (1, 0.60, Pinned(_S.ENDED, scenario="lead_follow_up")),
        (0, 0.30, Pinned(_S.ENDED, scenario="language_switch")),
        (0, 0.60, Pinned(_S.BUSY)),
        (0, 0.90, Pinned(_S.FAILED)),
    ),
}
# How many calls an agent needs before the days above are pinned (a small world keeps only random calls).
PINNED_FROM = {"live": 30, "no_channel": 10}
# The live agent's last calls: the newest finished one, a refund request 75 minutes before the start, then three
# calls in flight at the start (answered, ringing, queued), each ending minutes later on the sandbox clock.
LIVE_LAST: tuple[Pinned, ...] = (
    Pinned(_S.ENDED, inbound=True, scenario="refund", placed_before_s=4_500),
    Pinned(_S.ENDED, inbound=True, at_start=_S.ANSWERED, placed_before_s=150),
    Pinned(_S.BUSY, at_start=_S.RINGING, placed_before_s=20),
    Pinned(_S.ENDED, at_start=_S.QUEUED, placed_before_s=3),
)


def _local_days(zone_name: str, start_ms: int) -> tuple[int, int]:
    """The first instants of today and of yesterday in a time zone, in ms."""
    zone = ZoneInfo(zone_name)
    today = datetime.fromtimestamp(start_ms / 1000, zone).date()
    midnight = datetime.combine(today, time(), zone)
    yesterday = datetime.combine(today - timedelta(days=1), time(), zone)
    return int(midnight.timestamp() * 1000), int(yesterday.timestamp() * 1000)


class OfficeHours:
    """The hours calls come in (OPEN_MS to CLOSE_MS in the agent's time zone) over the SEED_SPAN_DAYS days before
    today and today up to the random calls' limit, as one line of `span` ms: `at` turns a point of it into a time.
    The zone's offset at the start holds for the whole span."""

    def __init__(self, zone_name: str, start_ms: int) -> None:
        offset = datetime.fromtimestamp(start_ms / 1000, ZoneInfo(zone_name)).utcoffset()
        self.offset = int(offset.total_seconds() * 1000) if offset is not None else 0
        local_start = start_ms + self.offset
        self.today = local_start - local_start % DAY_MS
        self.first_day = self.today - SEED_SPAN_DAYS * DAY_MS
        self.today_open = max(0, min(CLOSE_MS, local_start - FINISHED_BEFORE_MS - self.today) - OPEN_MS)
        self.span = SEED_SPAN_DAYS * (CLOSE_MS - OPEN_MS) + self.today_open

    def at(self, point: int) -> int:
        day, into = divmod(min(point, self.span - 1), CLOSE_MS - OPEN_MS)
        return self.first_day + day * DAY_MS + OPEN_MS + into - self.offset


def pinned_calls(agent: AgentRecord, count: int, start_ms: int) -> list[tuple[int, Pinned]]:
    """(placed at ms, call) for the calls an agent always has, oldest first."""
    role = agent.seed.role
    if count < PINNED_FROM.get(role, count + 1):
        return []
    today, yesterday = _local_days(agent.seed.timezone, start_ms)
    today_end = start_ms - FINISHED_BEFORE_MS
    # Today's calls come after opening time, or in the last hour before today_end when the start is earlier.
    opened = max(today, min(today + OPEN_MS, today_end - 3_600_000))
    out: list[tuple[int, Pinned]] = []
    for day, fraction, call in PINNED_DAYS[role]:
        # A few minutes either way, so that the pinned calls fall on no round hour.
        jitter = int(fraction * 7_919_311) % 600_000
        if day == 1:
            out.append((yesterday + int(fraction * DAY_MS) + jitter, call))
        elif today_end > today:
            out.append((max(opened, opened + int(fraction * (today_end - opened)) - jitter), call))
    if role == "live":
        out += [(start_ms - p.placed_before_s * 1000, p) for p in LIVE_LAST]
    return sorted(out, key=lambda pair: pair[0])


class SeededCalls:
    """All seeded calls in parallel arrays; ordinals ascend with `created_on` within an agent.

    Each call is kept as it ends; one that has not ended yet at the clock's now is shown in the state it has then
    (`row`). `per_agent` holds the calls over by the start, `moving` the others, which lists read at their state."""

    def __init__(self, seed: int, total: int, start_ms: int, agents: list[AgentRecord]) -> None:
        self.agent = array("B")
        self.created = array("q")
        self.status = array("B")
        self.flags = array("B")
        self.ring = array("i")
        self.tail = array("i")
        self.duration = array("i")
        self.turns = array("H")
        self.scenario = array("H")
        self.remote = array("q")
        self.per_agent: dict[int, array[int]] = {}
        self.moving: dict[int, list[int]] = {}
        self._agents = agents
        self._seed = seed
        self._start_ms = start_ms
        rng = random.Random(seed * 7919 + 17)
        live_index = next(a.index for a in agents if a.seed.role == "live")
        for agent, count, test_share in self._plan(total, live_index):
            if count <= 0:
                continue
            first = len(self.created)
            pinned = pinned_calls(agent, count, start_ms)
            drawn = count - len(pinned)
            gaps = [rng.expovariate(1.0) for _ in range(drawn)]
            hours = OfficeHours(agent.seed.timezone, start_ms)
            scale = hours.span / sum(gaps) if gaps else 0.0
            busy_number = self._number(rng)
            point = 0.0
            times: list[tuple[int, Pinned | None]] = []
            for gap in gaps:
                point += gap * scale
                times.append((hours.at(int(point)), None))
            for when, call in sorted([*times, *pinned], key=lambda pair: pair[0]):
                self._add_call(rng, agent, when, test_share, call, busy_number)
            ordinals = range(first, len(self.created))
            self.per_agent[agent.index] = array("i", (o for o in ordinals if not self._moves(o)))
            self.moving[agent.index] = [o for o in ordinals if self._moves(o)]
        self.count = len(self.created)

    def _moves(self, o: int) -> bool:
        end = self.ended_ms(o)
        return end is None or end > self._start_ms

    def _plan(self, total: int, live_index: int) -> list[tuple[AgentRecord, int, float]]:
        """(agent, calls, share of test calls): the live agent first, with all the calls the others leave."""
        by_role = {a.seed.role: a for a in self._agents}
        weights = sum(n for _, n, _ in OTHER_AGENT_CALLS)
        others = min(weights, total // 6)
        plan = [(by_role[role], others * n // weights, share) for role, n, share in OTHER_AGENT_CALLS]
        assigned = sum(count for _, count, _ in plan)
        return [(self._agents[live_index], total - assigned, LIVE_TEST_SHARE), *plan]

    @staticmethod
    def _number(rng: random.Random) -> int:
        country, _, prefixes = NUMBER_PLANS[_weighted(rng.random() * _PLAN_WEIGHT, _PLAN_WEIGHTS)]
        prefix, digits = rng.choice(prefixes)
        return int(f"{country}{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}")

    def _add_call(
        self,
        rng: random.Random,
        agent: AgentRecord,
        created: int,
        test_share: float,
        pinned: Pinned | None,
        busy_number: int,
    ) -> None:
        # A pinned call is live, unless the agent makes test calls only.
        is_test = rng.random() < test_share if pinned is None else test_share >= 1.0
        status = _finished_status(rng.random()) if pinned is None else pinned.status
        may_be_inbound = not is_test and agent.home_number is not None and status not in _NEVER_INBOUND
        inbound = may_be_inbound and (rng.random() < 0.4 if pinned is None else pinned.inbound)
        number = self._number(rng)
        ring, tail, duration, turns, scenario = _timings(rng, status, agent.seed.domain, inbound)
        if pinned is not None and pinned.scenario is not None:
            scenario = scenario_named(agent.seed.domain, pinned.scenario, inbound)
            turns = script_turns(scenario, 0)
            duration = int(turns * rng.uniform(4.5, 8.5))
        if pinned is not None and pinned.at_start is not None:
            ring, tail, duration = _in_flight(rng, pinned, ring, tail, duration)
        self.agent.append(agent.index)
        self.created.append(created)
        self.status.append(status)
        self.flags.append((FLAG_TEST if is_test else 0) | (FLAG_INBOUND if inbound else 0))
        self.ring.append(ring)
        self.tail.append(tail)
        self.duration.append(duration)
        self.turns.append(turns)
        self.scenario.append(scenario)
        self.remote.append(busy_number if pinned is not None and status == CallStatus.BUSY else number)

    def ended_ms(self, o: int) -> int | None:
        """When the call ends (or ended)."""
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

    def row(self, o: int, now_ms: int | None = None) -> CallRow:
        """The call as it stands at `now_ms` (as it ends when None)."""
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
        answered = ringing + self.tail[o] if ringing is not None and status == CallStatus.ENDED else None
        ended = self.ended_ms(o)
        start = CallRow(o, self.agent[o], source, destination, status, inbound, is_test, created, ringing, answered,
                        None, None, None, None, 0)  # fmt: skip
        if now_ms is not None and ended is not None and ended > now_ms:
            return _in_progress(start, now_ms)
        end_reason, error_reason = self._reasons(o, status)
        return start._replace(
            ended_ms=ended,
            duration=self.duration_of(o),
            end_reason=end_reason,
            error_reason=error_reason,
            turns=self.turns[o],
            scenario=self.scenario[o],
        )

    def _reasons(self, o: int, status: int) -> tuple[str | None, str | None]:
        """(end_reason, error_reason): an ended call's from its conversation, others by a hash of the ordinal."""
        h = ((o * 2654435761) ^ self._seed) & 0xFFFFFFFF
        if status == CallStatus.ENDED:
            return SCENARIOS[self.scenario[o]].end_reason, None
        if status == CallStatus.BUSY:
            return "busy", "callee_busy"
        if status == CallStatus.FAILED:
            return "failed", FAILED_REASONS[h % len(FAILED_REASONS)]
        if status == CallStatus.CANCELLED:
            return CANCELLED_REASONS[h % len(CANCELLED_REASONS)], None
        return None, None


def _in_progress(row: CallRow, now_ms: int) -> CallRow:
    """A call not over at `now_ms`: queued until it rings, ringing until it is answered, then answered."""
    if row.ringing_ms is None or now_ms < row.ringing_ms:
        return row._replace(status=CallStatus.QUEUED, ringing_ms=None, answered_ms=None)
    if row.answered_ms is None or now_ms < row.answered_ms:
        return row._replace(status=CallStatus.RINGING, answered_ms=None)
    return row._replace(status=CallStatus.ANSWERED)


def _in_flight(rng: random.Random, call: Pinned, ring: int, tail: int, duration: int) -> tuple[int, int, int]:
    """(ms to ringing, ms from ringing to the answer or the end, seconds talked) of a call placed
    `call.placed_before_s` before the start that is in state `call.at_start` then."""
    age = call.placed_before_s * 1000
    if call.at_start == CallStatus.QUEUED:
        return age + rng.randint(1_000, 4_000), tail, duration
    ring = min(ring, age - 1_000)
    if call.at_start == CallStatus.RINGING:
        return ring, age - ring + rng.randint(4_000, 12_000), duration
    talked = (age - ring - tail) // 1000
    return ring, tail, max(duration, talked + rng.randint(40, 150))


def _finished_status(roll: float) -> int:
    if roll < 0.72:
        return CallStatus.ENDED
    if roll < 0.81:
        return CallStatus.BUSY
    if roll < 0.89:
        return CallStatus.FAILED
    return CallStatus.CANCELLED


def _conversation(rng: random.Random, domain: str, inbound: bool) -> tuple[int, int]:
    """(scenario, turns) of an answered call: mostly a normal call, some short, a few very long."""
    roll = rng.random()
    kind: Kind = "long" if roll < 0.02 else "short" if roll < 0.1 else "normal"
    scenario = pick(domain, inbound, kind, rng.random())
    loops = rng.randint(96, 126) if SCENARIOS[scenario].loop else 0
    return scenario, script_turns(scenario, loops)


def _timings(rng: random.Random, status: int, domain: str, inbound: bool) -> tuple[int, int, int, int, int]:
    """(ms to ringing, ms from ringing to the answer or the end, seconds talked, turns, scenario); -1 where none."""
    ring = tail = duration = -1
    turns = scenario = 0
    if status == CallStatus.ENDED:
        ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 12_000)
        scenario, turns = _conversation(rng, domain, inbound)
        duration = int(turns * rng.uniform(4.5, 8.5))
    elif status == CallStatus.BUSY:
        ring, tail = rng.randint(800, 4_500), rng.randint(3_000, 9_000)
    elif status == CallStatus.FAILED:
        ring = rng.randint(800, 4_500) if rng.random() < 0.5 else -1
        tail = rng.randint(200, 3_000)
    elif status == CallStatus.CANCELLED:
        ring, tail = rng.randint(800, 4_500), rng.randint(2_000, 25_000)
    return ring, tail, duration, turns, scenario
