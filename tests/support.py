"""Small readers of tool results, shared by the tests."""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.types import CallToolResult, TextContent

from bimpe_mcp.core.render import safe_line
from bimpe_mcp.sandbox import SandboxKeys
from bimpe_mcp.tools.runtime import ERROR_META_KEY

_KEYS = SandboxKeys()
SECRETS = (_KEYS.full, _KEYS.read_only, _KEYS.expired, _KEYS.other_team)


def assert_no_secret(blob: str) -> None:
    leaked = [s for s in SECRETS if s in blob]
    assert not leaked, "an API key reached a tool result or log"


def text(result: CallToolResult) -> str:
    """The text content; every result a test reads through here is scanned for API keys."""
    body = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    assert_no_secret(json.dumps(result.model_dump(mode="json", by_alias=True)))
    return body


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    text(result)
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult) -> dict[str, Any]:
    """The fields of a tool error, after checking that a model reading only the text gets every one of them, and
    that no structured content is there for a client to validate against the tool's outputSchema."""
    assert result.is_error, text(result)
    body = text(result)
    assert result.structured_content is None, "an error carries no structured content"
    info: dict[str, Any] = (result.meta or {})[ERROR_META_KEY]
    # The text shows each field as one safe line (what the API sent may hold line breaks); _meta keeps it as sent.
    assert body.startswith(safe_line(f"{info['code']}: {info['message']} Next: {info['next_step']}")), body
    assert ("Retrying can help." in body) == info["retryable"], body
    assert info["request_id"] is None or safe_line(f"(request_id {info['request_id']})") in body, body
    return info


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: what is given, plus coverage's own settings so it is measured."""
    return {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")} | extra


# A raw client's first request and the Accept header of streamable HTTP, for tests that speak the wire themselves.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT_STREAMS = {"Accept": "application/json, text/event-stream"}
