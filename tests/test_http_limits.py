"""Limits of a shared HTTP server, on loopback: BIMPE_HTTP_RATE_LIMIT per client identity (429 with Retry-After, one
rate for every process sharing the state), the open sessions of each identity, and BIMPE_HTTP_READ_TIMEOUT for a
client that trickles its request (408, connection closed).

Most tests serve the application with uvicorn in this process, on an event loop with virtual time
(tests/virtual_time.py): clients on the same loop wait, trickle bytes and let minutes pass without taking them, and
the rate is counted on the loop's clock. The others start `bimpe-mcp --transport http` processes (the command line's
wiring, worker processes, replicas sharing a store) and wait a bounded time for what they answer.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from bimpe_mcp.core.settings import ENV_VARS, Settings
from bimpe_mcp.server import http as remote
from bimpe_mcp.server.limits import Config
from bimpe_mcp.server.sessions import SESSIONS_PER_IDENTITY
from tests.redis_support import redis_server
from tests.served import HttpServer, StandaloneSandbox
from tests.support import ACCEPT_STREAMS as ACCEPT
from tests.support import INITIALIZE
from tests.test_remote_setup import refused
from tests.virtual_time import VirtualTimeLoop

FIRST = "first-team-token-7d41c09e2b"
SECOND = "second-team-token-58ae13f6c0"
READ_TIMEOUT = 5.0
WAIT_SECONDS = 30.0
"""The longest a test waits, on real time, for a server process to answer or close."""


class LoopbackLoop(VirtualTimeLoop):
    """Virtual time, with every piece of work on the loop: asyncio looks addresses up in a thread, which would let
    the clock jump while it runs; a loopback address needs no lookup."""

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                          flags: int = 0) -> list[Any]:  # fmt: skip
        assert host in {"127.0.0.1", b"127.0.0.1"}, host
        return socket.getaddrinfo(host, port, family, type, proto, flags)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": LoopbackLoop})


@pytest.fixture
def tokens(tmp_path: Path) -> str:
    path = tmp_path / "tokens"
    path.write_text(f"{FIRST}\n{SECOND}\n", encoding="utf-8")
    return str(path)


def limited(tokens: str, **more: Any) -> Settings:
    """The embedded sandbox behind --auth tokens, with a state of its own."""
    values: dict[str, Any] = {"sandbox": True, "http_auth": "tokens", "http_tokens_file": tokens,
                              "state_url": "memory://", "http_read_timeout": READ_TIMEOUT}  # fmt: skip
    return Settings(**(values | more))


@asynccontextmanager
async def serving(settings: Settings, *, stateless: bool = False) -> AsyncGenerator[str]:
    """The HTTP application under uvicorn with the server's own protocol, on a free loopback port of this loop; the
    rate counted on the loop's (virtual) clock. Yields the MCP endpoint's URL."""
    loop = asyncio.get_running_loop()
    # As TCP by name, so that asyncio turns Nagle's algorithm off on each connection: no answer waits for an ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = remote.build_app(settings, remote.Serving(stateless=stateless), origin, now=loop.time)
    config = Config(app, read_timeout=settings.http_read_timeout, log_config=None, access_log=False,
                    timeout_graceful_shutdown=5)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(100):
        if server.started or task.done():
            break
        await asyncio.sleep(0.1)
    assert server.started, "uvicorn did not start"
    try:
        yield origin + remote.DEFAULT_PATH
    finally:
        server.should_exit = True
        await task
        sock.close()


async def post(http: httpx2.AsyncClient, url: str, token: str, **headers: str) -> httpx2.Response:
    return await http.post(url, json=INITIALIZE, headers={"Authorization": f"Bearer {token}", **ACCEPT, **headers})


# --- the rate -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_token_over_the_rate_gets_429_with_retry_after_while_another_token_goes_on(tokens: str) -> None:
    settings = limited(tokens, http_rate_limit="3/min")
    async with serving(settings, stateless=True) as url, httpx2.AsyncClient(timeout=30) as http:
        assert [(await post(http, url, FIRST)).status_code for _ in range(3)] == [200, 200, 200]
        refused = await post(http, url, FIRST)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20", refused.text
        said = refused.json()["error"]["message"]
        assert said.startswith("Too many requests: this token may send 3/min to this server"), said
        assert "BIMPE_HTTP_RATE_LIMIT" in said and "send again after 20 s (Retry-After)" in said
        assert FIRST not in refused.text and refused.json()["error"]["data"] == {"retry_after": 20}
        assert (await post(http, url, SECOND)).status_code == 200, "another token has its own rate"
        await asyncio.sleep(19)
        early = await post(http, url, FIRST)
        assert early.status_code == 429 and int(early.headers["retry-after"]) in {1, 2}, early.text
        await asyncio.sleep(int(early.headers["retry-after"]))
        assert (await post(http, url, FIRST)).status_code == 200, "admitted once Retry-After has passed"
        assert (await post(http, url, FIRST)).status_code == 429, "one request more every 20 seconds"


@pytest.mark.anyio
async def test_an_mcp_client_over_the_rate_reads_what_to_do(tokens: str) -> None:
    async with serving(limited(tokens, http_rate_limit="4/hour")) as url:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {FIRST}"}, timeout=30)
        async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            said = await first_refusal(client)
    assert "Too many requests: this token may send 4/hour to this server (BIMPE_HTTP_RATE_LIMIT)" in said, said
    waited = re.search(r"send again after (\d+) s \(Retry-After\)", said)
    assert waited is not None and 890 <= int(waited.group(1)) <= 901, said


async def first_refusal(client: Client) -> str:
    """What the client reads on the first tool call refused, among the first few."""
    for _ in range(5):
        try:
            await client.call_tool("list_agents", {})
        except MCPError as exc:
            return str(exc)
    raise AssertionError("no call was refused")


@pytest.mark.anyio
async def test_without_its_state_store_each_process_still_keeps_the_rate_and_says_so(
    tokens: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = limited(tokens, http_rate_limit="2/s", state_url="redis://127.0.0.1:9/0")
    async with serving(settings, stateless=True) as url, httpx2.AsyncClient(timeout=30) as http:
        answers = [(await post(http, url, FIRST)).status_code for _ in range(3)]
        await asyncio.sleep(0.5)
        again = (await post(http, url, FIRST)).status_code
    assert answers == [200, 200, 429] and again == 200
    said = [r.getMessage() for r in caplog.records if "BIMPE_HTTP_RATE_LIMIT is counted" in r.getMessage()]
    assert len(said) == 1 and "by this process only (redis://127.0.0.1:9/0" in said[0], said


def rate_limited_replicas(sandbox: StandaloneSandbox, tokens: str, state: str) -> list[HttpServer]:
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_API_KEY": sandbox.keys["full"], "BIMPE_HTTP_AUTH": "tokens",
           "BIMPE_HTTP_TOKENS_FILE": tokens, "BIMPE_STATE_URL": state, "BIMPE_HTTP_RATE_LIMIT": "4/hour"}  # fmt: skip
    return [HttpServer(env, "--stateless", "--json-response") for _ in range(2)]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_replicas_sharing_the_state_keep_one_rate_per_token(
    standalone: StandaloneSandbox, tokens: str, tmp_path: Path, store: str
) -> None:
    with redis_server(tmp_path) if store == "redis" else nullcontext(None) as found:
        state = found or f"sqlite:///{tmp_path / 'state.sqlite3'}"
        replicas = rate_limited_replicas(standalone, tokens, state)
        try:
            answers = [_post(replicas[n % 2].url, FIRST) for n in range(5)]
            others = [_post(replica.url, SECOND).status_code for replica in replicas]
        finally:
            for replica in replicas:
                replica.stop()
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429], [a.text for a in answers]
    assert 890 <= int(answers[-1].headers["retry-after"]) <= 900 and others == [200, 200]
    assert "refused a request with 429: the token" in replicas[0].log()


def _post(url: str, token: str) -> httpx2.Response:
    return httpx2.post(url, json=INITIALIZE, headers={"Authorization": f"Bearer {token}", **ACCEPT}, timeout=30)


# --- sessions -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_token_at_its_cap_of_sessions_is_refused_while_another_token_opens_its_own(tokens: str) -> None:
    async with serving(limited(tokens)) as url, httpx2.AsyncClient(timeout=30) as http:
        opened = [await post(http, url, FIRST) for _ in range(SESSIONS_PER_IDENTITY)]
        assert {a.status_code for a in opened} == {200}
        refused = await post(http, url, FIRST)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "60", refused.text
        said = refused.json()["error"]["message"]
        assert said.startswith(f"This token holds {SESSIONS_PER_IDENTITY} open sessions, the most one token may hold")
        assert FIRST not in refused.text
        assert (await post(http, url, SECOND)).status_code == 200, "another token still opens a session"
        session = opened[0].headers["mcp-session-id"]
        ended = await http.delete(url, headers={"Authorization": f"Bearer {FIRST}", "mcp-session-id": session})
        assert ended.status_code < 400, ended.text
        assert (await post(http, url, FIRST)).status_code == 200, "a session ended frees its place"


# --- reading a request --------------------------------------------------------------------------------------------


def request_head(url: str, token: str, body: bytes) -> bytes:
    host = url.split("/")[2]
    return (f"POST {remote.DEFAULT_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip


async def trickled(url: str, sent_at_once: bytes, trickle: bytes) -> tuple[bytes, float]:
    """Sends `sent_at_once`, then `trickle` one byte a second, until the server answers or closes: what it sent back
    and when it closed, in seconds from the first byte."""
    loop = asyncio.get_running_loop()
    host, port = url.split("/")[2].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = loop.time()

    async def send() -> None:
        writer.write(sent_at_once)
        await asyncio.sleep(0.5)  # between whole seconds, never at the instant of the deadline
        for byte in trickle:
            await asyncio.sleep(1)
            if writer.is_closing() or reader.at_eof():
                return
            writer.write(bytes([byte]))

    sender = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=len(trickle) + 10)
    finally:
        sender.cancel()
        writer.close()
    return answer, loop.time() - started


@pytest.mark.anyio
async def test_a_client_that_trickles_its_headers_is_answered_408_and_cut(
    tokens: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(limited(tokens)) as url:
        body = json.dumps(INITIALIZE).encode()
        answer, after = await trickled(url, b"", request_head(url, FIRST, body) + body)
        async with httpx2.AsyncClient(timeout=30) as http:
            assert (await post(http, url, FIRST)).status_code == 200, "the server goes on"
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert (
        b"connection: close" in answer
        and b"a request 5 s to arrive whole" in answer
        and b"BIMPE_HTTP_READ_TIMEOUT" in answer
    )
    assert round(after, 3) == READ_TIMEOUT, "cut at the deadline, however the bytes trickle"
    assert any("answered 408" in r.getMessage() for r in caplog.records)


@pytest.mark.anyio
async def test_a_client_that_trickles_its_body_is_answered_408_and_nothing_reaches_the_sdk(
    tokens: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(limited(tokens)) as url:
        body = json.dumps(INITIALIZE).encode()
        answer, after = await trickled(url, request_head(url, FIRST, body) + body[:10], body[10:])
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"mcp-session-id" not in answer, answer
    assert answer.count(b"HTTP/1.1") == 1, "only the 408: the SDK never answered the half request"
    assert round(after, 3) == READ_TIMEOUT
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "answered 408" in logged and "Error handling POST request" not in logged and "Traceback" not in logged


@pytest.mark.anyio
async def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(tokens: str) -> None:
    async with serving(limited(tokens)) as url:
        answer, after = await trickled(url, b"", b"")
    assert answer == b"" and round(after, 3) == READ_TIMEOUT


@pytest.mark.anyio
async def test_an_answer_that_lasts_longer_than_the_deadline_is_not_cut(tokens: str) -> None:
    async with serving(limited(tokens)) as url, httpx2.AsyncClient(timeout=60) as http:
        opened = await post(http, url, FIRST)
        session = {"Authorization": f"Bearer {FIRST}", "mcp-session-id": opened.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-11-25"}  # fmt: skip
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(url, json=note, headers=session | ACCEPT)).status_code == 202
        async with http.stream("GET", url, headers=session | {"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            await asyncio.sleep(3 * READ_TIMEOUT)
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            assert (await http.post(url, json=ping, headers=session | ACCEPT)).status_code == 200
            assert not stream.is_closed, "the stream outlived the deadline"


# --- refused at start ---------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [*ENV_VARS, remote.SERVING_ENV]:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("clean_env")
def test_a_rate_each_worker_would_count_alone_or_cannot_read_is_refused_at_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--transport", "http", "--workers", "2", "--stateless", "--read-only", "--state-url", "memory://"]
    err = refused(capsys, [*argv, "--http-rate-limit", "100/min"])
    assert "--workers 2 with BIMPE_HTTP_RATE_LIMIT and BIMPE_STATE_URL=memory://" in err, err
    for bad, says in [("100/fortnight", "must be N/s, N/min or N/hour"), ("0/s", "allows no request at all")]:
        err = refused(capsys, ["--transport", "http", "--http-rate-limit", bad])
        assert f"--http-rate-limit: {says}" in err, err
    err = refused(capsys, ["--http-rate-limit", "100/min"])
    assert "--http-rate-limit" in err and "http" in err, err


# --- the command line, its worker processes -----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_the_served_command_cuts_a_client_that_sends_part_of_its_headers(
    standalone: StandaloneSandbox, workers: int
) -> None:
    env = {"BIMPE_BASE_URL": standalone.origin, "BIMPE_API_KEY": standalone.keys["full"],
           "BIMPE_HTTP_READ_TIMEOUT": "1"}  # fmt: skip
    server = HttpServer(env, "--stateless", "--workers", str(workers))
    try:
        host, port = server.origin.removeprefix("http://").split(":")
        seen = b""
        with socket.create_connection((host, int(port)), timeout=WAIT_SECONDS) as sock:
            sock.sendall(f"POST /mcp HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Le".encode())
            while chunk := sock.recv(4096):
                seen += chunk
    finally:
        server.stop()
    assert seen.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"a request 1 s to arrive whole" in seen, seen
