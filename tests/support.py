"""Small readers of tool results, shared by the tests."""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.types import CallToolResult, TextContent

from bimpe_mcp.sandbox import SandboxKeys

_KEYS = SandboxKeys()
SECRETS = (_KEYS.full, _KEYS.read_only, _KEYS.expired, _KEYS.other_team)


def assert_no_secret(blob: str) -> None:
    leaked = [s for s in SECRETS if s in blob]
    assert not leaked, "an API key reached a tool result or log"


def text(result: CallToolResult) -> str:
    """The text content; every result a test reads through here is scanned for API keys."""
    body = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    assert_no_secret(body + json.dumps(result.structured_content))
    return body


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text(result)
    text(result)
    assert result.structured_content is not None
    return result.structured_content


def error(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, text(result)
    text(result)
    assert result.structured_content is not None, text(result)
    info: dict[str, Any] = result.structured_content["error"]
    return info


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: what is given, plus coverage's own settings so it is measured."""
    return {k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")} | extra
