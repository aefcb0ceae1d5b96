"""Masking of phone numbers and e-mail addresses, for operators who keep personal data out of the model's context."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from bimpe_mcp.api.wire import WireCall, WireCallDetail

# A phone number in text: an optional +, then at least 7 digits with the usual separators between them.
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[\s().-]{0,2}\d){6,}(?!\w)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mask_number(number: str) -> str:
    """A number with all but its last two digits hidden: `+*********00`."""
    digits = _digits(number)
    return ("+" if number.startswith("+") else "") + "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_text(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Text with each phone number and e-mail address masked, except the numbers in `keep` (E.164)."""
    kept = {_digits(n) for n in keep}

    def phone(found: re.Match[str]) -> str:
        value = found.group(0)
        return value if _digits(value) in kept else mask_number(value)

    text = _EMAIL.sub(lambda m: "***@" + m.group(0).rsplit("@", 1)[1], text)
    return _PHONE.sub(phone, text)


CallT = TypeVar("CallT", bound=WireCall)


def redact_call(call: CallT) -> CallT:
    """A call with the other party's number, and every number and address in its transcript and reasons, masked;
    the agent's own number (the source of an outbound call, the destination of an inbound one) stays."""
    own = {"outbound": call.source, "inbound": call.destination}.get(call.direction or "")
    keep = frozenset({own} if own else set[str]())
    update: dict[str, Any] = {
        name: value if value == own else mask_text(value)
        for name in ("source", "destination", "end_reason", "error_reason")
        if isinstance(value := getattr(call, name), str)
    }
    if isinstance(call, WireCallDetail) and call.conversation_logs:
        update["conversation_logs"] = [
            turn.model_copy(update={"message": mask_text(turn.message, keep)}) if turn.message else turn
            for turn in call.conversation_logs
        ]
    return call.model_copy(update=update)
