"""The process's log lines: on stderr only (stdout carries the stdio protocol), at the operator's level."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    """Log lines on stderr only (stdout carries the stdio protocol), and httpx2's request lines from WARNING up.
    Scheduled retries are one INFO line each on `bimpe_mcp.retry` (api/client.py). Called before the server is
    built: MCPServer calls logging.basicConfig, which is a no-op once a handler exists."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx2").setLevel(max(logging.WARNING, root.level))
