"""The official SDK (bimpeai 0.4.1) parses every sandbox response and raises its documented errors."""

from __future__ import annotations

import bimpeai
import pytest
from bimpeai.types.calls import CallStatus

from bimpe_mcp.sandbox import FAILED_DESTINATION, Fault, Sandbox, SandboxConfig
from tests.sandbox_support import sdk

STATUSES: list[CallStatus] = ["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]


@pytest.mark.anyio
async def test_sdk_lists_and_retrieves_every_call_of_the_live_agent(sandbox: Sandbox) -> None:
    seen: list[bimpeai.CallDetail] = []
    async with sdk(sandbox) as client:
        page: bimpeai.AsyncPage[bimpeai.Call] | None = await client.calls.list(sandbox.agents.live, limit=100)
        pages = 0
        while page is not None:
            pages += 1
            for call in page.data:
                seen.append(await client.calls.retrieve(sandbox.agents.live, call.id))
            page = await page.get_next_page() if page.has_next_page else None
    assert pages == 3
    assert len(seen) == 300
    assert {c.status for c in seen} == set(STATUSES)
    assert max(len(c.conversation_logs) for c in seen) >= 200
    assert any(m.attachments for c in seen for m in c.conversation_logs)


@pytest.mark.anyio
async def test_sdk_lists_with_every_filter_and_sort(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        for status in STATUSES:
            page = await client.calls.list(sandbox.agents.live, status=status, is_test_call=False, sort="-ended_at")
            assert page.meta is not None
            assert all(c.status == status and not c.is_test_call for c in page.data)
        searched = await client.calls.list(sandbox.agents.live, search="+234", sort="created_on", limit=5)
    assert searched.meta is not None
    assert searched.meta.limit == 5
    assert all("234" in (c.source or "") + c.destination for c in searched.data)


@pytest.mark.anyio
async def test_sdk_lists_and_retrieves_agents_channels_and_phone_numbers(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        agents = await client.agents.list(limit=100)
        details = [await client.agents.retrieve(a.id) for a in agents.data]
        channels = await client.agents.channels.list(sandbox.agents.live)
        numbers = await client.phone_numbers.list()
        number = await client.phone_numbers.retrieve(numbers.data[0].id)
        relinked = await client.phone_numbers.update(number.id, agent_id=sandbox.agents.no_channel)
    assert {a.id for a in agents.data} >= {sandbox.agents.live, sandbox.agents.no_channel, sandbox.agents.paused}
    assert {d.status for d in details} == {"live", "development", "paused"}
    assert any(c.type == "telephony" and c.is_connected for c in channels)
    assert number.inbound_enabled in (True, False)
    assert relinked.agent_id == sandbox.agents.no_channel


@pytest.mark.anyio
async def test_sdk_makes_calls_and_parses_busy_and_failed_results(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        live = await client.calls.make(sandbox.agents.live, {"destination": "+2348031234567", "is_test_call": False})
        failed = await client.calls.make(sandbox.agents.live, {"destination": FAILED_DESTINATION, "is_test_call": True})
        first = await client.calls.make(sandbox.agents.live, {"destination": "+447400900123", "is_test_call": True})
        second = await client.calls.make(sandbox.agents.live, {"destination": "+447400900124", "is_test_call": True})
        busy = await client.calls.make(sandbox.agents.live, {"destination": "+447400900125", "is_test_call": True})
        assert live.call_id is not None
        sandbox.clock.advance(1000)
        ended = await client.calls.retrieve(sandbox.agents.live, live.call_id)
        keyed = await client.calls.make(
            sandbox.agents.live, {"destination": "+2348031234567", "is_test_call": False}, idempotency_key="sdk-1"
        )
        replay = await client.calls.make(
            sandbox.agents.live, {"destination": "+2348031234567", "is_test_call": False}, idempotency_key="sdk-1"
        )
    assert live.status == "initiated"
    assert failed.status == "failed"
    assert failed.call_id is not None
    assert (first.status, second.status, busy.status) == ("initiated", "initiated", "busy")
    assert busy.call_id is None
    assert ended.status == "ended"
    assert ended.conversation_logs
    assert replay.call_id == keyed.call_id


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["expired", "invalid"])
async def test_sdk_raises_authentication_error_for_refused_keys(sandbox: Sandbox, role: str) -> None:
    key = "sk_not_a_key" if role == "invalid" else sandbox.keys.expired
    async with sdk(sandbox, api_key=key) as client:
        with pytest.raises(bimpeai.AuthenticationError) as caught:
            await client.calls.list(sandbox.agents.live)
    assert caught.value.status == 401
    assert caught.value.code == ("api_key_invalid" if role == "invalid" else "api_key_expired")
    assert caught.value.request_id


@pytest.mark.anyio
async def test_sdk_raises_permission_denied_for_a_read_only_write(sandbox: Sandbox) -> None:
    async with sdk(sandbox, "read_only") as client:
        with pytest.raises(bimpeai.PermissionDeniedError) as caught:
            await client.calls.make(sandbox.agents.live, {"destination": "+2348031234567", "is_test_call": True})
    assert caught.value.code == "insufficient_scope"
    assert str(caught.value) == "This API key is missing the required scope: calls:write."


@pytest.mark.anyio
async def test_sdk_raises_not_found_for_another_teams_agent_and_unknown_calls(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.NotFoundError, match="Agent not found"):
            await client.calls.list(sandbox.agents.other_team)
        with pytest.raises(bimpeai.NotFoundError, match="Call not found"):
            await client.calls.retrieve(sandbox.agents.live, "call_00000000")
        with pytest.raises(bimpeai.NotFoundError, match="Agent not found"):
            await client.agents.retrieve(sandbox.agents.other_team)


@pytest.mark.anyio
async def test_sdk_raises_validation_error_with_field_errors(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.ValidationError) as caught:
            await client.calls.make(sandbox.agents.live, {"destination": "0803 123 4567", "is_test_call": True})
        with pytest.raises(bimpeai.ValidationError) as paging:
            await client.calls.list(sandbox.agents.live, page=0, limit=0)
    assert caught.value.field_errors == [{"path": "destination", "message": "must be an E.164 phone number"}]
    assert [e["path"] for e in paging.value.field_errors] == ["page", "limit"]


@pytest.mark.anyio
async def test_sdk_sees_channel_not_configured_as_a_bad_request(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.BadRequestError) as caught:
            await client.calls.make(sandbox.agents.no_channel, {"destination": "+2348031234567", "is_test_call": False})
    assert not isinstance(caught.value, bimpeai.ValidationError)
    assert caught.value.code == "channel_not_configured"


@pytest.mark.anyio
async def test_sdk_raises_conflict_for_a_reused_idempotency_key(sandbox: Sandbox) -> None:
    async with sdk(sandbox) as client:
        await client.calls.make(
            sandbox.agents.live, {"destination": "+2348031234567", "is_test_call": True}, idempotency_key="x"
        )
        with pytest.raises(bimpeai.ConflictError):
            await client.calls.make(
                sandbox.agents.live, {"destination": "+2348031234568", "is_test_call": True}, idempotency_key="x"
            )


@pytest.mark.anyio
async def test_sdk_raises_rate_limit_error_with_retry_after_from_a_fault_and_from_the_limiter() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, rate_limit=2))
    sandbox.faults.add(Fault("status", status=429, retry_after="7", times=1))
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.RateLimitError) as injected:
            await client.agents.list()
        await client.agents.list()
        with pytest.raises(bimpeai.RateLimitError) as limited:
            await client.agents.list()
    assert injected.value.retry_after == 7
    assert injected.value.limit == 2
    assert limited.value.retry_after == 60
    assert limited.value.remaining == 0
    assert limited.value.code == "rate_limited"
    assert limited.value.reset_at is not None


@pytest.mark.anyio
async def test_sdk_raises_server_errors_and_retries_through_them_with_the_same_keys(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's backoff would really sleep between attempts; the attempts are what matters here.
    def no_backoff(*args: object, **kwargs: object) -> float:
        return 0.0

    monkeypatch.setattr("bimpeai._async_client.compute_backoff", no_backoff)
    sandbox.faults.add(Fault("status", status=500, times=1))
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.InternalServerError):
            await client.agents.list()
    sandbox.faults.add(Fault("status", status=503, method="POST", times=2))
    sandbox.faults.add(Fault("status", status=502, retry_after="0", method="GET", times=1))
    async with sdk(sandbox) as client:
        result = await client.calls.make(
            sandbox.agents.live,
            {"destination": "+2348031234567", "is_test_call": True},
            max_retries=2,
            idempotency_key="retry-me",
            headers={"X-Request-Id": "req-fixed"},
        )
    posts = [r for r in sandbox.requests if r.method == "POST"]
    assert result.status == "initiated"
    assert [r.status for r in posts] == [503, 503, 201]
    assert {r.headers["idempotency-key"] for r in posts} == {"retry-me"}
    assert {r.request_id for r in posts} == {"req-fixed"}


@pytest.mark.anyio
async def test_sdk_surfaces_drops_and_non_json_as_its_own_errors(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("drop", times=1))
    sandbox.faults.add(Fault("non_json", times=1, path="^/phone-numbers$"))
    async with sdk(sandbox) as client:
        with pytest.raises(bimpeai.APIConnectionError):
            await client.agents.list()
        with pytest.raises(bimpeai.InternalServerError) as html:
            await client.phone_numbers.list()
    assert str(html.value) == "HTTP 502"
    assert html.value.code is None
