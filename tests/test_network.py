"""The server on the network: its API requests travel over real loopback sockets (httpx2's connection pool), to
the sandbox served by uvicorn or to a scripted socket, and every failure there is a tool error that names it."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig, SandboxServer
from bimpe_mcp.server.build import build_server
from bimpe_mcp.tools.state import AppState
from tests.support import data, error

pytestmark = pytest.mark.anyio

KEY = "sk_live_network_test_key_0123456789"
PAGE: dict[str, Any] = {
    "message": "Calls fetched",
    "data": [],
    "meta": {"total_count": 0, "page_count": 0, "current_page": 1, "limit": 20},
}


def server_on(origin: str, key: str, agent: str = "agent_1", **overrides: Any) -> MCPServer[AppState]:
    values: dict[str, Any] = {"api_key": SecretStr(key), "base_url": origin, "agent_id": agent} | overrides
    return build_server(Settings(**values))


@asynccontextmanager
async def served_sandbox() -> AsyncGenerator[tuple[Sandbox, str]]:
    """The sandbox behind uvicorn on a loopback port: the emulator and its origin."""
    server = SandboxServer(port=0, config=SandboxConfig(speed=0.0), out=io.StringIO())
    async with anyio.create_task_group() as tg:
        origin: str = await tg.start(server.run)
        yield server.sandbox, origin
        server.stop()


Reply = Callable[[SocketStream, bytes], Awaitable[bool]]


@asynccontextmanager
async def scripted_api(reply: Reply) -> AsyncGenerator[tuple[str, list[bytes]]]:
    """A loopback HTTP/1.1 peer: `reply` answers each request (head and body as read) and says whether the
    connection stays open. Yields the origin and every request received."""
    received: list[bytes] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)

    async def handle(stream: SocketStream) -> None:
        async with stream:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    try:
                        buffered += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                received.append(head)
                if not await reply(stream, head):
                    return

    port = listener.extra_attributes[SocketAttribute.local_port]()
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}", received
        tg.cancel_scope.cancel()


def answer(body: bytes, *extra: str, length: int | None = None) -> bytes:
    headers = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {length or len(body)}", *extra]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def test_tools_answer_over_the_network_and_the_key_travels_only_as_the_bearer() -> None:
    async with served_sandbox() as (sandbox, origin):
        async with Client(server_on(origin, sandbox.keys.full, sandbox.agents.live)) as client:
            page = data(await client.call_tool("list_calls", {"limit": 5}))
            call = data(await client.call_tool("get_call", {"call_id": page["calls"][0]["id"]}))
        assert len(page["calls"]) == 5
        assert call["id"] == page["calls"][0]["id"]
        assert [(r.auth, r.key, r.status) for r in sandbox.requests] == [("bearer", "full", 200)] * 2


@pytest.mark.parametrize("after", [False, True])
async def test_a_dropped_connection_is_retried_then_named_in_the_tool_error(after: bool) -> None:
    async with served_sandbox() as (sandbox, origin), Client(server_on(origin, sandbox.keys.full)) as client:
        sandbox.faults.add(Fault(kind="drop", after=after, times=1))
        recovered = data(await client.call_tool("list_calls", {"agent_id": sandbox.agents.live, "limit": 3}))
        sandbox.faults.add(Fault(kind="drop", after=after, times=3))
        info = error(await client.call_tool("list_calls", {"agent_id": sandbox.agents.live, "limit": 3}))
        sandbox.faults.clear()
        again = data(await client.call_tool("list_calls", {"agent_id": sandbox.agents.live, "limit": 3}))
    assert len(recovered["calls"]) == 3 == len(again["calls"])
    assert info["code"] == "upstream_unavailable" and info["retryable"]
    assert "the connection to the API failed (RemoteProtocolError)" in info["message"]


async def test_a_port_nobody_listens_on_is_could_not_reach() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    async with Client(server_on(f"http://127.0.0.1:{port}", KEY)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "upstream_unavailable"
    assert "could not reach the API (ConnectError)" in info["message"]


async def test_a_body_cut_short_is_a_failed_connection_not_a_protocol_error() -> None:
    async def cut(stream: SocketStream, _: bytes) -> bool:
        await stream.send(answer(json.dumps(PAGE).encode()[:20], length=500))
        return False

    async with scripted_api(cut) as (origin, received), Client(server_on(origin, KEY)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "upstream_unavailable"
    assert "the connection to the API failed (RemoteProtocolError)" in info["message"]
    assert len(received) == 3  # the first try and two retries


async def test_an_api_that_never_answers_is_a_timeout() -> None:
    async def silent(stream: SocketStream, _: bytes) -> bool:
        await anyio.sleep_forever()
        return False

    async with scripted_api(silent) as (origin, _), Client(server_on(origin, KEY, timeout_seconds=0.05)) as client:
        info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "upstream_unavailable"
    assert "the API did not answer in time" in info["message"]


async def test_cookies_set_by_the_api_are_never_sent_back() -> None:
    async def with_cookie(stream: SocketStream, _: bytes) -> bool:
        await stream.send(answer(json.dumps(PAGE).encode(), "Set-Cookie: session=tenant-a; Path=/"))
        return True

    async with scripted_api(with_cookie) as (origin, received), Client(server_on(origin, KEY)) as client:
        for _ in range(3):
            assert data(await client.call_tool("list_calls", {}))["calls"] == []
    assert len(received) == 3
    assert not [head for head in received if b"\ncookie:" in head.lower()]
    assert all(f"authorization: Bearer {KEY}".lower().encode() in head.lower() for head in received)


async def page_reply(stream: SocketStream, _: bytes) -> bool:
    await stream.send(answer(json.dumps(PAGE).encode()))
    return True


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_the_proxy_the_environment_names_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    async with scripted_api(page_reply) as (proxy, through):
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, proxy)
        async with Client(server_on("http://api.bimpe.invalid", KEY)) as client:
            assert data(await client.call_tool("list_calls", {}))["calls"] == []
    (head,) = through
    assert head.startswith(b"GET http://api.bimpe.invalid/api/v1/console/agents/agent_1/calls?")


async def test_a_host_in_no_proxy_is_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    async with scripted_api(page_reply) as (proxy, through), scripted_api(page_reply) as (origin, direct):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
        async with Client(server_on(origin, KEY)) as client:
            assert data(await client.call_tool("list_calls", {}))["calls"] == []
    assert through == []
    (head,) = direct
    assert head.startswith(b"GET /api/v1/console/agents/agent_1/calls?")
