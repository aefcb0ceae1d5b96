"""Remote mode, in-process: what `--transport http` refuses at start (one line, exit 2), the tokens file, the
verifiers, the Host and Origin lists, what worker processes are handed, and subscriptions with per-client keys."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, MCPError
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from pydantic import SecretStr

from bimpe_mcp.api.client import BimpeClient
from bimpe_mcp.cli.doctor import settings_env
from bimpe_mcp.cli.main import build_parsers, main, parse
from bimpe_mcp.core.clock import Clock
from bimpe_mcp.core.settings import ENV_VARS, Settings
from bimpe_mcp.reading.watch import Watcher
from bimpe_mcp.sandbox import Sandbox
from bimpe_mcp.server import http as remote
from bimpe_mcp.server.build import Inbound, build_server
from bimpe_mcp.server.protocol import secret_of
from bimpe_mcp.tools.state import AppState, Connector
from tests.support import error
from tests.test_subscriptions import listen_once, subscribe

TOKEN = "a-team-token-0123456789abcdef"
KEY = "sk_live_4f7c1a9e2bd0c3a8"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [*ENV_VARS, remote.SERVING_ENV]:
        monkeypatch.delenv(var, raising=False)


def refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The command line, run in-process, ends in exactly one line on stderr and exit code 2."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert KEY not in err and TOKEN not in err
    return err


def tokens_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tokens"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- refused at start ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "mcp.example.com", "::"])
def test_listening_beyond_loopback_without_auth_is_refused(capsys: pytest.CaptureFixture[str], host: str) -> None:
    err = refused(capsys, ["--sandbox", "--transport", "http", "--host", host, "--auth", "none"])
    assert err.startswith(f"bimpe-mcp: --host '{host}' with --auth none would let anyone")
    assert "--auth tokens" in err


def test_an_unknown_auth_in_the_environment_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_HTTP_AUTH", "basic")
    err = refused(capsys, ["--sandbox", "--transport", "http"])
    assert "BIMPE_HTTP_AUTH: must be none, tokens, passthrough or oauth (got 'basic')" in err


def test_workers_need_stateless_and_an_api_outside_the_process(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = refused(capsys, ["--sandbox", "--transport", "http", "--workers", "2"])
    assert "--workers 2 needs --stateless" in err
    err = refused(capsys, ["--sandbox", "--transport", "http", "--workers", "2", "--stateless"])
    assert "the embedded --sandbox lives in one process" in err


def test_workers_each_keeping_their_own_state_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--transport", "http", "--workers", "3", "--stateless", "--state-url", "memory://"]
    err = refused(capsys, argv)
    assert err.count("\n") == 1 and "BIMPE_STATE_URL=memory://" in err and "--workers 3" in err
    bad = refused(capsys, ["--transport", "http", "--state-url", "ftp://user:pw@host/x"])
    assert "--state-url: must be sqlite:///PATH, memory://" in bad and "pw" not in bad


def test_passthrough_takes_no_key_of_its_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_API_KEY", KEY)
    monkeypatch.setenv("BIMPE_HTTP_AUTH", "passthrough")
    err = refused(capsys, ["--transport", "http"])
    assert "--auth passthrough: each client's bearer token is its own API key" in err


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (None, "--auth tokens needs BIMPE_HTTP_TOKENS_FILE"),
        ("", "holds no token"),
        ("# only a comment\n\n", "holds no token"),
        ("short\n", "line 1: a token is one word of at least 16 characters"),
        (f"{TOKEN}\nsha256:abc\n", "line 2: sha256: must be followed by 64 hexadecimal digits"),
        (b"\xff\xfe".decode("latin-1"), "not UTF-8 text"),
    ],
)
def test_a_tokens_file_that_cannot_serve_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str | None, says: str
) -> None:
    if text is not None:
        (tmp_path / "tokens").write_bytes(text.encode("latin-1"))
        monkeypatch.setenv("BIMPE_HTTP_TOKENS_FILE", str(tmp_path / "tokens"))
    err = refused(capsys, ["--sandbox", "--transport", "http", "--auth", "tokens"])
    assert says in err, err


def test_a_missing_tokens_file_is_named(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIMPE_HTTP_TOKENS_FILE", "/nonexistent/tokens")
    err = refused(capsys, ["--sandbox", "--transport", "http", "--auth", "tokens"])
    assert "BIMPE_HTTP_TOKENS_FILE: cannot read '/nonexistent/tokens' (No such file or directory)" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--path", "/healthz"], "--path: must start with /"),
        (["--path", "mcp"], "--path: must start with /"),
        (["--workers", "0"], "--workers: must be a whole number from 1 to 64"),
        (["--auth", "basic"], "--auth: invalid choice"),
    ],
)
def test_http_options_with_values_that_cannot_serve_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert says in refused(capsys, ["--sandbox", "--transport", "http", *argv])


@pytest.mark.parametrize("flag", [["--stateless"], ["--json-response"], ["--workers", "2"], ["--auth", "tokens"]])
def test_http_options_with_stdio_are_refused(capsys: pytest.CaptureFixture[str], flag: list[str]) -> None:
    assert f"{flag[0]} applies to --transport http only" in refused(capsys, ["--sandbox", *flag])


def test_serve_help_lists_the_http_options() -> None:
    text = build_parsers()[1]["serve"].format_help()
    for flag in ("--path", "--stateless", "--json-response", "--workers", "--auth", "BIMPE_HTTP_AUTH"):
        assert flag in text, flag


# --- tokens and keys ----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_tokens_match_as_given_or_by_their_sha256_and_nothing_else(tmp_path: Path) -> None:
    hashed = "sha256:" + hashlib.sha256(b"another-team-token-987654321").hexdigest()
    digests = remote.load_tokens(tokens_file(tmp_path, f"{TOKEN}\n  {hashed}  \n"))
    verifier = remote.TokenFileVerifier(digests)
    first = await verifier.verify_token(TOKEN)
    second = await verifier.verify_token("another-team-token-987654321")
    assert first is not None and first.client_id == "token-1"
    assert second is not None and second.client_id == "token-2"
    assert await verifier.verify_token(TOKEN + "x") is None
    assert await verifier.verify_token(hashed) is None


@pytest.mark.anyio
async def test_a_passthrough_key_is_its_own_principal_and_a_malformed_one_is_none() -> None:
    verifier = remote.PassthroughVerifier()
    one, two = await verifier.verify_token("sk_a_0123456789"), await verifier.verify_token("sk_b_0123456789")
    assert one is not None and two is not None and one.client_id != two.client_id
    assert "sk_a" not in one.client_id and one.token == "sk_a_0123456789"
    for bad in ("", "two words", "x" * 513, "k\u00e9y"):
        assert await verifier.verify_token(bad) is None, bad


def test_the_auth_of_each_mode(tmp_path: Path) -> None:
    origin = "http://127.0.0.1:8000"
    assert remote.inbound(Settings(), origin) is None
    tokens = remote.inbound(Settings(http_auth="tokens", http_tokens_file=tokens_file(tmp_path, TOKEN)), origin)
    assert tokens is not None and not tokens.passthrough and isinstance(tokens.verifier, remote.TokenFileVerifier)
    passthrough = remote.inbound(Settings(http_auth="passthrough"), origin)
    assert passthrough is not None and passthrough.passthrough
    assert passthrough.auth.resource_server_url is None


def test_each_request_gets_a_client_with_its_own_key_and_none_is_kept() -> None:
    connector = Connector(Settings(), None, passthrough=True)
    clients: list[BimpeClient] = []
    for key in ("sk_first_0123456789", "sk_second_0123456789"):
        user = AuthenticatedUser(AccessToken(token=key, client_id=key[:8], scopes=[]))
        reset = auth_context_var.set(user)
        try:
            clients.append(connector.client())
        finally:
            auth_context_var.reset(reset)
    first, second = clients
    assert first is not second
    assert first._auth != second._auth  # pyright: ignore[reportPrivateUsage]
    assert connector._client is None  # pyright: ignore[reportPrivateUsage]


@pytest.mark.anyio
async def test_without_a_request_key_a_passthrough_tool_answers_not_configured(sandbox: Sandbox) -> None:
    inbound = remote.inbound(Settings(http_auth="passthrough"), "http://127.0.0.1:8000")
    server = build_server(Settings(base_url=sandbox.origin), transport=sandbox.transport(), inbound=inbound)
    async with Client(server) as client:
        assert error(await client.call_tool("list_agents", {}))["code"] == "not_configured"


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_subscriptions_are_off_with_per_client_keys(sandbox: Sandbox, mode: str) -> None:
    inbound = remote.inbound(Settings(http_auth="passthrough"), "http://127.0.0.1:8000")
    assert isinstance(inbound, Inbound)
    server = build_server(Settings(base_url=sandbox.origin), transport=sandbox.transport(), inbound=inbound)
    uri = f"bimpe://agents/{sandbox.agents.live}/calls/call_x/transcript"
    async with Client(server, mode=mode) as client:
        with pytest.raises(MCPError) as off:
            await (subscribe(client, uri) if mode == "legacy" else listen_once(client, [uri]))
    assert "subscriptions are off" in off.value.error.message


# --- Host and Origin, workers -------------------------------------------------------------------------------------


def test_host_and_origin_default_to_the_bind_address_and_localhost_or_to_the_lists_given() -> None:
    default = remote.transport_security(Settings(), "::1")
    assert default.enable_dns_rebinding_protection
    assert default.allowed_hosts == ["[::1]:*", "127.0.0.1:*", "localhost:*"]
    assert "http://localhost:*" in default.allowed_origins
    given = Settings(
        http_allowed_hosts="mcp.example.com, mcp.example.com:443", http_allowed_origins="https://a.example"
    )
    chosen = remote.transport_security(given, "0.0.0.0")
    assert chosen.allowed_hosts == ["mcp.example.com", "mcp.example.com:443"]
    assert chosen.allowed_origins == ["https://a.example"]


@pytest.fixture
def kept_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_workers_get_the_settings_and_options_through_the_environment_without_the_key(
    monkeypatch: pytest.MonkeyPatch, kept_logging: None
) -> None:
    settings = Settings(
        api_key=SecretStr(KEY),
        base_url="http://127.0.0.1:9",
        read_only=True,
        http_auth="passthrough",
        allowed_destinations="+234, +14155550100",  # pyright: ignore[reportArgumentType]
    )
    serving = remote.Serving(host="127.0.0.1", path="/x/mcp", stateless=True, json_response=True)
    env = remote.worker_env(settings, serving, "http://127.0.0.1:8000")
    assert KEY not in json.dumps(env) and "BIMPE_API_KEY" not in env
    assert env["BIMPE_READ_ONLY"] == "true" and env["BIMPE_HTTP_AUTH"] == "passthrough"
    assert Settings.from_env(env).allowed_destinations == settings.allowed_destinations
    shared = env["BIMPE_CONFIRM_SECRET"]
    assert len(shared) >= 32, "workers share one confirmation secret, so any of them accepts another's token"
    given = Settings(confirm_secret=SecretStr("s" * 20))
    assert "BIMPE_CONFIRM_SECRET" not in remote.worker_env(given, serving, "http://127.0.0.1:8000")
    assert json.loads(env[remote.SERVING_ENV])["path"] == "/x/mcp"
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    app = remote.worker_app()
    assert isinstance(app, remote.WorkerLog)


def test_the_start_notes_name_what_a_public_bind_or_json_responses_change() -> None:
    public = remote.notes(Settings(), remote.Serving(host="0.0.0.0", json_response=True))
    assert len(public) == 2 and "BIMPE_HTTP_ALLOWED_HOSTS" in public[0] and "progress" in public[1]
    named = Settings(http_allowed_hosts="mcp.example.com")
    assert remote.notes(named, remote.Serving(host="0.0.0.0")) == []
    assert remote.notes(Settings(), remote.Serving()) == []


def test_the_containerfile_serves_stateless_http_on_all_addresses_with_tokens(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "Containerfile").read_text(encoding="utf-8")
    found = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)
    assert found is not None
    entry = json.loads(found.group(1))
    assert entry[0] == "bimpe-mcp"
    opts = parse(entry[1:])
    assert (opts.transport, opts.host, opts.port, opts.stateless) == ("http", "0.0.0.0", 8000, True)
    env = dict(re.findall(r"(BIMPE_\w+)=(\S+)", text.split("ENTRYPOINT")[0].split("USER bimpe")[1]))
    assert env["BIMPE_HTTP_AUTH"] == "tokens" and env["BIMPE_HTTP_TOKENS_FILE"].startswith("/run/secrets/")
    # The user has no home: the state lives in a directory made for it, owned by it; the extras deployments use.
    user = re.search(r"^USER (\w+)$", text, re.MULTILINE)
    state = Path(env["BIMPE_STATE_URL"].removeprefix("sqlite:///"))
    assert user is not None and env["BIMPE_STATE_URL"].startswith("sqlite:////") and "--no-create-home" in text
    assert f"mkdir -p {state.parent}" in text and f"chown {user.group(1)} {state.parent}" in text
    assert "pip install '.[redis,otel,uvloop]'" in text
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert {"redis", "otel", "uvloop"} <= set(extras["project"]["optional-dependencies"])
    settings = Settings.from_env(env | {"BIMPE_HTTP_TOKENS_FILE": tokens_file(tmp_path, TOKEN)})
    remote.check(settings, remote.Serving(host=opts.host, stateless=True), 1)
    assert f"http://127.0.0.1:8000{remote.HEALTH_PATH}" in text


@pytest.mark.anyio
async def test_with_passthrough_the_request_key_is_what_client_logs_redact(sandbox: Sandbox) -> None:
    settings = Settings(base_url=sandbox.origin)
    async with Watcher(Clock()) as watcher:
        state = AppState(settings=settings, connector=Connector(settings, None, passthrough=True), watcher=watcher)
        assert secret_of(state) is None
        reset = auth_context_var.set(AuthenticatedUser(AccessToken(token=KEY, client_id="k", scopes=[])))
        try:
            assert secret_of(state) == KEY
        finally:
            auth_context_var.reset(reset)


def test_client_configurations_of_the_doctor_leave_the_http_settings_out(tmp_path: Path) -> None:
    settings = Settings(http_auth="tokens", http_tokens_file=tokens_file(tmp_path, TOKEN), read_only=True)
    assert settings_env(settings) == {"BIMPE_READ_ONLY": "true"}
