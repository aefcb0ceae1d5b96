"""Fault injection through the Python API and the control routes, and the request log."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx2
import pytest

from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig
from tests.sandbox_support import api, body, calls_path, control, items, obj


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (408, "request_timeout", "Request Timeout"),
        (429, "too_many_requests", "Too Many Requests"),
        (500, "internal_error", "Internal Server Error"),
        (502, "bad_gateway", "Bad Gateway"),
        (503, "service_unavailable", "Service Unavailable"),
        (504, "gateway_timeout", "Gateway Timeout"),
        (499, "client_error", "Client Error"),
        (599, "internal_error", "Server Error"),
    ],
)
async def test_a_status_fault_answers_with_that_status_then_expires(
    sandbox: Sandbox, status: int, code: str, error: str
) -> None:
    sandbox.faults.add(Fault("status", status=status, times=2))
    async with api(sandbox) as client:
        first = await client.get("/agents")
        second = await client.get("/agents")
        third = await client.get("/agents")
    assert [first.status_code, second.status_code, third.status_code] == [status, status, 200]
    assert body(first)["code"] == code
    assert body(first)["error"] == error
    assert body(first)["statusCode"] == status
    assert body(first)["request_id"] == first.headers["x-request-id"]
    assert "x-ratelimit-limit" in first.headers
    assert "retry-after" not in first.headers
    assert sandbox.faults.active == ()


@pytest.mark.anyio
@pytest.mark.parametrize("retry_after", ["7", "Wed, 01 Jul 2026 09:00:30 GMT"])
async def test_retry_after_is_sent_verbatim(sandbox: Sandbox, retry_after: str) -> None:
    sandbox.faults.add(Fault("status", status=429, retry_after=retry_after, times=1, code="rate_limited"))
    async with api(sandbox) as client:
        response = await client.get("/agents")
    assert response.status_code == 429
    assert response.headers["retry-after"] == retry_after
    assert body(response)["code"] == "rate_limited"


@pytest.mark.anyio
async def test_faults_are_scoped_by_method_and_path_and_never_touch_control_routes(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("status", status=500, method="post", path=r"/calls$"))
    sandbox.faults.add(Fault("status", status=502, path=r"^/phone-numbers"))
    async with api(sandbox) as client:
        listed = await client.get(calls_path(sandbox.agents.live))
        placed = await client.post(
            calls_path(sandbox.agents.live), json={"destination": "+14155550100", "is_test_call": True}
        )
        numbers = await client.get("/phone-numbers")
        agents = await client.get("/agents")
    async with control(sandbox) as ctl:
        health = await ctl.get("/_sandbox/health")
    assert listed.status_code == 200
    assert placed.status_code == 500
    assert numbers.status_code == 502
    assert agents.status_code == 200
    assert health.status_code == 200
    assert len(sandbox.faults.active) == 2
    assert sandbox.faults.active[0].times is None
    sandbox.faults.clear()
    assert len(sandbox.faults) == 0


@pytest.mark.anyio
async def test_active_faults_show_how_many_requests_they_still_affect(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("status", status=503, times=3))
    async with api(sandbox) as client:
        await client.get("/agents")
    assert sandbox.faults.active == (Fault("status", status=503, times=2),)


@pytest.mark.anyio
async def test_faults_set_at_start_are_active_from_the_first_request() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, faults=(Fault("status", status=500, times=1),)))
    async with api(sandbox) as client:
        first = await client.get("/agents")
        second = await client.get("/agents")
    assert [first.status_code, second.status_code] == [500, 200]


@pytest.mark.anyio
async def test_a_dropped_connection_is_an_httpx_transport_error_and_nothing_runs(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("drop", method="POST", times=1))
    async with api(sandbox) as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.post(
                calls_path(sandbox.agents.live), json={"destination": "+14155550100", "is_test_call": True}
            )
        listed = await client.get(calls_path(sandbox.agents.live), params={"limit": 1})
    assert listed.json()["meta"]["total_count"] == 300
    assert sandbox.requests[0].status is None
    assert sandbox.requests[0].fault == "drop"


@pytest.mark.anyio
async def test_latency_delays_the_answer_and_a_client_read_timeout_fires(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("latency", seconds=0.001, times=1))
    sandbox.faults.add(Fault("latency", seconds=30, times=1, path="^/phone-numbers$"))
    async with api(sandbox) as client:
        slow = await client.get("/agents")
        with pytest.raises(httpx2.ReadTimeout):
            await client.get("/phone-numbers", timeout=httpx2.Timeout(5.0, read=0.02))
        after = await client.get("/phone-numbers")
    assert slow.status_code == 200
    assert after.status_code == 200
    assert sandbox.faults.active == ()


@pytest.mark.anyio
async def test_latency_combines_with_a_status_fault(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("latency", seconds=0.001, times=1))
    sandbox.faults.add(Fault("status", status=504, times=1))
    async with api(sandbox) as client:
        response = await client.get("/agents")
    assert response.status_code == 504
    assert sandbox.faults.active == ()


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "expected"), [(None, 502), (503, 503), (200, 200)])
async def test_non_json_fault_returns_an_html_page(sandbox: Sandbox, status: int | None, expected: int) -> None:
    sandbox.faults.add(Fault("non_json", status=status, times=1))
    async with api(sandbox) as client:
        response = await client.get("/agents")
    assert response.status_code == expected
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<html>")
    with pytest.raises(json.JSONDecodeError):
        response.json()


@pytest.mark.anyio
async def test_malformed_variants_break_a_2xx_envelope(sandbox: Sandbox) -> None:
    results: dict[str, httpx2.Response] = {}
    async with api(sandbox) as client:
        for variant in ("no_message", "data_null", "truncated_json", "html_200", "empty_body", "partial_meta"):
            sandbox.faults.add(Fault("malformed", variant=variant, times=1))
            results[variant] = await client.get(calls_path(sandbox.agents.live))
        sandbox.faults.add(Fault("malformed", times=1))
        default = await client.get("/agents")
        sandbox.faults.add(Fault("malformed", times=1))
        error = await client.get("/agents/agt_missing")
        healthy = await client.get("/agents")
    assert all(r.status_code == 200 for r in results.values())
    assert "message" not in results["no_message"].json()
    assert results["data_null"].json()["data"] is None
    with pytest.raises(json.JSONDecodeError):
        results["truncated_json"].json()
    assert results["html_200"].headers["content-type"].startswith("text/html")
    assert results["empty_body"].content == b""
    assert results["partial_meta"].json()["meta"] == {"total_count": 1, "current_page": 1}
    assert "message" not in default.json()
    assert error.status_code == 404
    assert body(error)["message"] == "Agent not found"
    assert "message" not in healthy.json()


def _first(response: httpx2.Response) -> dict[str, Any]:
    data: Any = response.json()["data"]
    first: object = cast("list[object]", data)[0] if isinstance(data, list) else data
    assert isinstance(first, dict)
    return cast("dict[str, Any]", first)


@pytest.mark.anyio
async def test_drift_variants_change_calls_agents_and_results_like_a_newer_server(sandbox: Sandbox) -> None:
    agent = sandbox.agents.live
    out: dict[str, dict[str, Any]] = {}
    async with api(sandbox) as client:
        first_call = items(await client.get(calls_path(agent), params={"limit": 1}))[0]["id"]
        for variant in ("unknown_status", "extra_fields", "nulls", "types"):
            sandbox.faults.add(Fault("drift", variant=variant, times=4))
            out[f"{variant}:list"] = _first(await client.get(calls_path(agent)))
            out[f"{variant}:detail"] = _first(await client.get(calls_path(agent, first_call)))
            out[f"{variant}:agents"] = _first(await client.get("/agents"))
            out[f"{variant}:make"] = _first(
                await client.post(calls_path(agent), json={"destination": "+14155550100", "is_test_call": False})
            )
        sandbox.faults.add(Fault("drift", times=1))
        default = _first(await client.get(calls_path(agent)))
        envelope = None
        sandbox.faults.add(Fault("drift", variant="extra_fields", times=1))
        envelope = (await client.get("/agents")).json()
    assert out["unknown_status:list"]["status"] == "in_progress"
    assert out["unknown_status:detail"]["status"] == "in_progress"
    assert out["unknown_status:agents"]["status"] == "archived"
    assert out["unknown_status:make"]["status"] == "queued"
    assert out["extra_fields:list"]["sentiment"] == "positive"
    assert out["extra_fields:agents"]["x_trace"] == {"region": "eu-west-1", "shard": 7}
    assert out["nulls:list"]["destination"] is None
    assert out["nulls:detail"]["conversation_logs"] is None
    assert out["nulls:agents"]["description"] is None
    assert out["types:list"]["duration_seconds"] == 42.5
    assert out["types:list"]["created_on"] == 1782896400
    assert default["status"] == "in_progress"
    assert envelope is not None
    assert envelope["api_version"] == "2026-09-01"
    assert envelope["meta"]["next_cursor"] == "opaque"


@pytest.mark.anyio
async def test_drift_handles_envelopes_without_objects(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("drift", variant="types", times=1))
    async with api(sandbox) as client:
        channels = await client.get(f"/agents/{sandbox.agents.live}/channels")
    assert {c["is_connected"] for c in items(channels)} == {"yes"}


@pytest.mark.anyio
async def test_a_status_fault_after_the_handler_loses_the_answer_but_not_the_operation(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("status", status=504, method="POST", after=True, times=1))
    sandbox.faults.add(Fault("non_json", method="POST", after=True, times=1))
    call = {"destination": "+14155550100", "is_test_call": True}
    async with api(sandbox) as client:
        lost = await client.post(calls_path(sandbox.agents.live), json=call)
        html = await client.post(calls_path(sandbox.agents.live), json=call)
        total = (await client.get(calls_path(sandbox.agents.live))).json()["meta"]["total_count"]
    assert lost.status_code == 504
    assert html.status_code == 502
    assert total == 302


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "explode"},
        {"kind": "status"},
        {"kind": "status", "status": 302},
        {"kind": "non_json", "status": 100},
        {"kind": "latency", "seconds": -1},
        {"kind": "status", "status": 500, "times": 0},
        {"kind": "malformed", "variant": "wrong"},
        {"kind": "drift", "variant": "wrong"},
        {"kind": "status", "status": 500, "path": "("},
    ],
)
def test_invalid_faults_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Fault(**kwargs)


@pytest.mark.anyio
async def test_control_routes_add_list_and_clear_faults(sandbox: Sandbox) -> None:
    async with control(sandbox) as ctl:
        added = await ctl.post("/_sandbox/faults", json={"kind": "status", "status": 503, "times": 1})
        listed = await ctl.get("/_sandbox/faults")
        async with api(sandbox) as client:
            failed = await client.get("/agents")
        await ctl.post("/_sandbox/faults", json={"kind": "drop"})
        cleared = await ctl.delete("/_sandbox/faults")
        bad_kind = await ctl.post("/_sandbox/faults", json={"kind": "explode"})
        bad_field = await ctl.post("/_sandbox/faults", json={"kind": "drop", "colour": "red"})
        not_object = await ctl.post("/_sandbox/faults", json=["drop"])
        not_json = await ctl.post("/_sandbox/faults", content=b"{")
    assert added.status_code == 201
    assert added.json()["faults"][0]["status"] == 503
    assert listed.json()["faults"][0]["times"] == 1
    assert failed.status_code == 503
    assert cleared.json() == {"faults": []}
    assert [r.status_code for r in (bad_kind, bad_field, not_object, not_json)] == [400, 400, 400, 400]
    assert sandbox.faults.active == ()


@pytest.mark.anyio
async def test_control_routes_move_the_clock_and_describe_the_sandbox(sandbox: Sandbox) -> None:
    async with control(sandbox) as ctl:
        before = await ctl.get("/_sandbox/clock")
        advanced = await ctl.post("/_sandbox/clock/advance", json={"seconds": 90})
        backwards = await ctl.post("/_sandbox/clock/advance", json={"seconds": -1})
        garbage = await ctl.post("/_sandbox/clock/advance", json={"minutes": 1})
        not_object = await ctl.post("/_sandbox/clock/advance", json=[1])
        info = await ctl.get("/_sandbox/info")
        health = await ctl.get("/_sandbox/health")
    assert before.json() == {"now": "2026-07-01T09:00:00.000Z", "speed": 0.0}
    assert advanced.json()["now"] == "2026-07-01T09:01:30.000Z"
    assert [backwards.status_code, garbage.status_code, not_object.status_code] == [400, 400, 400]
    described = info.json()
    assert described["keys"]["full"] == sandbox.keys.full
    assert described["agents"]["live"] == sandbox.agents.live
    assert described["scripted_destinations"]["busy"] == "+15005550002"
    assert described["api_prefix"] == "/api/v1/console"
    assert health.json() == {"status": "ok", "now": "2026-07-01T09:01:30.000Z"}
    assert sandbox.requests == []


@pytest.mark.anyio
async def test_the_request_log_records_what_was_sent_but_never_the_key(sandbox: Sandbox) -> None:
    async with api(sandbox, **{"User-Agent": "probe/1"}) as client:
        await client.get(calls_path(sandbox.agents.live), params={"limit": 2}, headers={"X-Request-Id": "r-1"})
        await client.post(
            calls_path(sandbox.agents.live),
            json={"destination": "+14155550100", "is_test_call": True},
            headers={"Idempotency-Key": "idem-1"},
        )
    async with api(sandbox, None, **{"X-Api-Key": "sk_unknown"}) as client:
        await client.get("/agents")
    async with api(sandbox, None) as client:
        await client.get("/agents")
    first, second, third, fourth = sandbox.requests
    assert (first.method, first.path, first.query, first.endpoint) == (
        "GET",
        f"/agents/{sandbox.agents.live}/calls",
        "limit=2",
        "calls.list",
    )
    assert first.headers["x-request-id"] == "r-1"
    assert first.request_id == "r-1"
    assert first.headers["user-agent"] == "probe/1"
    assert (first.auth, first.key, first.status) == ("bearer", "full", 200)
    assert first.at == "2026-07-01T09:00:00.000Z"
    assert second.headers["idempotency-key"] == "idem-1"
    assert second.status == 201
    assert (third.auth, third.key, third.status) == ("x-api-key", "unknown", 401)
    assert (fourth.auth, fourth.key) == (None, None)
    assert sandbox.keys.full not in repr(sandbox.requests)
    assert "sk_unknown" not in repr(sandbox.requests)
    async with control(sandbox) as ctl:
        logged = await ctl.get("/_sandbox/requests")
        emptied = await ctl.delete("/_sandbox/requests")
    assert [r["status"] for r in logged.json()["requests"]] == [200, 201, 401, 401]
    assert emptied.json() == {"requests": []}
    assert sandbox.requests == []


@pytest.mark.anyio
async def test_the_request_log_keeps_only_the_newest_entries() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, max_recorded_requests=3))
    async with api(sandbox) as client:
        for page in range(1, 6):
            await client.get("/agents", params={"page": page})
    assert [r.query for r in sandbox.requests] == ["page=3", "page=4", "page=5"]


@pytest.mark.anyio
async def test_recorded_requests_show_the_malformed_fault_and_replays(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("malformed", variant="data_null", times=1))
    async with api(sandbox) as client:
        response = await client.get(f"/agents/{sandbox.agents.live}")
        ok = obj(await client.get(f"/agents/{sandbox.agents.live}"))
    assert response.json()["data"] is None
    assert ok["id"] == sandbox.agents.live
    assert [r.fault for r in sandbox.requests] == ["malformed", None]
