"""Settings: the one place the environment is read. The API key is a SecretStr and never reaches a repr or a log."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bimpe_mcp.api.contract import ID_PATTERN
from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.setting_values import destination_list, quiet_window

DEFAULT_BASE_URL = "https://api.bimpe.ai"

TextFormat = Literal["compact", "json"]
ConfirmMode = Literal["auto", "elicit", "token", "off"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
HttpAuth = Literal["none", "tokens", "passthrough"]

# Environment variable -> settings field. Flags mirror every entry except the key, which never goes on argv.
ENV_VARS: dict[str, str] = {
    "BIMPE_API_KEY": "api_key",
    "BIMPE_BASE_URL": "base_url",
    "BIMPE_AGENT_ID": "agent_id",
    "BIMPE_TIMEOUT": "timeout_seconds",
    "BIMPE_DEADLINE": "deadline_seconds",
    "BIMPE_MAX_RETRIES": "max_retries",
    "BIMPE_RETRY_AFTER_CAP": "retry_after_cap_seconds",
    "BIMPE_ALLOW_LIVE_CALLS": "allow_live_calls",
    "BIMPE_READ_ONLY": "read_only",
    "BIMPE_TEXT_FORMAT": "text_format",
    "BIMPE_TRANSCRIPT_CHARS": "transcript_chars",
    "BIMPE_LOG_LEVEL": "log_level",
    "BIMPE_SANDBOX": "sandbox",
    "BIMPE_SANDBOX_SPEED": "sandbox_speed",
    "BIMPE_HTTP_AUTH": "http_auth",
    "BIMPE_HTTP_TOKENS_FILE": "http_tokens_file",
    "BIMPE_HTTP_ALLOWED_HOSTS": "http_allowed_hosts",
    "BIMPE_HTTP_ALLOWED_ORIGINS": "http_allowed_origins",
    "BIMPE_ALLOWED_DESTINATIONS": "allowed_destinations",
    "BIMPE_BLOCKED_DESTINATIONS": "blocked_destinations",
    "BIMPE_MAX_LIVE_CALLS_PER_HOUR": "max_live_calls_per_hour",
    "BIMPE_MAX_LIVE_CALLS_PER_DAY": "max_live_calls_per_day",
    "BIMPE_MAX_TEST_CALLS_PER_HOUR": "max_test_calls_per_hour",
    "BIMPE_MAX_TEST_CALLS_PER_DAY": "max_test_calls_per_day",
    "BIMPE_QUIET_HOURS": "quiet_hours",
    "BIMPE_CONFIRM": "confirm",
    "BIMPE_CONFIRM_TEST_CALLS": "confirm_test_calls",
    "BIMPE_CONFIRM_SECRET": "confirm_secret",
    "BIMPE_AUDIT_LOG": "audit_log",
    "BIMPE_REDACT": "redact",
}
BOOLEAN_FIELDS = frozenset({"allow_live_calls", "read_only", "sandbox", "confirm_test_calls", "redact"})
# Settings that are secrets: read from the environment only, never from a flag (argv is visible to other users).
SECRET_FIELDS = frozenset({"api_key", "confirm_secret"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Values shaped like a credential are never repeated back in a message.


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable (or flag) and what it accepts."""


class Settings(BaseModel):
    """Server configuration. Build it with `Settings.from_env()` or directly in tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    agent_id: str | None = Field(default=None, pattern=ID_PATTERN)
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    deadline_seconds: float = Field(default=45.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_after_cap_seconds: float = Field(default=10.0, ge=0, le=300)
    allow_live_calls: bool = False
    read_only: bool = False
    text_format: TextFormat = "compact"
    transcript_chars: int = Field(default=6000, ge=500, le=100_000)
    log_level: LogLevel = "WARNING"
    sandbox: bool = False
    sandbox_speed: float = Field(default=1.0, gt=0, le=1000)
    # Streamable HTTP only: who may call (see remote.py), and the Host and Origin values a request may carry.
    http_auth: HttpAuth = "none"
    http_tokens_file: str | None = None
    http_allowed_hosts: str | None = None
    http_allowed_origins: str | None = None
    allowed_destinations: tuple[str, ...] | None = None
    blocked_destinations: tuple[str, ...] = ()
    max_live_calls_per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    max_live_calls_per_day: int | None = Field(default=None, ge=0, le=1_000_000)
    max_test_calls_per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    max_test_calls_per_day: int | None = Field(default=None, ge=0, le=1_000_000)
    quiet_hours: str | None = None
    confirm: ConfirmMode = "auto"
    confirm_test_calls: bool = False
    confirm_secret: SecretStr | None = None
    audit_log: str | None = None
    redact: bool = False

    @field_validator("allowed_destinations", "blocked_destinations", mode="before")
    @classmethod
    def _check_destinations(cls, value: object) -> object:
        return destination_list(value) if isinstance(value, str) else value

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            quiet_window(value)
        return value

    @field_validator("confirm_secret")
    @classmethod
    def _check_confirm_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (a random string shared by the replicas)")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if key.startswith("${"):
            raise ValueError(
                "holds an unexpanded placeholder (it starts with ${): the client found no such variable in its own "
                "environment. Set it where the client is started, or put the key in the client's env block"
            )
        if any(ch.isspace() for ch in key):
            raise ValueError("has a space or line break inside, which no key has: copy the key again as one word")
        if not (key.isascii() and key.isprintable()):
            raise ValueError("has characters no key has (non-ASCII or control characters): copy the key again")
        return SecretStr(key)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local sandbox)")
        if value.endswith("/api/v1/console"):
            raise ValueError("give the origin only, without /api/v1/console (the client adds the prefix)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("text_format", "confirm", "http_auth", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, names: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        """Read BIMPE_* variables; `overrides` (from command-line flags) win over the environment.

        `names` maps an overridden field to the flag that set it, so that an error names what the operator typed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for var, field in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and field != "api_key"):
                continue
            values[field] = _parse_bool(var, raw) if field in BOOLEAN_FIELDS else raw.strip()
        given = {k: v for k, v in overrides.items() if v is not None}
        key = values.get("api_key")
        if values.get("sandbox") is True and "sandbox" not in given and isinstance(key, str) and key:
            raise ConfigError(
                "BIMPE_SANDBOX is on and BIMPE_API_KEY is set: unset BIMPE_SANDBOX to use the key on the API, or "
                "unset BIMPE_API_KEY to try the sandbox (or pass --sandbox to choose the sandbox explicitly)"
            )
        values.update(given)
        labels = {field: var for var, field in ENV_VARS.items()} | {
            k: v for k, v in (names or {}).items() if k in given
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, labels)) from None


def env_text(value: object) -> str:
    """A setting's value written as its BIMPE_* variable takes it: booleans as true/false, lists comma-separated."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(item) for item in cast("tuple[object, ...]", value))
    return str(value)


def _parse_bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{var}: must be true or false (got {shown(raw)})")


def accepts(field: str) -> str:
    """What a setting accepts, in words."""
    info = Settings.model_fields[field]
    if field in BOOLEAN_FIELDS:
        return "true or false"
    if field == "agent_id":
        return "an agent id as list_agents shows it (letters, digits, _ and -)"
    if field == "text_format":
        return "compact or json"
    if field == "confirm":
        return "auto, elicit, token or off"
    if field == "log_level":
        return "DEBUG, INFO, WARNING or ERROR"
    if field == "http_auth":
        return "none, tokens or passthrough"
    kind = "a whole number" if info.annotation is int else "a number"
    limits: dict[str, object] = {}
    for rule in info.metadata:
        for attr in ("gt", "ge", "le"):
            if getattr(rule, attr, None) is not None:
                limits[attr] = getattr(rule, attr)
    if "ge" in limits and "le" in limits:
        return f"{kind} from {limits['ge']} to {limits['le']}"
    words = [f"{text} {limits[attr]}" for attr, text in (("gt", "greater than"), ("le", "at most")) if attr in limits]
    return " ".join([kind, " and ".join(words)]).strip()


def _describe(exc: ValidationError, labels: Mapping[str, str]) -> str:
    parts: list[str] = []
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "?"
        label = labels.get(field, field)
        ctx: dict[str, Any] = dict(err.get("ctx") or {})
        if err["type"] == "value_error":
            parts.append(f"{label}: {ctx.get('error', err['msg'])}")
        elif field in Settings.model_fields and field != "api_key":
            parts.append(f"{label}: must be {accepts(field)} (got {shown(err['input'])})")
        else:
            parts.append(f"{label}: {err['msg']}")
    return "; ".join(parts)
