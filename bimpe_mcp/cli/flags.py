"""The settings as command-line flags: each flag mirrors a BIMPE_* variable (the secrets have none, so they never
appear on a command line), and the settings read from both."""

from __future__ import annotations

import argparse

from bimpe_mcp.core.settings import ENV_VARS, SECRET_FIELDS, ConfigError, Settings

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
