"""Transcripts built on demand from a call's ordinal, its scenario and the seed, so none is held in memory."""

from __future__ import annotations

import random
from typing import Any

from .clock import iso_ms
from .conversations import GREETINGS, ITEMS, SCENARIOS, Scenario
from .data import DAYS, FIRST_NAMES, JOURS, LATER_TIMES, SURNAMES, TIMES

_REF_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def script_turns(scenario: int, loops: int) -> int:
    """How many turns a scenario's script has once its loop is said `loops` times."""
    s = SCENARIOS[scenario]
    return len(s.lines) + (2 * loops if s.loop else 0)


def _slots(rng: random.Random, agent_name: str, business: str, domain: str) -> dict[str, str]:
    """Everything a script names, drawn once, so a name, a day or a price is the same on every turn."""
    day, day2 = rng.sample(range(len(DAYS)), 2)
    name = rng.choice(FIRST_NAMES)
    slots = {
        "name": name,
        "surname": rng.choice(SURNAMES),
        "email": f"{name.lower()}@example.com",
        "agent": agent_name,
        "biz": business,
        "day": DAYS[day],
        "day2": DAYS[day2],
        "jour": JOURS[day],
        "time": rng.choice(TIMES),
        "time2": rng.choice(LATER_TIMES),
        "amount": f"{rng.randint(5, 90) * 1000:,}",
        "ref": f"{rng.choice(_REF_LETTERS)}{rng.choice(_REF_LETTERS)}-{rng.randint(10000, 99999)}",
    }
    slots["greet"] = GREETINGS[domain].format(**slots)
    return slots


def _lines(s: Scenario, turns: int) -> list[str]:
    """The script's templates, its loop repeated to make `turns` turns in all."""
    if s.loop is None:
        return list(s.lines[:turns])
    loops = max(0, (turns - len(s.lines)) // 2)
    middle = [
        s.loop[i % 2].replace("{n}", str(i // 2 + 1)).replace("{item}", ITEMS[i // 2 % len(ITEMS)])
        for i in range(2 * loops)
    ]
    return [*s.lines[: s.loop_at], *middle, *s.lines[s.loop_at :]]


def build_transcript(
    *,
    seed: int,
    ordinal: int,
    call_id: str,
    scenario: int,
    agent_name: str,
    business: str,
    turns: int,
    answered_ms: int,
    ended_ms: int,
) -> list[dict[str, Any]]:
    """The scenario's script, `turns` long, agent and caller alternating, timed between answer and hang-up."""
    if turns <= 0:
        return []
    s = SCENARIOS[scenario]
    rng = random.Random(seed * 1_000_003 + ordinal * 7 + 1)
    slots = _slots(rng, agent_name, business, s.domain)
    suffix = call_id.removeprefix("call_")
    lines = _lines(s, turns)
    span = max(ended_ms - answered_ms, len(lines))
    messages: list[dict[str, Any]] = []
    for i, template in enumerate(lines):
        message: dict[str, Any] = {
            "id": f"msg_{suffix}_{i:03d}",
            "role": "assistant" if i % 2 == 0 else "user",
            "message": template.format(**slots),
            "message_type": "text",
            "created_at": iso_ms(answered_ms + span * i // len(lines)),
            "attachments": [],
        }
        if s.attachment is not None and s.attachment[0] == i:
            _, kind, filename = s.attachment
            message["message_type"] = kind
            message["attachments"] = [
                {"type": kind, "url": f"https://files.sandbox.bimpe.local/calls/{call_id}/{filename}"}
            ]
        messages.append(message)
    return messages
