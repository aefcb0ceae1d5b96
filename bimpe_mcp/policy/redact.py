"""Masking of phone numbers and e-mail addresses, for operators who keep personal data out of the model's context."""

from __future__ import annotations

import re

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
