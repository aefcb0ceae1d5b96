"""Settings: the one place the environment is read. The API key is a SecretStr and never reaches a repr or a log."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bimpe_mcp.api.contract import ID_PATTERN

DEFAULT_BASE_URL = "https://api.bimpe.ai"

TextFormat = Literal["compact", "json"]

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
}
BOOLEAN_FIELDS = frozenset({"allow_live_calls", "read_only", "sandbox"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable and what it accepts."""


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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    sandbox: bool = False

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local sandbox)")
        if value.endswith("/api/v1/console"):
            raise ValueError("give the origin only, without /api/v1/console (the client adds the prefix)")
        return value

    @property
    def configured(self) -> bool:
        return self.api_key is not None and bool(self.api_key.get_secret_value())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read BIMPE_* variables; `overrides` (from command-line flags) win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for var, field in ENV_VARS.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and field != "api_key"):
                continue
            values[field] = _parse_bool(var, raw) if field in BOOLEAN_FIELDS else raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None


def _parse_bool(var: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{var} must be true or false (got a value of {len(raw)} characters)")


def _describe(exc: ValidationError) -> str:
    by_field = {field: var for var, field in ENV_VARS.items()}
    parts: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "?"
        parts.append(f"{by_field.get(field, field)}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)
