"""The process's log lines: on stderr only (stdout carries the stdio protocol), at the operator's level, with
scheduled retries as one line each."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stamina.instrumentation import RetryDetails


def configure_logging(level: str) -> None:
    """Log lines on stderr only (stdout carries the stdio protocol), httpx2's request lines from WARNING up, and
    scheduled retries as our own INFO lines. Called before the server is built: MCPServer calls
    logging.basicConfig, which is a no-op once a handler exists."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx2").setLevel(max(logging.WARNING, root.level))
    log_retries()


def log_retries() -> None:
    """Scheduled retries as one INFO line each on the bimpe_mcp logger, instead of stamina's default WARNING (or,
    with structlog installed, lines on stdout, where the stdio protocol runs)."""
    from stamina.instrumentation import set_on_retry_hooks

    log = logging.getLogger("bimpe_mcp.retry")

    def hook(details: RetryDetails) -> None:
        # The exception's type only: its text can carry bytes from the API.
        cause = type(details.caused_by).__name__
        log.info("retry %d of %s in %.1f s after %s", details.retry_num, details.name, details.wait_for, cause)

    set_on_retry_hooks([hook])
