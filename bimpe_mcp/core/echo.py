"""Values a message repeats back to whoever sent them: short, on one line, and never anything shaped like a key."""

from __future__ import annotations

import re
from collections.abc import Callable

_KEY_SHAPED = re.compile(r"(?i)\b(sk|pk|rk)[_-]|bearer\s")


def shown(
    value: object,
    limit: int = 40,
    *,
    noun: str = "a value",
    cut: str | None = None,
    clean: Callable[[str], str] = repr,
) -> str:
    """`value` as a message may repeat it, written by `clean` (quoted by default). A value shaped like a key is
    named by its length instead ("a value of 52 characters", `noun` first), and so is one longer than `limit`
    characters or that does not print; with `cut`, a longer value is shown by its first `limit` characters with
    `cut` after them, and `clean` has to make any character safe."""
    text = str(value)
    withheld = cut is None and (len(text) > limit or not text.isprintable())
    if withheld or _KEY_SHAPED.search(text):
        return f"{noun} of {len(text)} characters"
    if cut is not None and len(text) > limit:
        text = text[:limit] + cut
    return clean(text)
