"""The process's log lines: on stderr only (stdout carries the stdio protocol), at the operator's level."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

REQUESTER: ContextVar[str] = ContextVar("requester", default="")
"""Who made the HTTP request being served, as its log lines name them (`--auth oauth`: the token's subject and
client); empty elsewhere."""


class Requester(logging.Filter):
    """Each line logged while a request is served names who made it, when that is known."""

    def filter(self, record: logging.LogRecord) -> bool:
        said = REQUESTER.get()
        record.requester = f" [{said}]" if said else ""
        return True


def configure_logging(level: str) -> None:
    """Log lines on stderr only (stdout carries the stdio protocol), and httpx2's request lines from WARNING up.
    Scheduled retries are one INFO line each on `bimpe_mcp.retry` (api/client.py). Called before the server is
    built: MCPServer calls logging.basicConfig, which is a no-op once a handler exists."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s%(requester)s: %(message)s"))
    handler.addFilter(Requester())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx2").setLevel(max(logging.WARNING, root.level))
