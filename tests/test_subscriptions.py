"""Resource subscriptions: a subscribed call in progress is watched, and each change of its status or transcript is
announced until the call ends, the client unsubscribes, or the session (or listen stream) closes."""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import MCPServer
from mcp.server.runner import serve_dual_era_loop
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.shared.memory import create_client_server_memory_streams
from mcp.shared.subscriptions import ResourceUpdated
from mcp.types import LoggingMessageNotificationParams, ResourceUpdatedNotification, TextResourceContents
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.reading import watch
from bimpe_mcp.sandbox import Fault, Sandbox
from bimpe_mcp.server.build import build_server
from bimpe_mcp.server.sdk import lowlevel
from bimpe_mcp.tools.state import AppState
from tests.conftest import SandboxTime
from tests.support import data

pytestmark = pytest.mark.anyio


class SteppedTime(SandboxTime):
    """The server's clock, whose sleeps wait until the test lets them pass with `step()`: each step moves the
    sandbox clock on by the sleep, so a watch reads the call once more."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(sandbox)
        self.waiting = 0
        self.taken = 0
        self._steps_in, self._steps = anyio.create_memory_object_stream[None](1000)
        self._changed = anyio.Event()

    async def sleep(self, seconds: float) -> None:
        self._count(waiting=1)
        try:
            await self._steps.receive()
        finally:
            self._count(waiting=-1)
        self.taken += 1
        await super().sleep(seconds)

    def step(self, times: int = 1) -> None:
        for _ in range(times):
            self._steps_in.send_nowait(None)

    async def until(self, done: Callable[[], bool]) -> None:
        with anyio.fail_after(10):
            while not done():
                await self._changed.wait()

    def _count(self, *, waiting: int) -> None:
        self.waiting += waiting
        self._changed.set()
        self._changed = anyio.Event()

    def close(self) -> None:
        self._steps_in.close()
        self._steps.close()


@pytest.fixture
async def stepped(sandbox: Sandbox) -> AsyncIterator[SteppedTime]:
    clock = SteppedTime(sandbox)
    yield clock
    clock.close()


def server_for(sandbox: Sandbox, clock: SteppedTime, **overrides: Any) -> MCPServer[AppState]:
    settings = Settings(
        api_key=SecretStr(sandbox.keys.full), base_url=sandbox.origin, agent_id=sandbox.agents.live, **overrides
    )
    return build_server(settings, transport=sandbox.transport(), clock=clock)


class Updates:
    """The resource updates a client received."""

    def __init__(self) -> None:
        self.sent, self.stream = anyio.create_memory_object_stream[str](100)
        self.uris: list[str] = []

    async def handler(self, message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.uris.append(message.params.uri)
            self.sent.send_nowait(message.params.uri)

    async def next(self) -> str:
        with anyio.fail_after(10):
            return await self.stream.receive()

    def close(self) -> None:
        self.sent.close()
        self.stream.close()


@pytest.fixture
def updates() -> Iterator[Updates]:
    received = Updates()
    yield received
    received.close()


async def subscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.subscribe_resource(uri)  # pyright: ignore[reportDeprecated]


async def unsubscribe(client: Client, uri: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await client.unsubscribe_resource(uri)  # pyright: ignore[reportDeprecated]


async def placed_call(client: Client, sandbox: Sandbox) -> str:
    placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
    return f"bimpe://agents/{sandbox.agents.live}/calls/{placed['call_id']}"


async def listen_once(client: Client, uris: list[str]) -> None:
    async with client.listen(resource_subscriptions=uris):
        pass


def reads_of(sandbox: Sandbox, uri: str) -> int:
    call_id = uri.rsplit("/calls/", 1)[1].removesuffix("/transcript")
    return len([r for r in sandbox.requests if r.method == "GET" and r.path.endswith(f"/calls/{call_id}")])


async def status_of(client: Client, uri: str) -> str:
    contents = (await client.read_resource(uri)).contents[0]
    assert isinstance(contents, TextResourceContents)
    return contents.text


async def test_both_eras_advertise_resource_subscriptions_and_logging(sandbox: Sandbox, stepped: SteppedTime) -> None:
    for mode in ("legacy", "auto"):
        async with Client(server_for(sandbox, stepped), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            caps = client.server_capabilities
            assert caps.resources is not None and caps.resources.subscribe is True, mode
            assert caps.logging is not None, mode


async def test_a_subscribed_call_in_progress_is_announced_at_each_change_until_it_ends(
    sandbox: Sandbox, stepped: SteppedTime, updates: Updates
) -> None:
    async with Client(server_for(sandbox, stepped), mode="legacy", message_handler=updates.handler) as client:
        uri = await placed_call(client, sandbox)
        await subscribe(client, uri)
        stepped.step(500)
        # queued -> ringing (+2 s), ringing -> answered (+7 s), answered -> ended with a transcript
        assert [await updates.next() for _ in range(3)] == [uri] * 3
        assert '"status":"ended"' in await status_of(client, uri)
        await stepped.until(lambda: stepped.waiting == 0)
        await client.list_prompts()  # a round trip: what was sent before it has arrived
        assert updates.uris == [uri] * 3, "nothing more once the call has ended"
        assert stepped.taken < 500, "the watch stopped reading when the call ended"
        assert reads_of(sandbox, uri) == stepped.taken + 2, "one read a step, the first, and the read above"


async def test_a_subscribed_transcript_is_announced_too(
    sandbox: Sandbox, stepped: SteppedTime, updates: Updates
) -> None:
    async with Client(server_for(sandbox, stepped), mode="legacy", message_handler=updates.handler) as client:
        uri = await placed_call(client, sandbox) + "/transcript"
        await subscribe(client, uri)
        stepped.step(500)
        assert [await updates.next() for _ in range(3)] == [uri] * 3
        contents = (await client.read_resource(uri)).contents[0]
        assert isinstance(contents, TextResourceContents) and "caller" in contents.text


async def test_unsubscribing_stops_the_watch(sandbox: Sandbox, stepped: SteppedTime, updates: Updates) -> None:
    async with Client(server_for(sandbox, stepped), mode="legacy", message_handler=updates.handler) as client:
        uri = await placed_call(client, sandbox)
        await subscribe(client, uri)
        await stepped.until(lambda: stepped.waiting == 1)
        stepped.step()
        assert await updates.next() == uri, "ringing"
        await stepped.until(lambda: stepped.taken == 1 and stepped.waiting == 1)
        await unsubscribe(client, uri)
        await stepped.until(lambda: stepped.waiting == 0)
        stepped.step(20)
        await client.list_prompts()  # a round trip: what was sent before it has arrived
        assert stepped.taken == 1 and updates.uris == [uri]
        assert reads_of(sandbox, uri) == 2


@asynccontextmanager
async def sessions(mcp: MCPServer[AppState]) -> AsyncGenerator[Callable[..., Any]]:
    """Handshake sessions sharing one server lifespan, as streamable HTTP's sessions do."""
    server = lowlevel(mcp)
    async with server.lifespan(server) as state, anyio.create_task_group() as tg:

        @asynccontextmanager
        async def transport() -> AsyncGenerator[tuple[Any, Any]]:
            async with create_client_server_memory_streams() as (client_streams, (read, write)):
                options = server.create_initialization_options()
                tg.start_soon(
                    lambda: serve_dual_era_loop(server, read, write, lifespan_state=state, init_options=options)
                )
                yield client_streams

        yield transport
        tg.cancel_scope.cancel()


async def test_closing_a_session_stops_its_watches_and_leaves_the_others(
    sandbox: Sandbox, stepped: SteppedTime, updates: Updates
) -> None:
    async with (
        sessions(server_for(sandbox, stepped)) as transport,
        Client(transport(), mode="legacy", message_handler=updates.handler) as staying,  # pyright: ignore[reportArgumentType]
    ):
        uri = await placed_call(staying, sandbox)
        async with Client(transport(), mode="legacy") as leaving:  # pyright: ignore[reportArgumentType]
            await subscribe(leaving, uri)
            await subscribe(staying, uri)
            await stepped.until(lambda: stepped.waiting == 2)
        await stepped.until(lambda: stepped.waiting == 1)
        stepped.step()
        assert await updates.next() == uri, "the session still open is still told"


async def test_a_listen_stream_naming_a_call_hears_its_changes_until_it_ends(
    sandbox: Sandbox, stepped: SteppedTime
) -> None:
    async with Client(server_for(sandbox, stepped)) as client:
        uri = await placed_call(client, sandbox)
        async with client.listen(resource_subscriptions=[uri]) as events:
            stepped.step(500)
            with anyio.fail_after(10):
                heard = [await anext(events) for _ in range(3)]
            assert heard == [ResourceUpdated(uri=uri)] * 3
            await stepped.until(lambda: stepped.waiting == 0)
            assert stepped.taken < 500


async def test_closing_a_listen_stream_stops_its_watch(sandbox: Sandbox, stepped: SteppedTime) -> None:
    async with Client(server_for(sandbox, stepped)) as client:
        uri = await placed_call(client, sandbox)
        async with client.listen(resource_subscriptions=[uri, "test://not-ours"]):
            await stepped.until(lambda: stepped.waiting == 1)
        await stepped.until(lambda: stepped.waiting == 0)
        many = [f"{uri}?{n}" for n in range(watch.SESSION_WATCHES + 1)]
        with pytest.raises(MCPError) as refused:
            await listen_once(client, many)
        assert refused.value.error.code == -32602 and str(watch.SESSION_WATCHES) in refused.value.error.message


async def test_subscriptions_to_other_resources_are_accepted_and_bounded_per_session(
    sandbox: Sandbox, stepped: SteppedTime
) -> None:
    async with Client(server_for(sandbox, stepped), mode="legacy") as client:
        await subscribe(client, "test://watched-resource")
        await unsubscribe(client, "test://watched-resource")
        await unsubscribe(client, "test://never-subscribed")
        for n in range(watch.SESSION_WATCHES):
            await subscribe(client, f"test://r/{n}")
        await subscribe(client, "test://r/0")
        with pytest.raises(MCPError) as refused:
            await subscribe(client, "test://one-too-many")
        assert refused.value.error.code == -32600 and "unsubscribe" in refused.value.error.message
        await anyio.wait_all_tasks_blocked()
        assert stepped.waiting == 0 and not [r for r in sandbox.requests if "/calls/" in r.path], "nothing to watch"


async def test_the_server_watches_a_bounded_number_of_calls(
    sandbox: Sandbox, stepped: SteppedTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "SERVER_WATCHES", 1)
    async with Client(server_for(sandbox, stepped), mode="legacy") as client:
        first, second = await placed_call(client, sandbox), await placed_call(client, sandbox)
        await subscribe(client, first)
        with pytest.raises(MCPError) as refused:
            await subscribe(client, second)
        assert refused.value.error.code == -32600 and "1 calls" in refused.value.error.message
    async with Client(server_for(sandbox, stepped)) as client:
        with pytest.raises(MCPError) as refused:
            await listen_once(client, [first, second])
        assert refused.value.error.code == -32600


async def test_a_call_that_has_ended_or_cannot_be_read_is_not_watched(
    sandbox: Sandbox, stepped: SteppedTime, updates: Updates
) -> None:
    async with Client(server_for(sandbox, stepped), mode="legacy", message_handler=updates.handler) as client:
        ended = data(await client.call_tool("list_calls", {"status": "ended", "limit": 1}))["calls"][0]["id"]
        done = f"bimpe://agents/{sandbox.agents.live}/calls/{ended}"
        missing = f"bimpe://agents/{sandbox.agents.live}/calls/call_missing"
        await subscribe(client, done)
        await subscribe(client, missing)
        await anyio.wait_all_tasks_blocked()
        assert reads_of(sandbox, done) == 1 and reads_of(sandbox, missing) == 1
        assert stepped.waiting == 0 and updates.uris == [], "each was read once, and no watch goes on"


async def test_a_stateless_http_client_is_told_it_cannot_be_sent_updates(
    sandbox: Sandbox, stepped: SteppedTime
) -> None:
    mcp = server_for(sandbox, stepped)
    app = mcp.streamable_http_app(stateless_http=True, json_response=True)
    origin = "http://127.0.0.1:8000"
    async with (
        mcp.session_manager.run(),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url=origin) as http,
        Client(streamable_http_client(origin + "/mcp", http_client=http), mode="legacy") as client,
    ):
        with pytest.raises(MCPError) as refused:
            await subscribe(client, f"bimpe://agents/{sandbox.agents.live}/calls/call_1")
    assert refused.value.error.code == -32600 and "stateless" in refused.value.error.message


async def test_a_watch_rides_out_failed_reads_and_gives_up_after_five_in_a_row(
    sandbox: Sandbox, stepped: SteppedTime, updates: Updates
) -> None:
    warned, warnings_heard = anyio.create_memory_object_stream[str](10)

    async def heard(params: LoggingMessageNotificationParams) -> None:
        warned.send_nowait(f"{params.level} {params.data}")

    server = server_for(sandbox, stepped, max_retries=0)
    async with (
        warned,
        warnings_heard,
        Client(server, mode="legacy", message_handler=updates.handler, logging_callback=heard) as client,
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.set_logging_level("warning")  # pyright: ignore[reportDeprecated]
        riding = await placed_call(client, sandbox)
        sandbox.faults.add(Fault(kind="status", status=503, times=watch.FAILURES_KEPT - 1, path=riding.rsplit("/")[-1]))
        await subscribe(client, riding)
        stepped.step(500)
        # Four failed reads, eight seconds: the first good read finds the call answered, the next ones its end.
        assert await updates.next() == riding
        assert '"status":"ended"' in await status_of(client, riding)
        await stepped.until(lambda: stepped.waiting == 0)
        failing = await placed_call(client, sandbox)
        sandbox.faults.add(Fault(kind="status", status=503, times=watch.FAILURES_KEPT, path=failing.rsplit("/")[-1]))
        await subscribe(client, failing)
        with anyio.fail_after(10):
            message = await warnings_heard.receive()
        assert message.startswith("warning stopped watching") and failing in message
        assert "upstream_unavailable" in message
        assert reads_of(sandbox, failing) == watch.FAILURES_KEPT
