"""How long the server waits between attempts, and when it stops waiting and tells the model instead.

These tests run on an event loop with virtual time (tests/virtual_time.py) and with stamina out of its testing mode:
every wait is really scheduled and really waited, but the loop's clock jumps instead of sleeping. An on-retry hook
records each wait stamina schedules, and the loop's clock shows that it was waited out.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from bimpe_mcp.sandbox import Fault, RecordedRequest, Sandbox
from tests.conftest import ServerFactory
from tests.support import data, error, text
from tests.virtual_time import VirtualTimeLoop, on_the_loop

pytestmark = pytest.mark.anyio

# The client's backoff: 0.25 s doubling per attempt, plus up to 0.5 s of jitter.
FIRST_BACKOFF = (0.25, 0.75)
SECOND_BACKOFF = (0.5, 1.0)


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": VirtualTimeLoop})


@pytest.fixture
def make_server(make_server: ServerFactory) -> ServerFactory:
    return on_the_loop(make_server)


@pytest.fixture(autouse=True)
def no_backoff() -> None:
    """Replaces the suite-wide fixture of this name: here stamina keeps its real waits, on virtual time."""


@pytest.fixture
def retries() -> Iterator[list[RetryDetails]]:
    """Every retry stamina schedules, with the wait it scheduled before it."""
    scheduled: list[RetryDetails] = []

    def record(details: RetryDetails) -> None:
        scheduled.append(details)

    # The API client sets the server's own hook when it is loaded: load it first, so that this one replaces it.
    importlib.import_module("bimpe_mcp.api.client")
    kept = get_on_retry_hooks()
    set_on_retry_hooks([record])
    yield scheduled
    set_on_retry_hooks(kept)


def now() -> float:
    return asyncio.get_running_loop().time()


def waits(retries: list[RetryDetails]) -> list[float]:
    return [r.wait_for for r in retries]


def within(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def list_calls_requests(sandbox: Sandbox) -> list[RecordedRequest]:
    return [r for r in sandbox.requests if r.path.endswith("/calls")]


def http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize("retry_after", ["3", "10"])
async def test_a_rate_limit_within_the_cap_waits_exactly_its_retry_after_then_succeeds(
    client: Client, sandbox: Sandbox, retries: list[RetryDetails], retry_after: str
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, retry_after=retry_after, times=1))
    start = now()
    assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"]
    assert waits(retries) == [float(retry_after)]
    assert now() - start == pytest.approx(float(retry_after))
    assert len(list_calls_requests(sandbox)) == 2


async def test_a_rate_limit_that_outlasts_the_retries_hands_back_its_retry_after(
    client: Client, sandbox: Sandbox, retries: list[RetryDetails]
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, retry_after="3", times=3))
    result = await client.call_tool("list_calls", {})
    info = error(result)
    assert info["code"] == "rate_limited" and info["retryable"] and info["retry_after_seconds"] == 3.0
    assert "Retry after 3 s." in text(result)
    assert waits(retries) == [3.0, 3.0]
    assert len(list_calls_requests(sandbox)) == 3


@pytest.mark.parametrize(
    ("cap", "retry_after"),
    [(10.0, "11"), (10.0, "120"), (2.0, "3"), (10.0, "Wed, 21 Oct 2099 07:28:00 GMT")],
)
async def test_a_retry_after_beyond_the_cap_is_handed_back_at_once_as_rate_limited(
    make_server: ServerFactory, sandbox: Sandbox, retries: list[RetryDetails], cap: float, retry_after: str
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, retry_after=retry_after, times=1))
    async with Client(make_server(retry_after_cap_seconds=cap)) as client:
        start = now()
        result = await client.call_tool("list_calls", {})
        assert now() == start
        assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"], "the server keeps serving"
    info = error(result)
    if retry_after.isdigit():
        expected = float(retry_after)
    else:
        expected = email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time()
    assert info["code"] == "rate_limited" and info["retryable"]
    assert info["retry_after_seconds"] == pytest.approx(expected, abs=5)
    assert f"Retry after {info['retry_after_seconds']:g} s." in text(result)
    assert retries == []
    assert len(list_calls_requests(sandbox)) == 2, "one refused attempt, then the next tool call"


async def test_a_retry_after_within_the_cap_but_past_the_deadline_is_handed_back_at_once_as_rate_limited(
    make_server: ServerFactory, sandbox: Sandbox, retries: list[RetryDetails]
) -> None:
    """Waiting 8 s with 5 s left would only end in deadline_exceeded; the model is told to retry in 8 s instead."""
    sandbox.faults.add(Fault(kind="status", status=429, retry_after="8", times=1))
    async with Client(make_server(retry_after_cap_seconds=10.0, deadline_seconds=5.0)) as client:
        start = now()
        result = await client.call_tool("list_calls", {})
        assert now() == start
    info = error(result)
    assert info["code"] == "rate_limited" and info["retry_after_seconds"] == 8.0
    assert retries == []


@pytest.mark.parametrize(("seconds_from_now", "earliest", "latest"), [(6, 4.0, 6.0), (-60, 0.0, 0.0)])
async def test_a_retry_after_http_date_is_waited_until(
    client: Client,
    sandbox: Sandbox,
    retries: list[RetryDetails],
    seconds_from_now: float,
    earliest: float,
    latest: float,
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, retry_after=http_date(seconds_from_now), times=1))
    start = now()
    assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"]
    (wait,) = waits(retries)
    assert earliest <= wait <= latest, "an HTTP date has whole seconds, so the wait is a little under the offset"
    assert now() - start == pytest.approx(wait)


async def test_a_503_without_retry_after_is_retried_after_exponential_backoff_waits(
    client: Client, sandbox: Sandbox, retries: list[RetryDetails]
) -> None:
    sandbox.faults.add(Fault(kind="status", status=503, times=2))
    start = now()
    assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"]
    first, second = waits(retries)
    assert within(first, FIRST_BACKOFF) and within(second, SECOND_BACKOFF)
    assert [r.retry_num for r in retries] == [1, 2]
    assert now() - start == pytest.approx(first + second)
    assert len(list_calls_requests(sandbox)) == 3


async def test_a_rate_limit_without_retry_after_backs_off_and_still_says_to_wait(
    client: Client, sandbox: Sandbox, retries: list[RetryDetails]
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, times=3))
    info = error(await client.call_tool("list_calls", {}))
    assert info["code"] == "rate_limited" and "Wait" in info["next_step"] and info["retry_after_seconds"] is None
    first, second = waits(retries)
    assert within(first, FIRST_BACKOFF) and within(second, SECOND_BACKOFF)


@pytest.mark.parametrize("retry_after", ["not-a-date", "Mon, 32 Foo 2026 99:99:99 GMT", "nan", "inf", "-inf"])
async def test_an_unreadable_retry_after_is_treated_as_absent(
    client: Client, sandbox: Sandbox, retries: list[RetryDetails], retry_after: str
) -> None:
    sandbox.faults.add(Fault(kind="status", status=429, retry_after=retry_after, times=3))
    result = await client.call_tool("list_calls", {})
    info = error(result)
    assert info["code"] == "rate_limited" and info["retryable"] and info["retry_after_seconds"] is None
    assert "Retry after" not in text(result)
    first, second = waits(retries)
    assert within(first, FIRST_BACKOFF) and within(second, SECOND_BACKOFF), "backoff, as without a Retry-After"
    assert len(list_calls_requests(sandbox)) == 3


async def test_a_slow_api_hits_the_deadline_at_the_deadline_instead_of_hanging(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=600))
    async with Client(make_server(deadline_seconds=5)) as client:
        start = now()
        info = error(await client.call_tool("list_calls", {}))
        assert now() - start == pytest.approx(5)
        assert info["code"] == "deadline_exceeded" and info["retryable"]
        sandbox.faults.clear()
        assert data(await client.call_tool("list_calls", {"limit": 1}))["calls"], "the server keeps serving"


async def test_a_request_that_times_out_is_retried_then_reported_as_unavailable(
    make_server: ServerFactory, sandbox: Sandbox, retries: list[RetryDetails]
) -> None:
    sandbox.faults.add(Fault(kind="latency", seconds=600))
    async with Client(make_server(timeout_seconds=2, deadline_seconds=60)) as client:
        start = now()
        info = error(await client.call_tool("list_agents", {}))
        elapsed = now() - start
    assert info["code"] == "upstream_unavailable" and "in time" in info["message"] and info["retryable"]
    assert len([r for r in sandbox.requests if r.path == "/agents"]) == 3
    first, second = waits(retries)
    assert within(first, FIRST_BACKOFF) and within(second, SECOND_BACKOFF)
    assert elapsed == pytest.approx(3 * 2 + first + second), "three 2 s timeouts and the two waits between them"
