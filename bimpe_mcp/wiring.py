"""Wiring shared by the command line, the server and the doctor: settings from flags and the environment, the
sandbox in place of the network, the one way the HTTP client to the API is built, and the command a client runs."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote, urlparse

from pydantic import SecretStr

from bimpe_mcp.clock import Clock
from bimpe_mcp.config import ENV_VARS, SECRET_FIELDS, ConfigError, Settings

if TYPE_CHECKING:
    import httpx
    from stamina.instrumentation import RetryDetails

    from bimpe_mcp.sandbox import Sandbox

FLAG_HELP = {
    "base_url": "API origin (default https://api.bimpe.ai)",
    "agent_id": "default agent for tools called without agent_id",
    "timeout_seconds": "per-request timeout in seconds (default 15)",
    "deadline_seconds": "overall deadline of one tool call in seconds (default 45)",
    "max_retries": "retries of a failed request: reads, and writes with an idempotency key (default 2)",
    "retry_after_cap_seconds": "longest Retry-After waited out inside a call before answering rate_limited "
    "(default 10)",
    "text_format": "text content of tool results: compact (default) or json",
    "transcript_chars": "transcript size budget of get_call and get_transcript (default 6000)",
    "log_level": "stderr log level: DEBUG, INFO, WARNING (default) or ERROR",
    "sandbox_speed": "sandbox seconds per real second (default 1: a test call ends 1 to 3 minutes after it is "
    "placed, as on the real API; 20 makes that 3 to 10 seconds). Only with --sandbox",
    "allowed_destinations": "comma-separated E.164 numbers and country codes (+234): only these may be called",
    "blocked_destinations": "comma-separated E.164 numbers and country codes never called",
    "max_live_calls_per_hour": "live calls per hour this server process may place (default: no limit)",
    "max_live_calls_per_day": "live calls per day this server process may place (default: no limit)",
    "max_test_calls_per_hour": "test calls per hour this server process may place (default: no limit)",
    "max_test_calls_per_day": "test calls per day this server process may place (default: no limit)",
    "quiet_hours": "no live calls in this window of the destination's local time, e.g. 21:00-08:00",
    "confirm": "how a human confirms a live call: auto (default), elicit, token or off",
    "audit_log": "file that gets one JSON line per place_call attempt",
}
METAVAR = {
    "base_url": "URL",
    "agent_id": "ID",
    "timeout_seconds": "SECONDS",
    "deadline_seconds": "SECONDS",
    "max_retries": "N",
    "retry_after_cap_seconds": "SECONDS",
    "text_format": "FORMAT",
    "transcript_chars": "N",
    "log_level": "LEVEL",
    "sandbox_speed": "N",
    "allowed_destinations": "LIST",
    "blocked_destinations": "LIST",
    "max_live_calls_per_hour": "N",
    "max_live_calls_per_day": "N",
    "max_test_calls_per_hour": "N",
    "max_test_calls_per_day": "N",
    "quiet_hours": "HH:MM-HH:MM",
    "confirm": "MODE",
    "audit_log": "PATH",
}
SETTINGS_TITLE = "settings (each flag wins over its BIMPE_* variable; the API key is read from BIMPE_API_KEY only)"


def flag_of(field: str) -> str:
    return "--" + field.replace("_seconds", "").replace("_", "-")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that mirror BIMPE_* variables; the key has none, so it never appears on a command line."""
    env_of = {field: var for var, field in ENV_VARS.items()}
    group = parser.add_argument_group(SETTINGS_TITLE)
    group.add_argument("--sandbox", action="store_true", default=None,
                       help="serve the embedded sandbox with its demo key: synthetic data, no real phone rings "
                       "[env BIMPE_SANDBOX]")  # fmt: skip
    for field, text in FLAG_HELP.items():
        group.add_argument(flag_of(field), dest=field, default=None, metavar=METAVAR[field],
                           help=f"{text} [env {env_of[field]}]")  # fmt: skip
    group.add_argument("--allow-live-calls", dest="allow_live_calls", action="store_true", default=None,
                       help="let place_call make live calls [env BIMPE_ALLOW_LIVE_CALLS]")  # fmt: skip
    group.add_argument("--read-only", dest="read_only", action="store_true", default=None,
                       help="serve no tool that changes anything [env BIMPE_READ_ONLY]")  # fmt: skip
    group.add_argument("--confirm-test-calls", dest="confirm_test_calls", action="store_true", default=None,
                       help="confirm test calls too [env BIMPE_CONFIRM_TEST_CALLS]")  # fmt: skip
    group.add_argument("--redact", dest="redact", action="store_true", default=None,
                       help="mask phone numbers and e-mail addresses in results [env BIMPE_REDACT]")  # fmt: skip


def settings_from(opts: argparse.Namespace) -> Settings:
    """The environment, overridden by whichever flags were given (the key has no flag). Errors name the flag or the
    variable the value came from."""
    fields = [field for field in ENV_VARS.values() if field not in SECRET_FIELDS]
    # Settings without a flag of this command (the HTTP ones outside serve) come from the environment only.
    overrides = {field: getattr(opts, field, None) for field in fields}
    names = {field: flag_of(field) for field in fields}
    settings = Settings.from_env(names=names, **overrides)
    if opts.sandbox_speed is not None and not settings.sandbox:
        raise ConfigError("--sandbox-speed applies to the sandbox only: add --sandbox (or set BIMPE_SANDBOX=true)")
    return settings


class Backend(NamedTuple):
    """What the server talks to: its settings, the transport to the API (None: the network) and the clock that
    says what time it is there."""

    settings: Settings
    transport: httpx.AsyncBaseTransport | None
    clock: Clock


class SandboxClock(Clock):
    """Real seconds for waits, the sandbox's date and time for `today`, budgets and quiet hours: at a sandbox speed
    other than 1 the two part, and the sandbox's calls are dated on its own clock."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def wall(self) -> datetime:
        return self._sandbox.clock.now()


def with_sandbox(settings: Settings) -> Backend:
    """In sandbox mode: the in-process emulator's transport and clock, its demo key, and its agent with a live
    channel as the default agent. Otherwise the settings as they are, on the network."""
    if not settings.sandbox:
        return Backend(settings, None, Clock())
    # Imported here so that a server on the real API never loads the emulator.
    from bimpe_mcp.sandbox import Sandbox, SandboxConfig

    # The seeded calls lead up to the sandbox's start: starting it now gives `today` and `yesterday` real answers.
    box = Sandbox(SandboxConfig(speed=settings.sandbox_speed, start=datetime.now(UTC).replace(microsecond=0)))
    update = {
        "api_key": SecretStr(box.keys.full),
        "base_url": box.origin,
        "agent_id": settings.agent_id or box.agents.live,
    }
    return Backend(settings.model_copy(update=update), box.transport(), SandboxClock(box))


def http_client(settings: Settings, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """The pooled HTTP client to the API (or to the in-process sandbox through `transport`)."""
    # Imported here: start-up (spawn to tools/list answered) never pays for the HTTP stack.
    from http.cookiejar import DefaultCookiePolicy

    import httpx

    if transport is None:
        from bimpe_mcp.api.network import NetworkTransport

        # Enough kept-alive connections for a remote server answering many clients at once (an HTTP replica).
        transport = NetworkTransport(settings.base_url, connections=64)
    client = httpx.AsyncClient(
        base_url=settings.base_url,
        transport=transport,
        timeout=httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds)),
        follow_redirects=False,
    )
    # No cookie is ever kept: each request carries its own key, and in passthrough mode one client's cookies would
    # reach the next client's requests.
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return client


def configure_logging(level: str) -> None:
    """Log lines on stderr only (stdout carries the stdio protocol), httpx's request lines from WARNING up, and
    scheduled retries as our own INFO lines. Called before the server is built: MCPServer calls
    logging.basicConfig, which is a no-op once a handler exists."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
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


# --- the command a client runs ------------------------------------------------------------------------------------


def install_origin() -> str | None:
    """The local folder or wheel this package was installed from (PEP 610 direct_url.json), if any."""
    try:
        raw = metadata.distribution("bimpe-mcp").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    url = urlparse(str(json.loads(raw).get("url", ""))) if raw else None
    if url is None or url.scheme != "file":
        return None
    return unquote(url.path)


def launch_command(
    executable: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    origin: Callable[[], str | None] = install_origin,
) -> list[str]:
    """The absolute command a client should run: this interpreter's console script, else `python -m bimpe_mcp`."""
    python = os.path.abspath(executable or sys.executable)
    bindir = Path(python).parent
    if any(part.startswith("archive-v") for part in bindir.parts):
        # uvx runs from a cache folder that uv may clean at any time: point the client at uvx itself, and at the
        # folder or wheel it installed from (there is no release to fetch by name yet).
        uvx = which("uvx")
        if uvx:
            source = origin()
            return [os.path.abspath(uvx), *(["--from", source] if source else []), "bimpe-mcp"]
    script = bindir / ("bimpe-mcp.exe" if os.name == "nt" else "bimpe-mcp")
    if script.is_file():
        return [str(script)]
    return [python, "-m", "bimpe_mcp"]
