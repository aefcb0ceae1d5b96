"""The audit trail: one JSON line per place_call attempt, and the recent ones in memory.

Writing never breaks or delays a call beyond one small append: a file that cannot be written is reported once on
stderr and the entry is kept in memory only."""

from __future__ import annotations

import json
import sys
from collections import deque
from typing import Any

RECENT_KEPT = 100


class AuditLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_KEPT)
        self._broken = False

    def record(self, entry: dict[str, Any]) -> None:
        entry = {k: v for k, v in entry.items() if v is not None}
        self.recent.append(entry)
        if self.path is None or self._broken:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=True) + "\n")
        except OSError as exc:
            self._broken = True
            sys.stderr.write(f"bimpe-mcp: BIMPE_AUDIT_LOG cannot be written ({type(exc).__name__}); audit entries "
                             "are kept in memory only\n")  # fmt: skip
