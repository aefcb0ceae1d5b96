"""What the server lifespan hands to every tool and resource."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.failures import ToolFailure, guarded, not_configured
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.policy.gate import Policy

if TYPE_CHECKING:
    import httpx2
    from mcp.server.auth.provider import AccessToken

    from bimpe_mcp.api.client import BimpeClient
    from bimpe_mcp.api.wire import WireCallDetail
    from bimpe_mcp.reading.watch import Watcher


def request_key() -> str:
    """The API key the client of the request being served sent as its bearer token (HTTP passthrough)."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    if token is None:
        raise not_configured()
    return token.token


TENANT_PREFIX = "key-"
"""The principal of a passthrough client is `key-` and the digest of its API key (server/http.py)."""


def request_tenant() -> str:
    """The tenant of the request being served over HTTP with auth (`token_tenant`); "" outside a request."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    return token_tenant(token) if token is not None else ""


def token_tenant(token: AccessToken) -> str:
    """The tenant a verified bearer token names: with passthrough the digest of its API key, never the key; with
    `--auth oauth` its subject at its issuer, as a digest (`sub-...`); with `--auth tokens` its line (`token-N`)."""
    if token.subject is not None:
        issuer = str((token.claims or {}).get("iss", ""))
        return "sub-" + hashlib.sha256(f"{issuer}\n{token.subject}".encode()).hexdigest()[:24]
    return token.client_id.removeprefix(TENANT_PREFIX) if token.client_id else ""


class Connector:
    """Builds the one pooled API client on first use, and closes it with the server.

    Deferred so that start-up (spawn to `tools/list` answered) never pays for the HTTP stack. With `passthrough`
    (HTTP with `--auth passthrough`), the key is the bearer token of the request being served: each call of
    `client()` builds a client holding that request's key only, over the shared connection pool, and nothing keeps
    it once the request is answered.
    """

    def __init__(
        self, settings: Settings, transport: httpx2.AsyncBaseTransport | None, *, passthrough: bool = False
    ) -> None:
        self._settings = settings
        self._transport = transport
        self.passthrough = passthrough
        self._http: httpx2.AsyncClient | None = None
        self._client: BimpeClient | None = None

    def client(self) -> BimpeClient:
        if self.passthrough:
            return self._build(request_key())
        if self._client is None:
            settings = self._settings
            self._client = self._build(settings.api_key.get_secret_value() if settings.api_key else "")
        return self._client

    def for_key(self, key: str) -> BimpeClient:
        """A client holding `key`, over the shared pool (a passthrough key being verified)."""
        return self._build(key)

    def _build(self, key: str) -> BimpeClient:
        from bimpe_mcp.api.client import BimpeClient, http_client

        if self._http is None:
            self._http = http_client(self._settings.base_url, self._settings.timeout_seconds, self._transport)
        settings = self._settings
        return BimpeClient(
            self._http,
            key,
            max_retries=settings.max_retries,
            retry_after_cap=settings.retry_after_cap_seconds,
            redact=settings.redact,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


@dataclass
class AppState:
    settings: Settings
    connector: Connector | None
    watcher: Watcher
    clock: Clock = field(default_factory=Clock)
    policy: Policy = field(init=False)

    def __post_init__(self) -> None:
        self.policy = Policy(self.settings, self.clock)
        if self.connector is not None and self.connector.passthrough:
            # Each API key is a tenant: its budgets, confirmations and audit entries are its own.
            self.policy.tenant = request_tenant

    def api(self) -> BimpeClient:
        if self.connector is None:
            raise not_configured()
        return self.connector.client()

    async def read_call(self, agent_id: str, call_id: str) -> WireCallDetail:
        """One call with its transcript, under the per-call deadline; failures as ToolFailure."""
        return await guarded(self.settings.deadline_seconds, lambda: self.api().get_call(agent_id, call_id))

    def agent(self, agent_id: str | None) -> str:
        chosen = agent_id or self.settings.agent_id
        if not chosen:
            raise ToolFailure(
                "invalid_argument",
                "agent_id is required: no default agent is configured",
                "Call list_agents to find the agent's id and pass it as agent_id.",
            )
        return chosen
