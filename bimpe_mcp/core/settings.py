"""Settings: the one place the environment is read. The API key is a SecretStr and never reaches a repr or a log.

Each setting is declared once, on its field: a `Setting` in its annotation names its variable and flag and explains
it. The variables, the flags, the words of an error and the documented tables are all read from there."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bimpe_mcp.api.contract import ID_PATTERN
from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.setting_values import destination_list, quiet_window, request_rate
from bimpe_mcp.core.state import SCHEMES

DEFAULT_BASE_URL = "https://api.bimpe.ai"

TextFormat = Literal["compact", "json"]
ConfirmMode = Literal["auto", "elicit", "app", "token", "off"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
HttpAuth = Literal["none", "tokens", "passthrough", "oauth"]


@dataclass(frozen=True, slots=True)
class Setting:
    """How a setting is named and explained outside the code, declared on its field of `Settings`.

    `env` is its BIMPE_* variable; `flag` its command-line flag (None: read from the environment only, as every
    secret is). `help` explains the flag (its `[env ...]` suffix is added), and `metavar` names its value; a flag of a
    `Literal` setting without a metavar offers the words as choices. `group` is the help section of the flag:
    "transport" puts it among the HTTP options of `serve` alone. `doc` and `unset` are the README's meaning and the
    default in words when the default is no value; `accepts` says what a value must be when the type cannot.
    """

    env: str
    flag: str | None = None
    metavar: str | None = None
    help: str = ""
    doc: str = ""
    unset: str = "unset"
    accepts: str | None = None
    group: Literal["settings", "transport"] = "settings"


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Values shaped like a credential are never repeated back in a message.


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable (or flag) and what it accepts."""


class Settings(BaseModel):
    """Server configuration. Build it with `Settings.from_env()` or directly in tests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: Annotated[
        SecretStr | None,
        Setting(env="BIMPE_API_KEY", doc="team API key (`sk_...`); without it every tool answers `not_configured`"),
    ] = None
    base_url: Annotated[
        str,
        Setting(
            env="BIMPE_BASE_URL",
            flag="--base-url",
            metavar="URL",
            help="API origin (default https://api.bimpe.ai)",
            doc="API origin, without `/api/v1/console`",
        ),
    ] = DEFAULT_BASE_URL
    agent_id: Annotated[
        str | None,
        Setting(
            env="BIMPE_AGENT_ID",
            flag="--agent-id",
            metavar="ID",
            help="default agent for tools called without agent_id",
            doc="agent used when a tool is called without `agent_id`",
            accepts="an agent id as list_agents shows it (letters, digits, _ and -)",
        ),
    ] = Field(default=None, pattern=ID_PATTERN)
    timeout_seconds: Annotated[
        float,
        Setting(
            env="BIMPE_TIMEOUT",
            flag="--timeout",
            metavar="SECONDS",
            help="per-request timeout in seconds (default 15)",
            doc="seconds for one HTTP request",
        ),
    ] = Field(default=15.0, gt=0, le=300)
    deadline_seconds: Annotated[
        float,
        Setting(
            env="BIMPE_DEADLINE",
            flag="--deadline",
            metavar="SECONDS",
            help="overall deadline of one tool call in seconds (default 45)",
            doc="seconds for one whole tool call, retries included",
        ),
    ] = Field(default=45.0, gt=0, le=600)
    max_retries: Annotated[
        int,
        Setting(
            env="BIMPE_MAX_RETRIES",
            flag="--max-retries",
            metavar="N",
            help="retries of a failed request: reads, and writes with an idempotency key (default 2)",
            doc="retries of reads, and of writes that carry an idempotency key",
        ),
    ] = Field(default=2, ge=0, le=10)
    retry_after_cap_seconds: Annotated[
        float,
        Setting(
            env="BIMPE_RETRY_AFTER_CAP",
            flag="--retry-after-cap",
            metavar="SECONDS",
            help="longest Retry-After waited out inside a call before answering rate_limited (default 10)",
            doc="longest `Retry-After` waited out inside a call; longer waits are handed back as `rate_limited`",
        ),
    ] = Field(default=10.0, ge=0, le=300)
    allow_live_calls: Annotated[
        bool,
        Setting(
            env="BIMPE_ALLOW_LIVE_CALLS",
            flag="--allow-live-calls",
            help="let place_call make live calls",
            doc="let `place_call` make live calls over the agent's own number",
        ),
    ] = False
    read_only: Annotated[
        bool,
        Setting(
            env="BIMPE_READ_ONLY",
            flag="--read-only",
            help="serve no tool that changes anything",
            doc="serve no tool that changes anything (`place_call` is not listed)",
        ),
    ] = False
    text_format: Annotated[
        TextFormat,
        Setting(
            env="BIMPE_TEXT_FORMAT",
            flag="--text-format",
            metavar="FORMAT",
            help="text content of tool results: compact (default) or json",
            doc="text content of results: `compact` lines, or `json` (the structured content serialized)",
        ),
    ] = "compact"
    transcript_chars: Annotated[
        int,
        Setting(
            env="BIMPE_TRANSCRIPT_CHARS",
            flag="--transcript-chars",
            metavar="N",
            help="transcript size budget of get_call and get_transcript (default 6000)",
            doc="transcript budget of `get_call` and `get_transcript`",
        ),
    ] = Field(default=6000, ge=500, le=100_000)
    log_level: Annotated[
        LogLevel,
        Setting(
            env="BIMPE_LOG_LEVEL",
            flag="--log-level",
            metavar="LEVEL",
            help="stderr log level: DEBUG, INFO, WARNING (default) or ERROR",
            doc="log level; logs go to stderr only",
        ),
    ] = "WARNING"
    sandbox: Annotated[
        bool,
        Setting(
            env="BIMPE_SANDBOX",
            flag="--sandbox",
            help="serve the embedded sandbox with its demo key: synthetic data, no real phone rings",
            doc="serve on the embedded sandbox with its demo key (no real phone rings)",
        ),
    ] = False
    sandbox_speed: Annotated[
        float,
        Setting(
            env="BIMPE_SANDBOX_SPEED",
            flag="--sandbox-speed",
            metavar="N",
            help="sandbox seconds per real second (default 1: a test call ends 1 to 3 minutes after it is placed, as "
            "on the real API; 20 makes that 3 to 10 seconds). Only with --sandbox",
            doc="sandbox seconds per real second; `20` ends a test call in 3 to 10 seconds",
        ),
    ] = Field(default=1.0, gt=0, le=1000)
    # Streamable HTTP only: who may call (see server/http.py), and the Host and Origin values a request may carry.
    http_auth: Annotated[
        HttpAuth,
        Setting(
            env="BIMPE_HTTP_AUTH",
            flag="--auth",
            help="HTTP: none (loopback only), tokens (bearer tokens from BIMPE_HTTP_TOKENS_FILE), passthrough (each "
            "client's bearer token is its own API key) or oauth (JWT access tokens from BIMPE_OAUTH_ISSUER)",
            doc="HTTP only: `none` (loopback only), `tokens`, `passthrough` or `oauth` (see [Deployment](#deployment))",
            group="transport",
        ),
    ] = "none"
    http_tokens_file: Annotated[
        str | None,
        Setting(
            env="BIMPE_HTTP_TOKENS_FILE",
            doc="with `--auth tokens`: one bearer token, or `sha256:<hex>` of one, per line",
        ),
    ] = None
    http_public_url: Annotated[
        str | None,
        Setting(
            env="BIMPE_HTTP_PUBLIC_URL",
            doc="HTTP: the URL clients use (`https://mcp.example.com/mcp`); with `--auth oauth`, the resource "
            "identifier and the tokens' audience",
            unset="the bind address and `--path` (loopback only)",
        ),
    ] = None
    oauth_issuer: Annotated[
        str | None,
        Setting(
            env="BIMPE_OAUTH_ISSUER",
            doc="with `--auth oauth` (required): the authorization server's issuer URL; `http://` on loopback only",
        ),
    ] = None
    oauth_jwks_url: Annotated[
        str | None,
        Setting(
            env="BIMPE_OAUTH_JWKS_URL",
            doc="with `--auth oauth`: the URL of the issuer's signing keys",
            unset="the `jwks_uri` of the issuer's metadata",
        ),
    ] = None
    oauth_audience: Annotated[
        str | None,
        Setting(
            env="BIMPE_OAUTH_AUDIENCE",
            doc="with `--auth oauth`: the `aud` an access token must carry",
            unset="`BIMPE_HTTP_PUBLIC_URL`",
        ),
    ] = None
    http_allowed_hosts: Annotated[
        str | None,
        Setting(
            env="BIMPE_HTTP_ALLOWED_HOSTS",
            doc="HTTP: comma-separated `Host` values accepted (`name`, `name:port`, `name:*`); others get 421",
            unset="the bind address and localhost",
        ),
    ] = None
    http_allowed_origins: Annotated[
        str | None,
        Setting(
            env="BIMPE_HTTP_ALLOWED_ORIGINS",
            doc="HTTP: comma-separated `Origin` values accepted from browsers; others get 403",
            unset="`http://` + the bind address and localhost",
        ),
    ] = None
    http_rate_limit: Annotated[
        str | None,
        Setting(
            env="BIMPE_HTTP_RATE_LIMIT",
            flag="--http-rate-limit",
            metavar="N/UNIT",
            help="HTTP: requests each client (its token, API key or address) may send, e.g. 120/min (also /s, "
            "/hour); more get 429 with Retry-After (default: no limit)",
            doc="HTTP: requests each client (token, API key or address) may send, e.g. `120/min` (also `/s`, "
            "`/hour`); more get 429 with `Retry-After` (see [Deployment](#deployment))",
            unset="no limit",
            accepts="N/s, N/min or N/hour, e.g. 120/min",
            group="transport",
        ),
    ] = None
    http_read_timeout: Annotated[
        float,
        Setting(
            env="BIMPE_HTTP_READ_TIMEOUT",
            flag="--http-read-timeout",
            metavar="SECONDS",
            help="HTTP: seconds a client has to send a whole request, headers and body; a slower one gets 408 and "
            "its connection is closed (default 30)",
            doc="HTTP: seconds a client has to send a whole request, headers and body; a slower one gets 408",
            group="transport",
        ),
    ] = Field(default=30.0, gt=0, le=600)
    allowed_destinations: Annotated[
        tuple[str, ...] | None,
        Setting(
            env="BIMPE_ALLOWED_DESTINATIONS",
            flag="--allowed-destinations",
            metavar="LIST",
            help="comma-separated E.164 numbers and country codes (+234): only these may be called",
            doc="the only numbers and country codes `place_call` may ring (see [Safety](#safety))",
        ),
    ] = None
    blocked_destinations: Annotated[
        tuple[str, ...],
        Setting(
            env="BIMPE_BLOCKED_DESTINATIONS",
            flag="--blocked-destinations",
            metavar="LIST",
            help="comma-separated E.164 numbers and country codes never called",
            doc="numbers and country codes never rung",
        ),
    ] = ()
    max_live_calls_per_hour: Annotated[
        int | None,
        Setting(
            env="BIMPE_MAX_LIVE_CALLS_PER_HOUR",
            flag="--max-live-calls-per-hour",
            metavar="N",
            help="live calls per hour all servers sharing BIMPE_STATE_URL may place, per API key with --auth "
            "passthrough, per user with --auth oauth (default: no limit)",
            doc="live calls the servers sharing `BIMPE_STATE_URL` may place (per API key with `--auth "
            "passthrough`, per user with `--auth oauth`)",
            unset="no limit",
        ),
    ] = Field(default=None, ge=0, le=1_000_000)
    max_live_calls_per_day: Annotated[
        int | None,
        Setting(
            env="BIMPE_MAX_LIVE_CALLS_PER_DAY",
            flag="--max-live-calls-per-day",
            metavar="N",
            help="live calls per day all servers sharing BIMPE_STATE_URL may place, per API key with --auth "
            "passthrough, per user with --auth oauth (default: no limit)",
            doc="live calls the servers sharing `BIMPE_STATE_URL` may place (per API key with `--auth "
            "passthrough`, per user with `--auth oauth`)",
            unset="no limit",
        ),
    ] = Field(default=None, ge=0, le=1_000_000)
    max_test_calls_per_hour: Annotated[
        int | None,
        Setting(
            env="BIMPE_MAX_TEST_CALLS_PER_HOUR",
            flag="--max-test-calls-per-hour",
            metavar="N",
            help="test calls per hour all servers sharing BIMPE_STATE_URL may place, per API key with --auth "
            "passthrough, per user with --auth oauth (default: no limit)",
            doc="test calls the servers sharing `BIMPE_STATE_URL` may place (per API key with `--auth "
            "passthrough`, per user with `--auth oauth`)",
            unset="no limit",
        ),
    ] = Field(default=None, ge=0, le=1_000_000)
    max_test_calls_per_day: Annotated[
        int | None,
        Setting(
            env="BIMPE_MAX_TEST_CALLS_PER_DAY",
            flag="--max-test-calls-per-day",
            metavar="N",
            help="test calls per day all servers sharing BIMPE_STATE_URL may place, per API key with --auth "
            "passthrough, per user with --auth oauth (default: no limit)",
            doc="test calls the servers sharing `BIMPE_STATE_URL` may place (per API key with `--auth "
            "passthrough`, per user with `--auth oauth`)",
            unset="no limit",
        ),
    ] = Field(default=None, ge=0, le=1_000_000)
    quiet_hours: Annotated[
        str | None,
        Setting(
            env="BIMPE_QUIET_HOURS",
            flag="--quiet-hours",
            metavar="HH:MM-HH:MM",
            help="no live calls in this window of the destination's local time, e.g. 21:00-08:00",
            doc="no live calls in this window of the destination's local time, e.g. `21:00-08:00`",
        ),
    ] = None
    confirm: Annotated[
        ConfirmMode,
        Setting(
            env="BIMPE_CONFIRM",
            flag="--confirm",
            metavar="MODE",
            help="how a human confirms a live call: auto (default: asked through the client, else on a confirmation "
            "card; never by token), elicit, app (the card), token (a model can redeem it by itself) or off",
            doc="how a human confirms a live call: `auto`, `elicit`, `app`, `token` or `off` (see [Safety](#safety))",
        ),
    ] = "auto"
    confirm_test_calls: Annotated[
        bool,
        Setting(
            env="BIMPE_CONFIRM_TEST_CALLS",
            flag="--confirm-test-calls",
            help="confirm test calls too",
            doc="confirm test calls too",
        ),
    ] = False
    confirm_secret: Annotated[
        SecretStr | None,
        Setting(
            env="BIMPE_CONFIRM_SECRET",
            doc="HMAC secret of confirmation tokens and key of a pending question's sealed state, shared by replicas "
            "(16 characters or more)",
            unset="tokens: a secret kept in the state; questions: random per process",
        ),
    ] = None
    audit_log: Annotated[
        str | None,
        Setting(
            env="BIMPE_AUDIT_LOG",
            flag="--audit-log",
            metavar="PATH",
            help="file that gets one JSON line per place_call attempt",
            doc="file that gets one JSON line per `place_call` attempt",
        ),
    ] = None
    state_url: Annotated[
        str | None,
        Setting(
            env="BIMPE_STATE_URL",
            flag="--state-url",
            metavar="URL",
            help="where call budgets, spent confirmations and results kept for replays live: sqlite:///PATH, "
            "memory:// or redis://HOST:PORT/DB (default: a SQLite file in the user's state directory)",
            doc="where budgets, spent confirmations, results kept for replays and recent audit entries live: "
            "`sqlite:///path`, `memory://` (this process only), `redis://host:port/db` or `rediss://` (see "
            "[Deployment](#deployment))",
            unset="`state.sqlite3` in the user's state directory",
            accepts="sqlite:///PATH, memory://, redis://HOST:PORT/DB or rediss://HOST:PORT/DB",
        ),
    ] = None
    redact: Annotated[
        bool,
        Setting(
            env="BIMPE_REDACT",
            flag="--redact",
            help="mask phone numbers and e-mail addresses in results",
            doc="mask phone numbers and e-mail addresses in transcripts, call lists and resources",
        ),
    ] = False

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

    @field_validator("http_rate_limit")
    @classmethod
    def _check_http_rate_limit(cls, value: str | None) -> str | None:
        if value is not None:
            request_rate(value)
            return value.strip()
        return value

    @field_validator("state_url")
    @classmethod
    def _check_state_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(SCHEMES):
            raise ValueError(
                "must be sqlite:///PATH, memory://, redis://HOST:PORT/DB or rediss://HOST:PORT/DB (got "
                f"{shown(value.split('@')[-1])})"
            )
        if value.startswith("sqlite:///") and len(value) == len("sqlite:///"):
            raise ValueError("sqlite:/// needs a file path, e.g. sqlite:////var/lib/bimpe-mcp/state.sqlite3")
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

    @field_validator("http_public_url", "oauth_issuer", "oauth_jwks_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("https", "http") or not rest or rest.startswith("/") or "#" in value:
            raise ValueError(f"must be an https:// URL (got {shown(value, 80)})")
        if any(ch.isspace() for ch in value):
            raise ValueError("must be one URL, without spaces")
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


def _declared() -> dict[str, Setting]:
    found: dict[str, Setting] = {}
    for field, info in Settings.model_fields.items():
        found[field] = next(item for item in info.metadata if isinstance(item, Setting))
    return found


# Settings field -> its declaration, in the order of the fields.
SETTINGS: dict[str, Setting] = _declared()
# Environment variable -> settings field.
ENV_VARS: dict[str, str] = {setting.env: field for field, setting in SETTINGS.items()}
BOOLEAN_FIELDS = frozenset(field for field, info in Settings.model_fields.items() if info.annotation is bool)
# Settings that are secrets: read from the environment only, never from a flag (argv is visible to other users).
SECRET_FIELDS = frozenset(
    field for field, info in Settings.model_fields.items() if SecretStr in (info.annotation, *get_args(info.annotation))
)


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


def choices(field: str) -> tuple[str, ...]:
    """The words a setting typed as a `Literal` takes, in their declared order; () for any other setting."""
    annotation = Settings.model_fields[field].annotation
    return tuple(str(word) for word in get_args(annotation)) if get_origin(annotation) is Literal else ()


def in_words(words: tuple[str, ...]) -> str:
    """`a, b or c`."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def accepts(field: str) -> str:
    """What a setting accepts, in words: its declaration's, else read from its type and its constraints."""
    info = Settings.model_fields[field]
    declared = SETTINGS[field].accepts
    if declared is not None:
        return declared
    if field in BOOLEAN_FIELDS:
        return "true or false"
    if choices(field):
        return in_words(choices(field))
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
