"""Placing calls: validation, channels, capacity, scripted outcomes, the clock-driven lifecycle, idempotency."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from bimpe_mcp.sandbox import (
    BUSY_DESTINATION,
    CANCELLED_DESTINATION,
    FAILED_DESTINATION,
    NO_ANSWER_DESTINATION,
    REPLAY_HEADER,
    Fault,
    Sandbox,
    SandboxConfig,
)
from tests.sandbox_support import TIMESTAMP_RE, all_calls, api, body, calls_path, items, meta, obj

NUMBER = "+2348031234567"


async def place(
    client: httpx2.AsyncClient,
    agent_id: str,
    destination: str = NUMBER,
    *,
    test: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx2.Response:
    return await client.post(
        calls_path(agent_id), json={"destination": destination, "is_test_call": test}, headers=headers
    )


async def log_of(client: httpx2.AsyncClient, agent_id: str, call_id: str) -> dict[str, Any]:
    response = await client.get(calls_path(agent_id, call_id))
    assert response.status_code == 200
    return obj(response)


@pytest.mark.anyio
async def test_a_placed_call_moves_queued_ringing_answered_ended_on_the_clock(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        placed = await place(client, agent, test=False)
        call_id = obj(placed)["call_id"]
        queued = await log_of(client, agent, call_id)
        sandbox.clock.advance(2)
        ringing = await log_of(client, agent, call_id)
        sandbox.clock.advance(5)
        answered = await log_of(client, agent, call_id)
        sandbox.clock.advance(1000)
        ended = await log_of(client, agent, call_id)
    assert placed.status_code == 201
    assert obj(placed) == {"status": "initiated", "call_id": call_id, "detail": None}
    assert queued["status"] == "queued"
    assert queued["created_on"] == "2026-07-01T09:00:00.000Z"
    assert queued["ringing_at"] is None
    assert queued["conversation_logs"] == []
    assert queued["duration_seconds"] is None
    assert queued["direction"] == "outbound"
    assert queued["is_test_call"] is False
    assert queued["source"] == "+2342017004415"
    assert queued["destination"] == NUMBER
    assert ringing["status"] == "ringing"
    assert ringing["ringing_at"] == "2026-07-01T09:00:02.000Z"
    assert answered["status"] == "answered"
    assert answered["answered_at"] == answered["started_at"] == "2026-07-01T09:00:07.000Z"
    assert answered["conversation_logs"] == []
    assert ended["status"] == "ended"
    assert ended["end_reason"] == "completed"
    assert isinstance(ended["duration_seconds"], int)
    assert 45 <= ended["duration_seconds"] <= 180
    assert TIMESTAMP_RE.match(ended["ended_at"])
    assert len(ended["conversation_logs"]) >= 10
    assert ended["conversation_logs"][0]["role"] == "assistant"
    assert "calling from Lekki Smile Dental Clinic" in ended["conversation_logs"][0]["message"]


@pytest.mark.anyio
async def test_placed_calls_appear_in_lists_filters_and_sorts_by_their_current_state(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        first = obj(await place(client, agent))["call_id"]
        sandbox.clock.advance(1000)
        second = obj(await place(client, agent, "+14155550199", test=False))["call_id"]
        newest = items(await client.get(calls_path(agent), params={"limit": 3}))
        queued = items(await client.get(calls_path(agent), params={"status": "queued", "limit": 100}))
        ended_tests = await client.get(calls_path(agent), params={"status": "ended", "is_test_call": "true"})
        by_duration = await all_calls(client, agent, sort="-duration_seconds")
        total = meta(await client.get(calls_path(agent)))["total_count"]
        by_search = items(await client.get(calls_path(agent), params={"search": "+1 415 555 0199"}))
        oldest_last = await client.get(calls_path(agent), params={"sort": "created_on", "limit": 1, "page": 302})
        detail = await log_of(client, agent, first)
    assert [c["id"] for c in newest[:2]] == [second, first]
    assert second in {c["id"] for c in queued}
    assert first not in {c["id"] for c in queued}
    assert first in {c["id"] for c in items(ended_tests)}
    durations = [c["duration_seconds"] for c in by_duration]
    present = [d for d in durations if d is not None]
    assert durations[: len(present)] == present == sorted(present, reverse=True)
    assert by_duration[[c["id"] for c in by_duration].index(first)]["duration_seconds"] == detail["duration_seconds"]
    assert total == 302
    assert [c["id"] for c in by_search] == [second]
    assert [c["id"] for c in items(oldest_last)] == [second]


@pytest.mark.anyio
async def test_placed_calls_merge_into_every_page_of_a_sorted_list(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        placed = [obj(await place(client, agent, f"+4474009001{i:02d}"))["call_id"] for i in range(2)]
        sandbox.clock.advance(1000)
        pages: list[dict[str, Any]] = []
        for page in range(1, 8):
            response = await client.get(
                calls_path(agent), params={"sort": "duration_seconds", "limit": 50, "page": page}
            )
            pages.extend(items(response))
    ids = [c["id"] for c in pages]
    assert len(ids) == 302
    assert len(set(ids)) == 302
    assert set(placed) <= set(ids)
    durations = [c["duration_seconds"] for c in pages]
    present = [d for d in durations if d is not None]
    assert durations[: len(present)] == present == sorted(present)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "messages"),
    [
        ({"destination": "08031234567", "is_test_call": True}, ["destination: must be an E.164 phone number"]),
        ({"destination": "+0123456789", "is_test_call": True}, ["destination: must be an E.164 phone number"]),
        ({"destination": "+1234567890123456", "is_test_call": True}, ["destination: must be an E.164 phone number"]),
        ({"destination": 2348031234567, "is_test_call": True}, ["destination: must be a string"]),
        ({"is_test_call": True}, ["destination: is required"]),
        ({"destination": NUMBER}, ["is_test_call: is required"]),
        ({"destination": NUMBER, "is_test_call": "true"}, ["is_test_call: must be a boolean"]),
        ({}, ["destination: is required", "is_test_call: is required"]),
    ],
)
async def test_place_call_validates_the_body_naming_each_field(
    sandbox: Sandbox, payload: dict[str, Any], messages: list[str]
) -> None:
    async with api(sandbox) as client:
        response = await client.post(calls_path(sandbox.agents.live), json=payload)
        total = meta(await client.get(calls_path(sandbox.agents.live)))["total_count"]
    assert response.status_code == 400
    assert body(response)["code"] == "validation_error"
    assert body(response)["message"] == messages
    assert [e["path"] for e in body(response)["errors"]] == [m.split(":")[0] for m in messages]
    assert total == 300


@pytest.mark.anyio
async def test_place_call_ignores_unknown_body_keys_and_refuses_malformed_json(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        extra = await client.post(
            calls_path(sandbox.agents.live),
            json={"destination": NUMBER, "is_test_call": True, "idempotency_key": "k", "note": 1},
        )
        broken = await client.post(
            calls_path(sandbox.agents.live), content=b'{"destination":', headers={"Content-Type": "application/json"}
        )
    assert extra.status_code == 201
    assert obj(extra)["status"] == "initiated"
    assert broken.status_code == 400
    assert body(broken) | {"request_id": ""} == {
        "message": "Malformed JSON in request body",
        "error": "Bad Request",
        "code": "bad_request",
        "statusCode": 400,
        "request_id": "",
    }


@pytest.mark.anyio
async def test_a_live_call_needs_a_channel_but_a_test_call_does_not(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        live = await place(client, sandbox.agents.no_channel, test=False)
        test = await place(client, sandbox.agents.no_channel, test=True)
        unknown = await place(client, "agt_nobody", test=True)
        log = await log_of(client, sandbox.agents.no_channel, obj(test)["call_id"])
    assert live.status_code == 400
    assert body(live)["code"] == "channel_not_configured"
    assert test.status_code == 201
    assert log["source"] is None
    assert log["is_test_call"] is True
    assert unknown.status_code == 404
    assert body(unknown)["message"] == "Agent not found"


@pytest.mark.anyio
async def test_paused_agents_place_calls_unless_the_switch_blocks_them(sandbox: Sandbox) -> None:
    blocking = Sandbox(SandboxConfig(speed=0.0, paused_agent_blocks_calls=True))
    async with api(sandbox) as client:
        allowed = await place(client, sandbox.agents.paused, test=False)
    async with api(blocking) as client:
        blocked = await place(client, blocking.agents.paused, test=False)
    assert allowed.status_code == 201
    assert blocked.status_code == 400
    assert body(blocked)["code"] == "bad_request"
    assert "paused" in body(blocked)["message"]


@pytest.mark.anyio
async def test_test_calls_beyond_capacity_are_busy_until_one_ends(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        first = await place(client, agent)
        second = await place(client, agent, "+254712345678")
        third = await place(client, agent, "+254712345679")
        live = await place(client, agent, test=False)
        sandbox.clock.advance(1000)
        fourth = await place(client, agent)
        total = meta(await client.get(calls_path(agent)))["total_count"]
    assert [obj(r)["status"] for r in (first, second, live, fourth)] == ["initiated"] * 4
    assert third.status_code == 201
    assert obj(third)["status"] == "busy"
    assert obj(third)["call_id"] is None
    assert "capacity" in obj(third)["detail"]
    assert total == 304


@pytest.mark.anyio
async def test_capacity_is_a_setting() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, test_call_capacity=0))
    async with api(sandbox) as client:
        response = await place(client, sandbox.agents.live)
    assert obj(response)["status"] == "busy"


@pytest.mark.anyio
async def test_scripted_busy_destination_rings_then_ends_busy(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        placed = obj(await place(client, agent, BUSY_DESTINATION))
        sandbox.clock.advance(3)
        ringing = await log_of(client, agent, placed["call_id"])
        sandbox.clock.advance(10)
        busy = await log_of(client, agent, placed["call_id"])
    assert placed["status"] == "initiated"
    assert ringing["status"] == "ringing"
    assert busy["status"] == "busy"
    assert busy["error_reason"] == "callee_busy"
    assert busy["ended_at"] == "2026-07-01T09:00:08.000Z"
    assert busy["duration_seconds"] is None
    assert busy["conversation_logs"] == []


@pytest.mark.anyio
async def test_scripted_failed_destination_fails_at_once_with_a_failed_log(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        placed = await place(client, agent, FAILED_DESTINATION)
        log = await log_of(client, agent, obj(placed)["call_id"])
    assert placed.status_code == 201
    assert obj(placed)["status"] == "failed"
    assert obj(placed)["detail"] == "destination unreachable"
    assert log["status"] == "failed"
    assert log["error_reason"] == "destination_unreachable"
    assert log["ringing_at"] is None


@pytest.mark.anyio
async def test_scripted_cancelled_and_no_answer_destinations(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        cancelled = obj(await place(client, agent, CANCELLED_DESTINATION))["call_id"]
        no_answer = obj(await place(client, agent, NO_ANSWER_DESTINATION))["call_id"]
        sandbox.clock.advance(20)
        first = await log_of(client, agent, cancelled)
        still_ringing = await log_of(client, agent, no_answer)
        sandbox.clock.advance(20)
        second = await log_of(client, agent, no_answer)
    assert first["status"] == "cancelled"
    assert first["end_reason"] == "caller_cancelled"
    assert first["error_reason"] is None
    assert still_ringing["status"] == "ringing"
    assert second["status"] == "failed"
    assert second["error_reason"] == "no_answer"


@pytest.mark.anyio
async def test_a_repeated_idempotency_key_replays_the_original_and_creates_nothing(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        first = await place(client, agent, headers={"Idempotency-Key": "key-1"})
        again = await place(client, agent, headers={"Idempotency-Key": "key-1", "X-Request-Id": "retry-2"})
        total = meta(await client.get(calls_path(agent)))["total_count"]
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers[REPLAY_HEADER] == "true"
    assert REPLAY_HEADER.lower() not in first.headers
    assert again.headers["x-request-id"] == "retry-2"
    assert total == 301
    assert [r.idempotent_replay for r in sandbox.requests if r.method == "POST"] == [False, True]


@pytest.mark.anyio
async def test_the_same_key_with_another_body_is_409_conflict_unless_switched_off(sandbox: Sandbox) -> None:
    lenient = Sandbox(SandboxConfig(speed=0.0, idempotency_conflict_on_body_mismatch=False))
    async with api(sandbox) as client:
        await place(client, sandbox.agents.live, headers={"Idempotency-Key": "k"})
        conflict = await place(client, sandbox.agents.live, "+447400900999", headers={"Idempotency-Key": "k"})
    async with api(lenient) as client:
        original = await place(client, lenient.agents.live, headers={"Idempotency-Key": "k"})
        replay = await place(client, lenient.agents.live, "+447400900999", headers={"Idempotency-Key": "k"})
    assert conflict.status_code == 409
    assert body(conflict)["code"] == "conflict"
    assert body(conflict)["error"] == "Conflict"
    assert replay.content == original.content


@pytest.mark.anyio
async def test_idempotency_keys_are_scoped_by_api_key_and_path(sandbox: Sandbox) -> None:
    sandbox.add_key("sk_second_full", scopes={"calls:write", "calls:read"})
    async with api(sandbox) as client:
        a = await place(client, sandbox.agents.live, headers={"Idempotency-Key": "shared"})
        b = await place(client, sandbox.agents.no_channel, headers={"Idempotency-Key": "shared"})
    async with api(sandbox, None, Authorization="Bearer sk_second_full") as other:
        sandbox.clock.advance(1000)
        c = await place(other, sandbox.agents.live, headers={"Idempotency-Key": "shared"})
    assert len({obj(r)["call_id"] for r in (a, b, c)}) == 3


@pytest.mark.anyio
async def test_client_errors_are_replayed_but_5xx_and_429_are_not_cached(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        invalid = await client.post(
            calls_path(agent), json={"destination": "x", "is_test_call": True}, headers={"Idempotency-Key": "bad"}
        )
        replayed = await client.post(
            calls_path(agent), json={"destination": "x", "is_test_call": True}, headers={"Idempotency-Key": "bad"}
        )
        sandbox.faults.add(Fault("status", status=503, method="POST", times=1))
        sandbox.faults.add(Fault("status", status=429, method="POST", times=1))
        unavailable = await place(client, agent, headers={"Idempotency-Key": "k"})
        limited = await place(client, agent, headers={"Idempotency-Key": "k"})
        placed = await place(client, agent, headers={"Idempotency-Key": "k"})
        total = meta(await client.get(calls_path(agent)))["total_count"]
    assert invalid.status_code == replayed.status_code == 400
    assert replayed.headers[REPLAY_HEADER] == "true"
    assert unavailable.status_code == 503
    assert limited.status_code == 429
    assert placed.status_code == 201
    assert REPLAY_HEADER.lower() not in placed.headers
    assert total == 301


@pytest.mark.anyio
async def test_idempotency_entries_expire_after_the_window() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, idempotency_window_seconds=60))
    async with api(sandbox) as client:
        first = await place(client, sandbox.agents.live, headers={"Idempotency-Key": "k"})
        sandbox.clock.advance(61)
        second = await place(client, sandbox.agents.live, headers={"Idempotency-Key": "k"})
    assert obj(first)["call_id"] != obj(second)["call_id"]


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_empty_or_overlong_idempotency_key_is_a_validation_error(sandbox: Sandbox, key: str) -> None:
    async with api(sandbox) as client:
        response = await place(client, sandbox.agents.live, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert body(response)["message"] == ["Idempotency-Key: must be between 1 and 255 characters"]


@pytest.mark.anyio
async def test_a_connection_dropped_after_the_call_was_placed_is_safe_to_retry_with_the_same_key(
    sandbox: Sandbox,
) -> None:
    agent = sandbox.agents.live
    sandbox.faults.add(Fault("drop", method="POST", after=True, times=1))
    async with api(sandbox) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await place(client, agent, headers={"Idempotency-Key": "k"})
        retried = await place(client, agent, headers={"Idempotency-Key": "k"})
        calls = items(await client.get(calls_path(agent), params={"limit": 2}))
    assert retried.headers[REPLAY_HEADER] == "true"
    assert calls[0]["id"] == obj(retried)["call_id"]
    assert calls[1]["created_on"] < calls[0]["created_on"]
    posts = [r for r in sandbox.requests if r.method == "POST"]
    assert [r.status for r in posts] == [None, 201]
    assert [r.fault for r in posts] == ["drop", None]
    assert {r.headers["idempotency-key"] for r in posts} == {"k"}


@pytest.mark.anyio
async def test_other_teams_key_cannot_place_calls_on_our_agents(sandbox: Sandbox) -> None:
    async with api(sandbox, "other_team") as client:
        response = await place(client, sandbox.agents.live)
        own = await place(client, sandbox.agents.other_team, test=False)
    assert response.status_code == 404
    assert own.status_code == 201


@pytest.mark.anyio
@pytest.mark.parametrize("sort", ["created_on", "-ended_at", "status", "-status"])
async def test_placed_calls_take_their_place_in_every_sort_order(sandbox: Sandbox, sort: str) -> None:
    agent = sandbox.agents.live
    async with api(sandbox) as client:
        placed = obj(await place(client, agent, BUSY_DESTINATION))["call_id"]
        sandbox.clock.advance(10)
        calls = await all_calls(client, agent, sort=sort)
    field = sort.lstrip("-")
    values = [c[field] for c in calls]
    present = [v for v in values if v is not None]
    assert len(calls) == 301
    assert placed in {c["id"] for c in calls}
    assert values[: len(present)] == present == sorted(present, reverse=sort.startswith("-"))


@pytest.mark.anyio
async def test_a_non_json_body_is_fingerprinted_as_bytes_for_idempotency(sandbox: Sandbox) -> None:
    path = calls_path(sandbox.agents.live)
    async with api(sandbox) as client:
        first = await client.post(path, content=b"not json", headers={"Idempotency-Key": "raw"})
        same = await client.post(path, content=b"not json", headers={"Idempotency-Key": "raw"})
        other = await client.post(path, content=b"other", headers={"Idempotency-Key": "raw"})
    assert first.status_code == same.status_code == 400
    assert same.headers[REPLAY_HEADER] == "true"
    assert other.status_code == 409


@pytest.mark.anyio
async def test_expired_idempotency_entries_are_pruned_once_the_cache_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bimpe_mcp.sandbox.pipeline.IDEMPOTENCY_PRUNE_AT", 3)
    sandbox = Sandbox(SandboxConfig(speed=0.0, idempotency_window_seconds=60))
    async with api(sandbox) as client:
        for i in range(3):
            await client.patch("/phone-numbers/pn_missing", json={"label": "x"}, headers={"Idempotency-Key": f"k{i}"})
        full = sandbox.api.cached_responses
        sandbox.clock.advance(61)
        await client.patch("/phone-numbers/pn_missing", json={"label": "x"}, headers={"Idempotency-Key": "fresh"})
    assert full == 3
    assert sandbox.api.cached_responses == 1
