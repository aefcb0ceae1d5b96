"""Transcript windows and their cursors: one turn range under a character budget, shared by tools and resources."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

from bimpe_mcp.api.contract import check_id
from bimpe_mcp.api.errors import BimpeError
from bimpe_mcp.api.wire import WireCallDetail, WireMessage
from bimpe_mcp.core import render
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import Transcript, TranscriptLines, Turn

SPEAKERS = {"assistant": "agent", "agent": "agent", "user": "caller", "customer": "caller", "caller": "caller"}
TRANSCRIPT_TEMPLATE = "bimpe://agents/{agent_id}/calls/{call_id}/transcript"
CUT_MARK = " …[cut]"
# An outline's share of its budget for the start of a call (the rest goes to its end), and the room its gap line takes.
HEAD_SHARE = 50
GAP_CHARS = 120
UNBOUNDED = 10**9
SPEAKER_CHARS = 24


def transcript_uri(agent_id: str, call_id: str) -> str:
    return TRANSCRIPT_TEMPLATE.format(agent_id=agent_id, call_id=call_id)


def encode_cursor(agent_id: str, call_id: str, turn: int) -> str:
    return base64.urlsafe_b64encode(f"{agent_id}|{call_id}|{turn}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        agent_id, call_id, turn = raw.split("|")
        return check_id("agent_id", agent_id), check_id("call_id", call_id), int(turn)
    except (ValueError, binascii.Error, BimpeError):
        raise ToolFailure(
            "invalid_argument",
            "cursor is not one this server issued",
            "Pass next_cursor exactly as get_call or get_transcript returned it, or use start_turn instead.",
        ) from None


def _call_start(detail: WireCallDetail) -> datetime | None:
    return (
        render.parse_time(detail.answered_at)
        or render.parse_time(detail.started_at)
        or render.parse_time(detail.created_on)
    )


def speaker(role: str | None) -> str:
    """Who spoke, as the one word a turn line has for it: a known role by its name, any other role reduced to word
    characters, so that no role can put speech in another speaker's mouth (e.g. a role "agent] Sure")."""
    word = (role or "").strip().lower()
    return SPEAKERS.get(word) or re.sub(r"[^\w-]+", "_", word)[:SPEAKER_CHARS] or "unknown"


def _turn(msg: WireMessage, base: datetime | None) -> Turn:
    at = render.parse_time(msg.created_at)
    return Turn(
        offset=render.offset((at - base).total_seconds()) if at and base else None,
        speaker=speaker(msg.role),
        text=msg.message,
        attachments=[f"{a.type or 'file'}:{a.url or '-'}" for a in msg.attachments] if msg.attachments else None,
    )


def transcript_window(detail: WireCallDetail, agent_id: str, start: int, end: int | None, max_chars: int) -> Transcript:
    """Turns from `start` up to `end` (exclusive) whose compact lines fit `max_chars`; a first turn that alone is
    larger is cut rather than left out, so every window moves forward."""
    logs = detail.conversation_logs or []
    total = len(logs)
    start = min(max(0, start), total)
    stop = total if end is None else min(max(end, start), total)
    base = _call_start(detail)
    turns: list[Turn] = []
    used = 0
    index = start
    while index < stop:
        turn = _turn(logs[index], base)
        size = len(render.safe_line(render.turn_line(index, turn))) + 1
        if turns and used + size > max_chars:
            break
        if not turns and size > max_chars and turn.text:
            # Cut the speech as the line shows it (breaks written " / ", invisible characters gone), so it fits.
            shown = render.safe_line(turn.text)
            cut = max(0, len(shown) - (size - max_chars) - 12)
            turn = turn.model_copy(update={"text": shown[:cut] + CUT_MARK})
            size = max_chars
        turns.append(turn)
        used += size
        index += 1
    return Transcript(
        call_id=detail.id,
        agent_id=agent_id,
        total_turns=total,
        start_turn=start,
        end_turn=index,
        turns=turns,
        truncated=index < total,
        next_cursor=encode_cursor(agent_id, detail.id, index) if index < total else None,
        resource_uri=transcript_uri(agent_id, detail.id),
    )


def _lines(window: Transcript) -> list[str]:
    return [render.safe_line(render.turn_line(window.start_turn + i, t)) for i, t in enumerate(window.turns)]


def outline(detail: WireCallDetail, agent_id: str, max_chars: int) -> TranscriptLines:
    """A transcript as its compact lines within `max_chars`: all of it when it fits, else its start and its end
    (where a call's outcome is said), the turns between named with the cursor that reads them."""
    every = _lines(transcript_window(detail, agent_id, 0, None, UNBOUNDED))
    if sum(len(line) + 1 for line in every) <= max_chars:
        return TranscriptLines(total_turns=len(every), lines=every)
    head = transcript_window(detail, agent_id, 0, None, max_chars * HEAD_SHARE // 100)
    room = max_chars - sum(len(line) + 1 for line in _lines(head)) - GAP_CHARS
    # The last turns that fit the room left, keeping at least one turn between the start and the end.
    first = len(every)
    while first - 1 > head.end_turn and len(every[first - 1]) + 1 <= room:
        room -= len(every[first - 1]) + 1
        first -= 1
    # With no room for the whole last turn, its start is shown: the end of a call is where its outcome is said.
    tail = every[first:] or [every[-1][: max(0, room - len(CUT_MARK) - 1)] + CUT_MARK]
    first = min(first, len(every) - 1)
    gap = f"[turns {head.end_turn}-{first - 1} left out: get_transcript with cursor={head.next_cursor}]"
    return TranscriptLines(total_turns=len(every), lines=[*_lines(head), gap, *tail], next_cursor=head.next_cursor)
