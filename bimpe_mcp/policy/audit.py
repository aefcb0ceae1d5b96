"""The audit trail: one JSON line per place_call attempt, and the recent ones in memory (and in the state store).

Writing never breaks or delays a call beyond one small append: a file that cannot be written is reported once on
stderr and the entry is kept in memory only."""

from __future__ import annotations

import json
import sys
from collections import deque
from typing import Any

from bimpe_mcp.api.redact import mask_number
from bimpe_mcp.core.failures import ToolFailure
from bimpe_mcp.core.models import PlacedCall

RECENT_KEPT = 100
REFUSALS = ("policy_refused", "confirmation_declined", "confirmation_unanswered")


def request_subject() -> dict[str, str] | None:
    """Who asked, with `--auth oauth`: the access token's `sub`, and its `client_id` where it names one; None
    elsewhere. Never the token."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    if token is None or token.subject is None:
        return None
    client = (token.claims or {}).get("client_id")
    return {"sub": token.subject} | ({"client_id": str(client)} if client else {})


class Attempt:
    """One place_call attempt as the audit trail records it: the destination masked to its last two digits, the
    agent, the idempotency key it went out (or would have gone out) with, how it was confirmed (`confirmed_by`: `user`,
    `token`, or `none` when it needed no confirmation; unset where it was not), who asked (`subject`, with `--auth
    oauth`), and how it ended."""

    def __init__(self, destination: str, is_test_call: bool, client: str | None, key: str | None = None) -> None:
        self.entry: dict[str, Any] = {
            "destination": mask_number(destination),
            "is_test_call": is_test_call,
            "client": client,
            "subject": request_subject(),
        }
        self.agent = ""
        self.key = key
        self.confirmed_by: str | None = None

    def answered(self, result: PlacedCall) -> None:
        decision = "replayed" if result.replayed else result.status
        self.entry.update(decision=decision, call_id=result.call_id)
        self.key = result.idempotency_key

    def failed(self, failure: ToolFailure) -> None:
        info = failure.info
        refusal = info.code in REFUSALS or info.rule is not None
        self.entry.update(decision="refused" if refusal else "failed", error=info.code)
        self.entry.update(rule=info.rule, request_id=info.request_id)

    def malformed(self, failure: ToolFailure) -> None:
        """Refused before the tool ran: its arguments fail the schema."""
        code = failure.info.code
        self.entry.update(decision="refused", rule=code, error=code)

    def closed(self, request_id: str | None, time: str) -> dict[str, Any]:
        """The entry as written, with the id of the last API request the attempt sent when it names none itself."""
        self.entry.update(agent_id=self.agent or None, idempotency_key=self.key, confirmed_by=self.confirmed_by)
        self.entry.setdefault("request_id", request_id)
        self.entry["time"] = time
        return self.entry


class AuditLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._recent: dict[str, deque[dict[str, Any]]] = {}
        self._broken = False

    def recent(self, tenant: str = "") -> list[dict[str, Any]]:
        """The tenant's recent entries this process recorded, oldest first."""
        return list(self._recent.get(tenant, ()))

    def record(self, entry: dict[str, Any], tenant: str = "") -> dict[str, Any]:
        """The entry as kept: without its empty fields, among the tenant's recent ones. The file's line also names
        the tenant where there are several (HTTP passthrough: a digest of the API key), since one file holds them
        all."""
        entry = {k: v for k, v in entry.items() if v is not None}
        self._recent.setdefault(tenant, deque(maxlen=RECENT_KEPT)).append(entry)
        if self.path is None or self._broken:
            return entry
        line = entry | {"tenant": tenant} if tenant else entry
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=True) + "\n")
        except OSError as exc:
            self._broken = True
            sys.stderr.write(f"bimpe-mcp: BIMPE_AUDIT_LOG cannot be written ({type(exc).__name__}); audit entries "
                             "are kept in memory only\n")  # fmt: skip
        return entry
