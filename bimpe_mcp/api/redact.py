"""Masking of phone numbers and e-mail addresses, for operators who keep personal data out of the model's context.

A number is masked whatever separates its digits: spaces of any width, `( ) . / _ ,`, every dash and minus sign, and
characters that show as nothing (zero-width, bidi controls, variation selectors, combining marks). An address is
masked written as usual, with `＠` or `﹫`, with spaces around its `@` and dots, or spelled out (`ada at example dot
com`, `ada (at) example [dot] com`, `ada dot lovelace at example.com`). What stays readable: the last two digits of
a number, the domain of an address, and whatever is not written as one (digits spoken as words, a number split across
turns)."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from bimpe_mcp.api.wire import WireCall, WireCallDetail

INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
"""The characters Unicode says show as nothing (Default_Ignorable_Code_Point), as the inside of a character class:
zero-width and bidi controls, variation selectors, fillers, tag characters."""

_DASHES = "\\-\u2010-\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
_SEPARATOR = f"[\\s().,/_\\\\{_DASHES}\uff0e\uff0f\u3002\u0300-\u036f{INVISIBLE}]"
# A phone number in text: an optional +, then at least 7 digits with up to three separators between each two.
_PHONE = re.compile(f"(?<![\\w+\uff0b])[+\uff0b]?\\d(?:{_SEPARATOR}{{0,3}}\\d){{6,}}(?!\\w)")

# E-mail addresses. Each part is bounded, so a search from any position ends after a few hundred characters.
_WORD = r"[\w+-]{1,64}"
_LABEL = r"[\w-]{1,63}"
_TOP = r"[^\W\d_][\w-]{0,62}"  # a top-level domain starts with a letter: "at 10.30" is a time
_SPELLED_DOT = r"(?:\s{1,3}(?i:dot)\s{1,3}|\s{0,3}[(\[{<]\s{0,2}(?i:dot)\s{0,2}[)\]}>]\s{0,3})"
_LOCAL = rf"[\w.+-]{{1,64}}(?:{_SPELLED_DOT}{_WORD}){{0,8}}"
_SIGN_AT = r"\s{0,3}[@\uff20\ufe6b]\s{0,3}"
_WORD_AT = r"(?:\s{1,3}(?i:at)\s{1,3}|\s{0,3}[(\[{<]\s{0,2}(?i:at)\s{0,2}[)\]}>]\s{0,3})"
_TIGHT_DOT = "[.\uff0e\u3002]"
_SPACED_DOT = f"\\s{{0,3}}{_TIGHT_DOT}\\s{{0,3}}"


def _domain(dot: str) -> str:
    return f"{_LABEL}(?:(?:{dot}){_LABEL}){{0,7}}(?:{dot}){_TOP}"


# With an at sign, dots may be spaced; with the word "at", only a dot without spaces or a spelled one counts, so
# that "I'm at home. Then" stays as it was said.
_SIGNED = _SIGN_AT + _domain(f"{_SPACED_DOT}|{_SPELLED_DOT}")
_WORDED = _WORD_AT + _domain(f"{_TIGHT_DOT}|{_SPELLED_DOT}")
_EMAIL = re.compile(rf"(?<![\w.+-])(?P<local>{_LOCAL})(?P<rest>{_SIGNED}|{_WORDED})(?![\w-])")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mask_number(number: str) -> str:
    """A number with all but its last two digits hidden: `+*********00`."""
    digits = _digits(number)
    plus = "+" if number.startswith(("+", "\uff0b")) else ""
    return plus + "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_text(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Text with each phone number and e-mail address masked, except the numbers in `keep` (E.164)."""
    kept = {_digits(n) for n in keep}

    def phone(found: re.Match[str]) -> str:
        value = found.group(0)
        return value if _digits(value) in kept else mask_number(value)

    text = _EMAIL.sub(lambda m: "***" + m.group("rest"), text)
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


_PHONE_QUERY = re.compile(r"[+\d\s().-]+")


def shown_match(call: WireCall, search: str) -> bool:
    """Whether `search` is in the call as it is shown (id, source, destination, masked), the way the API matches:
    case-insensitive text, or, for a phone number, its digits. Only what is shown can be found, so a search tells
    nothing about what the mask hides."""
    needle = search.strip().lower()
    numbers = [n for n in (call.source, call.destination) if n]
    # The digits of a masked number are the two it shows.
    if _PHONE_QUERY.fullmatch(needle) and (digits := _digits(needle)) and any(digits in _digits(n) for n in numbers):
        return True
    return any(needle in text.lower() for text in (call.id, *numbers))
