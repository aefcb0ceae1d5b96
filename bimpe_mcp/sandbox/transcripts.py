"""Transcripts built on demand from a call's ordinal and the seed, so none is held in memory."""

from __future__ import annotations

import random
from typing import Any

from .clock import iso_ms
from .data import ATTACHMENT_KINDS, DAYS, DOMAINS, FIRST_NAMES, GENERIC_ACKS, GENERIC_USER_FILLERS, TIMES

_REF_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_GOODBYES = ("Thank you, bye!", "Thanks so much. Bye.", "Okay, thank you. Goodbye.")


def _fill(template: str, slots: dict[str, str], rng: random.Random) -> str:
    if "{day}" in template:
        slots["day"] = rng.choice(DAYS)
    if "{time}" in template:
        slots["time"] = rng.choice(TIMES)
    return template.format(**slots)


def build_transcript(
    *,
    seed: int,
    ordinal: int,
    call_id: str,
    domain: str,
    agent_name: str,
    business: str,
    inbound: bool,
    turns: int,
    answered_ms: int,
    ended_ms: int,
) -> list[dict[str, Any]]:
    """Alternating assistant/user turns, `turns` long, timed between answer and hang-up."""
    if turns <= 0:
        return []
    rng = random.Random(seed * 1_000_003 + ordinal * 7 + 1)
    bank = DOMAINS[domain]
    slots = {
        "name": rng.choice(FIRST_NAMES),
        "agent": agent_name,
        "biz": business,
        "day": rng.choice(DAYS),
        "time": rng.choice(TIMES),
        "amount": f"{rng.randint(5, 90) * 1000:,}",
        "ref": f"{rng.choice(_REF_LETTERS)}{rng.choice(_REF_LETTERS)}-{rng.randint(10000, 99999)}",
    }
    attach_at = -1
    if ordinal % 20 == 3 and turns >= 4:
        attach_at = rng.randrange(3, turns, 2) if turns > 4 else 3
    attachment = ATTACHMENT_KINDS[ordinal % len(ATTACHMENT_KINDS)]
    suffix = call_id.removeprefix("call_")
    span = max(ended_ms - answered_ms, turns)
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        role = "assistant" if i % 2 == 0 else "user"
        text = _line(i, turns, inbound, bank, slots, rng)
        message: dict[str, Any] = {
            "id": f"msg_{suffix}_{i:03d}",
            "role": role,
            "message": text,
            "message_type": "text",
            "created_at": iso_ms(answered_ms + span * i // turns),
            "attachments": [],
        }
        if i == attach_at:
            kind, filename, caption = attachment
            message["role"] = "user"
            message["message"] = caption
            message["message_type"] = kind
            message["attachments"] = [
                {"type": kind, "url": f"https://files.sandbox.bimpe.local/calls/{call_id}/{filename}"}
            ]
        messages.append(message)
    return messages


def _line(
    i: int, turns: int, inbound: bool, bank: dict[str, tuple[str, ...]], slots: dict[str, str], rng: random.Random
) -> str:
    """What is said on turn `i` of `turns`; the agent speaks on even turns."""
    by_agent = i % 2 == 0
    if i == 0:
        return _fill(rng.choice(bank["greet_in" if inbound else "greet_out"]), slots, rng)
    if i == 1:
        return _fill(rng.choice(bank["intent" if inbound else "reply_out"]), slots, rng)
    if i == turns - 1:
        return _fill(rng.choice(bank["close"]), slots, rng) if by_agent else rng.choice(_GOODBYES)
    if i == turns - 2 and by_agent:
        return _fill(bank["close"][0], slots, rng)
    roll = rng.random()
    if by_agent:
        if roll < 0.5:
            return _fill(rng.choice(bank["probe"]), slots, rng)
        if roll < 0.85:
            return _fill(rng.choice(bank["info"]), slots, rng)
        return rng.choice(GENERIC_ACKS) + " " + _fill(rng.choice(bank["probe"]), slots, rng)
    if roll < 0.7:
        return _fill(rng.choice(bank["answer"]), slots, rng)
    if roll < 0.9:
        return rng.choice(GENERIC_USER_FILLERS)
    return _fill(rng.choice(bank["intent"]), slots, rng)
