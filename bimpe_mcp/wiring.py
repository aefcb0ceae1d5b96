"""Wiring shared by the command line, the server and the doctor: settings from flags and the environment, the
sandbox in place of the network, and the one way the HTTP client to the API is built."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bimpe_mcp.config import ENV_VARS, Settings

if TYPE_CHECKING:
    import httpx

FLAG_HELP = {
    "base_url": "API origin (default https://api.bimpe.ai)",
    "agent_id": "default agent for tools called without agent_id",
    "timeout_seconds": "per-request timeout in seconds",
    "deadline_seconds": "overall deadline of one tool call in seconds",
    "max_retries": "retries of a failed request (reads, and writes with an idempotency key)",
    "retry_after_cap_seconds": "longest Retry-After the server waits out itself before reporting rate_limited",
    "text_format": "text content of tool results: compact (default) or json",
    "transcript_chars": "transcript size budget of get_call and get_transcript",
    "log_level": "stderr log level",
}


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that mirror BIMPE_* variables; the key has none, so it never appears on a command line."""
    env_of = {field: var for var, field in ENV_VARS.items()}
    parser.add_argument("--sandbox", action="store_true", default=None,
                        help="serve against the embedded sandbox with a demo key [env BIMPE_SANDBOX]")  # fmt: skip
    for field, text in FLAG_HELP.items():
        flag = "--" + field.replace("_seconds", "").replace("_", "-")
        parser.add_argument(flag, dest=field, default=None, help=f"{text} [env {env_of[field]}]")
    parser.add_argument("--allow-live-calls", dest="allow_live_calls", action="store_true", default=None,
                        help="let place_call make live calls [env BIMPE_ALLOW_LIVE_CALLS]")  # fmt: skip
    parser.add_argument("--read-only", dest="read_only", action="store_true", default=None,
                        help="serve no tool that changes anything [env BIMPE_READ_ONLY]")  # fmt: skip


def settings_from(opts: argparse.Namespace) -> Settings:
    """The environment, overridden by whichever flags were given (the key has no flag)."""
    overrides = {field: getattr(opts, field) for field in ENV_VARS.values() if field != "api_key"}
    return Settings.from_env(**overrides)


def with_sandbox(settings: Settings) -> tuple[Settings, httpx.AsyncBaseTransport | None]:
    """In sandbox mode: the in-process emulator's transport, its demo key, and its agent with a live channel as the
    default agent. Otherwise the settings as they are, on the network."""
    if not settings.sandbox:
        return settings, None
    # Imported here so that a server on the real API never loads the emulator.
    from bimpe_mcp.sandbox import Sandbox, SandboxConfig

    box = Sandbox(SandboxConfig())
    update = {
        "api_key": SecretStr(box.keys.full),
        "base_url": box.origin,
        "agent_id": settings.agent_id or box.agents.live,
    }
    return settings.model_copy(update=update), box.transport()


def http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """The pooled HTTP client to the API (or to the in-process sandbox through `transport`)."""
    # Imported here: start-up (spawn to tools/list answered) never pays for the HTTP stack.
    import httpx

    return httpx.AsyncClient(
        base_url=settings.base_url,
        transport=transport,
        timeout=httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        follow_redirects=False,
    )
