"""The sandbox's read routes, envelopes, auth, scopes, pagination, search, sort and rate limits, over HTTP."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from tests.sandbox_support import (
    META_FIELDS,
    TIMESTAMP_RE,
    UUID_RE,
    all_calls,
    api,
    body,
    calls_path,
    items,
    meta,
    obj,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
STATUSES = ["queued", "ringing", "answered", "ended", "busy", "failed", "cancelled"]


@pytest.mark.anyio
async def test_agents_list_is_an_envelope_with_six_field_meta_holding_only_the_teams_agents(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        response = await client.get("/agents")
    assert response.status_code == 200
    payload = body(response)
    assert payload["message"] == "Success"
    assert set(payload["meta"]) == META_FIELDS
    assert payload["meta"] == {
        "total_count": 5,
        "page_count": 1,
        "current_page": 1,
        "limit": 20,
        "has_next_page": False,
        "has_previous_page": False,
    }
    ids = {a["id"] for a in items(response)}
    assert {sandbox.agents.live, sandbox.agents.no_channel, sandbox.agents.paused} <= ids
    assert sandbox.agents.other_team not in ids
    for agent in items(response):
        assert isinstance(agent["description"], str)
        assert agent["persona"] in ("professional", "friendly", "concise", None)
        assert agent["status"] in ("development", "live", "paused", None)
        assert TIMESTAMP_RE.match(agent["created_at"])
        assert re.match(r"^[A-Za-z0-9_-]{1,50}$", agent["id"])


@pytest.mark.anyio
async def test_agent_roles_match_their_status_and_channels(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        live = obj(await client.get(f"/agents/{sandbox.agents.live}"))
        paused = obj(await client.get(f"/agents/{sandbox.agents.paused}"))
        no_channel = await client.get(f"/agents/{sandbox.agents.no_channel}/channels")
        live_channels = await client.get(f"/agents/{sandbox.agents.live}/channels")
    assert live["status"] == "live"
    assert paused["status"] == "paused"
    assert paused["status_reason"]
    assert [c["type"] for c in live["channels"]] == ["webchat", "whatsapp", "telephony"]
    assert live["knowledge_bases"][0]["type"] == "text"
    assert live["integrations"][0]["is_connected"] is True
    assert set(body(live_channels)) == {"message", "data"}
    telephony = [c for c in items(live_channels) if c["type"] == "telephony"]
    assert telephony and telephony[0]["is_connected"] is True
    assert all(c["type"] not in ("telephony", "voice") for c in items(no_channel))


@pytest.mark.anyio
async def test_agents_can_be_searched_and_sorted(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        by_name = items(await client.get("/agents", params={"sort": "name"}))
        by_name_desc = items(await client.get("/agents", params={"sort": "-name"}))
        dental = items(await client.get("/agents", params={"search": "DENTAL"}))
        by_business = items(await client.get("/agents", params={"search": "roasters"}))
        by_description = items(await client.get("/agents", params={"search": "trial lessons"}))
        newest = items(await client.get("/agents"))
        oldest = items(await client.get("/agents", params={"sort": "created_at"}))
        updated = items(await client.get("/agents", params={"sort": "-updated_at"}))
    names = [a["name"] for a in by_name]
    assert names == sorted(names, key=str.lower)
    assert [a["name"] for a in by_name_desc] == names[::-1]
    assert [a["id"] for a in dental] == [sandbox.agents.live]
    assert [a["id"] for a in by_business] == [sandbox.agents.paused]
    assert len(by_description) == 1
    assert [a["created_at"] for a in newest] == sorted((a["created_at"] for a in newest), reverse=True)
    assert [a["id"] for a in oldest] == [a["id"] for a in newest][::-1]
    assert [a["updated_at"] for a in updated] == sorted((a["updated_at"] for a in updated), reverse=True)


@pytest.mark.anyio
async def test_agents_list_pages_follow_the_meta_arithmetic(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        first = await client.get("/agents", params={"limit": 2})
        last = await client.get("/agents", params={"limit": 2, "page": 3})
        beyond = await client.get("/agents", params={"limit": 2, "page": 4})
    assert meta(first) == {
        "total_count": 5,
        "page_count": 3,
        "current_page": 1,
        "limit": 2,
        "has_next_page": True,
        "has_previous_page": False,
    }
    assert len(items(last)) == 1
    assert meta(last)["has_next_page"] is False
    assert items(beyond) == []
    assert meta(beyond)["has_next_page"] is False
    assert meta(beyond)["has_previous_page"] is True


@pytest.mark.anyio
async def test_request_id_is_echoed_or_generated_and_rate_limit_headers_are_on_every_response(
    sandbox: Sandbox,
) -> None:
    async with api(sandbox) as client:
        echoed = await client.get("/agents", headers={"X-Request-Id": "req-123"})
        generated = await client.get("/agents")
        missing = await client.get("/agents/agt_missing")
        invalid = await client.get("/agents", params={"page": "0"})
    async with api(sandbox, role=None) as anonymous:
        unauthorised = await anonymous.get("/agents")
    assert echoed.headers["x-request-id"] == "req-123"
    assert UUID_RE.match(generated.headers["x-request-id"])
    assert body(missing)["request_id"] == missing.headers["x-request-id"]
    for response in (echoed, generated, missing, invalid, unauthorised):
        assert response.headers["x-ratelimit-limit"] == "600"
        assert int(response.headers["x-ratelimit-remaining"]) < 600
        reset = int(response.headers["x-ratelimit-reset"])
        assert reset > sandbox.clock.now().timestamp()
    assert int(generated.headers["x-ratelimit-remaining"]) == int(echoed.headers["x-ratelimit-remaining"]) - 1


@pytest.mark.anyio
async def test_errors_use_the_nestjs_envelope(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        response = await client.get(f"/agents/{sandbox.agents.live}/calls/call_00000000")
    payload = body(response)
    assert response.status_code == 404
    assert payload == {
        "message": "Call not found",
        "error": "Not Found",
        "code": "not_found",
        "statusCode": 404,
        "request_id": response.headers["x-request-id"],
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "unauthorized", "No API key provided"),
        ({"Authorization": "Bearer "}, "api_key_missing", "present but empty"),
        ({"Authorization": ""}, "api_key_missing", "present but empty"),
        ({"X-Api-Key": ""}, "api_key_missing", "present but empty"),
        ({"Authorization": "Bearer sk_live_nothing_here"}, "api_key_invalid", "Invalid API key."),
        ({"X-Api-Key": "sk_live_nothing_here"}, "api_key_invalid", "Invalid API key."),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "api_key_invalid", "Invalid API key."),
        ({"Authorization": "Bearersk_sandbox_full_4f7c1a9e2b"}, "api_key_invalid", "Invalid API key."),
        ({"Authorization": "bearer   "}, "api_key_missing", "present but empty"),
        ({"Authorization": "Bearer sk_sandbox_expired_51d0c3a8"}, "api_key_expired", "expired"),
    ],
)
async def test_auth_failures_are_401_with_the_documented_codes(
    sandbox: Sandbox, headers: dict[str, str], code: str, message: str
) -> None:
    async with api(sandbox, role=None, **headers) as client:
        response = await client.get("/agents")
    assert response.status_code == 401
    assert body(response)["code"] == code
    assert body(response)["error"] == "Unauthorized"
    assert message in body(response)["message"]


@pytest.mark.anyio
async def test_x_api_key_is_accepted_and_authorization_wins_when_both_are_sent(sandbox: Sandbox) -> None:
    async with api(sandbox, role=None, **{"X-Api-Key": sandbox.keys.full}) as client:
        plain = await client.get("/agents")
        both = await client.get("/agents", headers={"Authorization": "Bearer sk_wrong"})
    assert plain.status_code == 200
    assert both.status_code == 401
    assert body(both)["code"] == "api_key_invalid"


@pytest.mark.anyio
async def test_read_only_key_reads_but_gets_403_insufficient_scope_on_writes(sandbox: Sandbox) -> None:
    async with api(sandbox, "read_only") as client:
        listed = await client.get(calls_path(sandbox.agents.live))
        placed = await client.post(
            calls_path(sandbox.agents.live), json={"destination": "+2348031234567", "is_test_call": True}
        )
        numbers = items(await client.get("/phone-numbers"))
        patched = await client.patch(f"/phone-numbers/{numbers[0]['id']}", json={"label": "x"})
    assert listed.status_code == 200
    assert placed.status_code == 403
    assert body(placed)["code"] == "insufficient_scope"
    assert body(placed)["message"] == "This API key is missing the required scope: calls:write."
    assert body(placed)["error"] == "Forbidden"
    assert patched.status_code == 403
    assert "phone_numbers:write" in body(patched)["message"]


@pytest.mark.anyio
async def test_other_teams_key_sees_only_its_agent_and_not_found_for_ours(sandbox: Sandbox) -> None:
    async with api(sandbox, "other_team") as client:
        agents = items(await client.get("/agents"))
        ours = await client.get(f"/agents/{sandbox.agents.live}")
        our_calls = await client.get(calls_path(sandbox.agents.live))
        theirs = await client.get(calls_path(sandbox.agents.other_team))
        numbers = items(await client.get("/phone-numbers"))
    assert [a["id"] for a in agents] == [sandbox.agents.other_team]
    assert ours.status_code == 404
    assert body(ours)["message"] == "Agent not found"
    assert our_calls.status_code == 404
    assert body(our_calls)["message"] == "Agent not found"
    assert meta(theirs)["total_count"] == 20
    assert [n["agent_id"] for n in numbers] == [sandbox.agents.other_team]


@pytest.mark.anyio
async def test_scope_map_is_a_setting_and_conversations_read_can_stand_in_for_call_reads() -> None:
    strict = Sandbox(
        SandboxConfig(
            speed=0.0,
            scope_map={"calls.list": "calls:list", "agents.list": "agents:read"},
            accept_conversations_read_for_call_reads=False,
        )
    )
    lenient = Sandbox(SandboxConfig(speed=0.0))
    for sb in (strict, lenient):
        sb.add_key("sk_conversations_only", scopes={"conversations:read"})
    async with api(strict) as client:
        custom = await client.get(calls_path(strict.agents.live))
        unmapped = await client.get(f"/agents/{strict.agents.live}")
    async with api(strict, None, Authorization="Bearer sk_conversations_only") as client:
        refused = await client.get(calls_path(strict.agents.live), params={"limit": 1})
    async with api(lenient, None, Authorization="Bearer sk_conversations_only") as client:
        accepted = await client.get(calls_path(lenient.agents.live), params={"limit": 1})
        detail = await client.get(calls_path(lenient.agents.live, items(accepted)[0]["id"]))
        agents = await client.get("/agents")
    assert custom.status_code == 403
    assert body(custom)["message"] == "This API key is missing the required scope: calls:list."
    assert unmapped.status_code == 200
    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert detail.status_code == 200
    assert agents.status_code == 403
    assert "agents:read" in body(agents)["message"]


@pytest.mark.anyio
async def test_unknown_or_malformed_agent_ids_are_agent_not_found(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        unknown = await client.get("/agents/agt_doesnotexist")
        too_long = await client.get("/agents/" + "a" * 51)
        odd = await client.get("/agents/agt%20x/calls")
        channels = await client.get("/agents/agt_doesnotexist/channels")
    for response in (unknown, too_long, odd, channels):
        assert response.status_code == 404
        assert body(response)["message"] == "Agent not found"


@pytest.mark.anyio
async def test_unknown_routes_are_404_and_wrong_methods_405(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        unknown = await client.get("/workflows")
        wrong = await client.delete(f"/agents/{sandbox.agents.live}")
        trailing = await client.get("/agents/")
    assert unknown.status_code == 404
    assert body(unknown)["message"] == "Cannot GET /api/v1/console/workflows"
    assert wrong.status_code == 405
    assert body(wrong)["code"] == "bad_request"
    assert trailing.status_code == 200


@pytest.mark.anyio
async def test_calls_list_defaults_to_twenty_newest_first_with_exact_meta(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        first = await client.get(calls_path(sandbox.agents.live))
        last = await client.get(calls_path(sandbox.agents.live), params={"page": 15})
        beyond = await client.get(calls_path(sandbox.agents.live), params={"page": 16})
        odd = await client.get(calls_path(sandbox.agents.live), params={"limit": 7, "page": 43})
    assert meta(first) == {
        "total_count": 300,
        "page_count": 15,
        "current_page": 1,
        "limit": 20,
        "has_next_page": True,
        "has_previous_page": False,
    }
    created = [c["created_on"] for c in items(first)]
    assert created == sorted(created, reverse=True)
    assert len(items(last)) == 20
    assert meta(last)["has_next_page"] is False
    assert items(beyond) == []
    assert meta(beyond) == {
        "total_count": 300,
        "page_count": 15,
        "current_page": 16,
        "limit": 20,
        "has_next_page": False,
        "has_previous_page": True,
    }
    assert len(items(odd)) == 300 - 42 * 7
    assert meta(odd)["page_count"] == 43


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("params", "messages"),
    [
        ({"page": "0"}, ["page: must be an integer >= 1"]),
        ({"page": "abc"}, ["page: must be an integer >= 1"]),
        ({"limit": "0"}, ["limit: must be an integer between 1 and 100"]),
        ({"limit": "101"}, ["limit: must be an integer between 1 and 100"]),
        ({"status": "in_progress"}, ["status: must be one of " + ", ".join(STATUSES)]),
        ({"is_test_call": "yes"}, ["is_test_call: must be a boolean (true or false)"]),
        ({"search": "x" * 256}, ["search: must be at most 255 characters"]),
        (
            {"sort": "-colour", "page": "-1"},
            [
                "page: must be an integer >= 1",
                "sort: must be one of created_on, created_at, ended_at, duration_seconds, status, optionally prefixed"
                " with -",
            ],
        ),
    ],
)
async def test_calls_list_rejects_bad_query_with_a_listed_validation_error(
    sandbox: Sandbox, params: dict[str, str], messages: list[str]
) -> None:
    async with api(sandbox) as client:
        response = await client.get(calls_path(sandbox.agents.live), params=params)
    payload = body(response)
    assert response.status_code == 400
    assert payload["code"] == "validation_error"
    assert payload["error"] == "Bad Request"
    assert payload["statusCode"] == 400
    assert payload["message"] == messages
    assert payload["errors"] == [{"path": m.split(": ", 1)[0], "message": m.split(": ", 1)[1]} for m in messages]


@pytest.mark.anyio
async def test_unknown_sort_is_ignored_when_the_switch_says_so() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, reject_unknown_sort=False))
    async with api(sandbox) as client:
        response = await client.get(calls_path(sandbox.agents.live), params={"sort": "colour", "limit": 5})
        default = await client.get(calls_path(sandbox.agents.live), params={"limit": 5})
    assert response.status_code == 200
    assert items(response) == items(default)


@pytest.mark.anyio
async def test_seeded_calls_cover_every_status_direction_and_kind_with_real_looking_numbers(
    sandbox: Sandbox,
) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live)
    assert len(calls) == 300
    assert len({c["id"] for c in calls}) == 300
    assert set(Counter(c["status"] for c in calls)) == set(STATUSES)
    assert {c["direction"] for c in calls} == {"inbound", "outbound"}
    assert {c["is_test_call"] for c in calls} == {True, False}
    remote = [c["source"] if c["direction"] == "inbound" else c["destination"] for c in calls]
    assert all(E164.match(n) for n in remote)
    prefixes = {n[:3] for n in remote}
    assert {"+23", "+1", "+44"} & {
        p[:3] if p.startswith("+2") else p[:2] if p.startswith("+1") else p for p in prefixes
    }
    assert len({n[:4] for n in remote}) >= 6
    for call in calls:
        assert TIMESTAMP_RE.match(call["created_on"])
        assert call["duration_seconds"] is None or isinstance(call["duration_seconds"], int)
        if call["status"] == "ended":
            assert isinstance(call["duration_seconds"], int)
            assert call["end_reason"]
            assert call["error_reason"] is None
            assert TIMESTAMP_RE.match(call["ended_at"])
        elif call["status"] in ("busy", "failed"):
            assert call["error_reason"]
            assert call["duration_seconds"] is None
        elif call["status"] == "cancelled":
            assert call["end_reason"]
        else:
            assert call["ended_at"] is None
            assert call["end_reason"] is None
        if call["is_test_call"]:
            assert call["direction"] == "outbound"
            assert call["source"] is None


@pytest.mark.anyio
@pytest.mark.parametrize("status", STATUSES)
async def test_status_filter_returns_only_that_status(sandbox: Sandbox, status: str) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live, status=status)
    assert calls
    assert {c["status"] for c in calls} == {status}


@pytest.mark.anyio
async def test_status_and_test_filters_partition_the_calls(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        totals = [
            meta(await client.get(calls_path(sandbox.agents.live), params={"status": s}))["total_count"]
            for s in STATUSES
        ]
        tests = await all_calls(client, sandbox.agents.live, is_test_call="true")
        live = await all_calls(client, sandbox.agents.live, is_test_call="FALSE")
        both = await all_calls(client, sandbox.agents.live, is_test_call="true", status="ended")
    assert sum(totals) == 300
    assert len(tests) + len(live) == 300
    assert all(c["is_test_call"] for c in tests)
    assert not any(c["is_test_call"] for c in live)
    assert both
    assert all(c["is_test_call"] and c["status"] == "ended" for c in both)


def _sorted_ok(values: list[Any], descending: bool) -> bool:
    present = [v for v in values if v is not None]
    nulls_last = values[: len(present)] == present
    return nulls_last and present == sorted(present, reverse=descending)


@pytest.mark.anyio
@pytest.mark.parametrize("field", ["created_on", "created_at", "ended_at", "duration_seconds", "status"])
@pytest.mark.parametrize("descending", [False, True])
async def test_calls_sort_by_each_field_with_nulls_last(sandbox: Sandbox, field: str, descending: bool) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live, sort=("-" if descending else "") + field)
    column = "created_on" if field == "created_at" else field
    values = [c[column] for c in calls]
    assert len(calls) == 300
    assert _sorted_ok(values, descending)
    if field in ("ended_at", "duration_seconds"):
        assert values[-1] is None
        assert values[0] is not None


@pytest.mark.anyio
async def test_calls_search_matches_numbers_digits_and_ids_case_insensitively(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live)
        target = next(c for c in calls if c["destination"].startswith("+234") and c["direction"] == "outbound")
        digits = target["destination"][4:10]
        spaced = f"+234 {digits[:3]} {digits[3:]}"
        by_spaced = await all_calls(client, sandbox.agents.live, search=spaced)
        by_id = await all_calls(client, sandbox.agents.live, search=target["id"].upper())
        nothing = await client.get(calls_path(sandbox.agents.live), params={"search": "zzzz-no-such"})
        blank = await client.get(calls_path(sandbox.agents.live), params={"search": "  "})
    assert target["id"] in {c["id"] for c in by_spaced}
    assert all("234" + digits in (c["destination"] + (c["source"] or "")).replace("+", "") for c in by_spaced)
    assert [c["id"] for c in by_id] == [target["id"]]
    assert items(nothing) == []
    assert meta(nothing) == {
        "total_count": 0,
        "page_count": 0,
        "current_page": 1,
        "limit": 20,
        "has_next_page": False,
        "has_previous_page": False,
    }
    assert meta(blank)["total_count"] == 300


@pytest.mark.anyio
async def test_call_detail_adds_timestamps_and_a_transcript_only_when_ended(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live)
        ended = next(c for c in calls if c["status"] == "ended")
        ringing = next(c for c in calls if c["status"] == "ringing")
        ended_detail = obj(await client.get(calls_path(sandbox.agents.live, ended["id"])))
        ringing_detail = obj(await client.get(calls_path(sandbox.agents.live, ringing["id"])))
    assert {k: ended_detail[k] for k in ended} == ended
    assert TIMESTAMP_RE.match(ended_detail["answered_at"])
    assert ended_detail["started_at"] == ended_detail["answered_at"]
    logs = ended_detail["conversation_logs"]
    assert len(logs) >= 2
    assert [m["role"] for m in logs[:2]] == ["assistant", "user"]
    assert all(TIMESTAMP_RE.match(m["created_at"]) for m in logs)
    assert ended_detail["answered_at"] <= logs[0]["created_at"] <= logs[-1]["created_at"] <= ended_detail["ended_at"]
    assert ringing_detail["conversation_logs"] == []
    assert ringing_detail["answered_at"] is None


@pytest.mark.anyio
async def test_transcripts_are_mostly_10_to_40_turns_with_some_long_ones_and_attachments(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        calls = await all_calls(client, sandbox.agents.live, status="ended")
        details = [obj(await client.get(calls_path(sandbox.agents.live, c["id"]))) for c in calls]
    lengths = [len(d["conversation_logs"]) for d in details]
    assert sum(1 for n in lengths if 10 <= n <= 40) > 0.75 * len(lengths)
    assert max(lengths) >= 200
    attached = [m for d in details for m in d["conversation_logs"] if m["attachments"]]
    assert attached
    assert attached[0]["attachments"][0]["url"].startswith("https://")
    assert attached[0]["attachments"][0]["type"] in ("image", "document", "audio")
    words = " ".join(m["message"] for d in details[:20] for m in d["conversation_logs"])
    assert "appointment" in words or "check-up" in words


@pytest.mark.anyio
async def test_a_call_of_another_agent_or_an_unknown_id_is_call_not_found(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        paused_call = items(await client.get(calls_path(sandbox.agents.paused), params={"limit": 1}))[0]
        wrong_agent = await client.get(calls_path(sandbox.agents.live, paused_call["id"]))
        right_agent = await client.get(calls_path(sandbox.agents.paused, paused_call["id"]))
        garbage = await client.get(calls_path(sandbox.agents.live, "not-a-call"))
        huge = await client.get(calls_path(sandbox.agents.live, "call_zzzzzzzz"))
        unknown_agent = await client.get(calls_path("agt_nobody", paused_call["id"]))
    assert right_agent.status_code == 200
    for response in (wrong_agent, garbage, huge):
        assert response.status_code == 404
        assert body(response)["message"] == "Call not found"
    assert body(unknown_agent)["message"] == "Agent not found"


@pytest.mark.anyio
async def test_phone_numbers_list_retrieve_search_and_sort(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        listed = await client.get("/phone-numbers")
        numbers = items(listed)
        detail = obj(await client.get(f"/phone-numbers/{numbers[0]['id']}"))
        by_digits = items(await client.get("/phone-numbers", params={"search": "+234 201"}))
        by_label = items(await client.get("/phone-numbers", params={"search": "front desk"}))
        by_e164 = items(await client.get("/phone-numbers", params={"sort": "e164"}))
        by_label_sort = items(await client.get("/phone-numbers", params={"sort": "-label"}))
        missing = await client.get("/phone-numbers/pn_nothing")
    assert meta(listed)["total_count"] == 4
    assert set(numbers[0]) == {"id", "agent_id", "label", "e164"}
    assert set(detail) == {"id", "agent_id", "label", "e164", "created_at", "updated_at", "inbound_enabled"}
    assert [n["agent_id"] for n in by_digits] == [sandbox.agents.live]
    assert by_label == by_digits
    assert [n["e164"] for n in by_e164] == sorted(n["e164"] for n in numbers)
    labels = [n["label"] for n in by_label_sort]
    assert labels[-1] is None
    assert labels[:-1] == sorted(labels[:-1], reverse=True)
    assert missing.status_code == 404
    assert body(missing)["message"] == "Phone number not found"


@pytest.mark.anyio
async def test_unlinking_the_number_removes_the_live_channel_and_linking_restores_it(sandbox: Sandbox) -> None:
    call = {"destination": "+447400900123", "is_test_call": False}
    async with api(sandbox) as client:
        numbers = items(await client.get("/phone-numbers"))
        number = next(n for n in numbers if n["agent_id"] == sandbox.agents.live)
        unlinked = await client.patch(f"/phone-numbers/{number['id']}", json={"agent_id": None})
        channels = items(await client.get(f"/agents/{sandbox.agents.live}/channels"))
        refused = await client.post(calls_path(sandbox.agents.live), json=call)
        spare = next(n for n in numbers if n["agent_id"] is None)
        linked = await client.patch(
            f"/phone-numbers/{spare['id']}", json={"agent_id": sandbox.agents.live, "label": "Spare", "x": 1}
        )
        placed = await client.post(calls_path(sandbox.agents.live), json=call)
        log = obj(await client.get(calls_path(sandbox.agents.live, obj(placed)["call_id"])))
    assert unlinked.status_code == 200
    assert obj(unlinked)["agent_id"] is None
    assert obj(unlinked)["updated_at"] == sandbox.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert all(c["type"] != "telephony" for c in channels)
    assert refused.status_code == 400
    assert body(refused)["code"] == "channel_not_configured"
    assert body(refused)["message"] == "telephony channel is not configured for this agent"
    assert obj(linked)["agent_id"] == sandbox.agents.live
    assert obj(linked)["label"] == "Spare"
    assert placed.status_code == 201
    assert log["source"] == spare["e164"]


@pytest.mark.anyio
async def test_a_label_that_is_not_valid_unicode_is_refused_and_the_number_kept(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        number = items(await client.get("/phone-numbers"))[0]
        refused = await client.patch(f"/phone-numbers/{number['id']}", content=b'{"label": "\\ud800"}')
        after = await client.get(f"/phone-numbers/{number['id']}")
    assert refused.status_code == 400
    assert body(refused)["errors"] == [{"path": "label", "message": "must be a string of at most 100 characters"}]
    assert obj(after)["label"] == number["label"]


@pytest.mark.anyio
async def test_phone_number_update_validates_and_scopes_agents_to_the_team(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        number = items(await client.get("/phone-numbers"))[0]
        path = f"/phone-numbers/{number['id']}"
        foreign = await client.patch(path, json={"agent_id": sandbox.agents.other_team})
        wrong_types = await client.patch(path, json={"agent_id": 5, "label": ["x"]})
        not_object = await client.patch(path, json=[1])
        empty = await client.patch(path, content=b"")
        not_json = await client.patch(path, content=b"{nope", headers={"Content-Type": "application/json"})
        cleared = await client.patch(path, json={"label": None})
        missing = await client.patch("/phone-numbers/pn_missing", json={"label": "a"})
    assert foreign.status_code == 404
    assert body(foreign)["message"] == "Agent not found"
    assert body(wrong_types)["message"] == [
        "agent_id: must be an agent id or null",
        "label: must be a string of at most 100 characters",
    ]
    assert body(not_object)["message"] == ["body: must be a JSON object"]
    assert body(empty)["message"] == ["body: must be a JSON object"]
    assert not_json.status_code == 400
    assert body(not_json)["code"] == "bad_request"
    assert obj(cleared)["label"] is None
    assert obj(cleared)["agent_id"] == number["agent_id"]
    assert missing.status_code == 404


@pytest.mark.anyio
async def test_rate_limit_answers_429_with_retry_after_until_the_window_resets() -> None:
    sandbox = Sandbox(SandboxConfig(speed=0.0, rate_limit=3, rate_window_seconds=60))
    async with api(sandbox) as client:
        ok = [await client.get("/agents") for _ in range(3)]
        limited = await client.get("/agents")
        sandbox.clock.advance(60)
        again = await client.get("/agents")
    async with api(sandbox, "read_only") as other:
        separate = await other.get("/agents")
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining"] for r in ok] == ["2", "1", "0"]
    assert limited.status_code == 429
    assert body(limited)["code"] == "rate_limited"
    assert limited.headers["retry-after"] == "60"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining"] == "2"
    assert separate.status_code == 200


@pytest.mark.anyio
async def test_agent_and_phone_number_lists_validate_their_query(sandbox: Sandbox) -> None:
    async with api(sandbox) as client:
        agents = await client.get("/agents", params={"limit": "1000", "sort": "status"})
        numbers = await client.get("/phone-numbers", params={"page": "x"})
    assert body(agents)["message"] == [
        "limit: must be an integer between 1 and 100",
        "sort: must be one of created_at, updated_at, name, optionally prefixed with -",
    ]
    assert body(numbers)["message"] == ["page: must be an integer >= 1"]
