"""Every place_call attempt leaves one JSON line in the audit file and in bimpe://audit/recent: placed, refused,
awaiting confirmation, replayed or failed, with a masked destination; a file that cannot be written breaks nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitRequestParams, ElicitResult, Implementation, TextResourceContents

from bimpe_mcp.api.redact import mask_number
from bimpe_mcp.sandbox import Fault, Sandbox
from tests.conftest import NOON, SandboxTime, ServerFactory
from tests.support import data, error

pytestmark = pytest.mark.anyio

US = "+14155550100"
HOST = Implementation(name="audit-host", version="1.0")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def recent(client: Client) -> list[dict[str, Any]]:
    (contents,) = (await client.read_resource("bimpe://audit/recent")).contents
    assert isinstance(contents, TextResourceContents)
    return [json.loads(line) for line in contents.text.splitlines()]


async def test_each_decision_is_one_line_in_the_file_and_in_the_recent_resource(
    make_server: ServerFactory, sandbox: Sandbox, sandbox_time: SandboxTime, tmp_path: Path, mode: str
) -> None:
    sandbox_time.start = NOON
    log = tmp_path / "audit.jsonl"
    server = make_server(allow_live_calls=True, confirm="token", audit_log=str(log))
    async with Client(server, mode=mode, client_info=HOST) as client:  # pyright: ignore[reportArgumentType]
        error(await client.call_tool("place_call", {"destination": "+19005550100"}))
        preview = data(await client.call_tool("place_call", {"destination": US, "is_test_call": False}))
        args = {"destination": US, "is_test_call": False, "confirmation_token": preview["confirmation_token"]}
        placed = data(await client.call_tool("place_call", args))
        data(await client.call_tool("place_call", args))
        sandbox.faults.add(Fault(kind="status", status=503, method="POST", times=3))
        failed = error(await client.call_tool("place_call", {"destination": US}))
        shown = await recent(client)
    written = lines(log)
    assert written == shown
    assert [e["decision"] for e in written] == ["refused", "confirmation_required", "initiated", "replayed", "failed"]
    refused, asked, dialled, replayed, unknown = written
    assert refused["rule"] == "premium_rate" and refused["destination"] == mask_number("+19005550100")
    assert "rule" not in dialled and "+14155550100" not in json.dumps(written)
    assert {e["client"] for e in written} == {"audit-host"}
    assert {e["agent_id"] for e in written} == {sandbox.agents.live}
    assert [e["is_test_call"] for e in written] == [True, False, False, False, True]
    assert dialled["call_id"] == placed["call_id"] == replayed["call_id"] and "call_id" not in asked
    assert dialled["idempotency_key"] == asked["idempotency_key"] == placed["idempotency_key"]
    posted = [r for r in sandbox.requests if r.method == "POST"]
    assert dialled["request_id"] == posted[0].headers["x-request-id"]
    assert (unknown["error"], unknown["idempotency_key"]) == ("outcome_unknown", failed["idempotency_key"])
    assert unknown["request_id"] == failed["request_id"]
    assert [e.get("confirmed_by") for e in written] == [None, None, "token", "token", "none"]
    assert all(e["time"].startswith("2026-12-02T12:00") for e in written)


async def test_a_refusal_by_the_live_switch_is_recorded_with_its_rule(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    async with Client(make_server(audit_log=str(log))) as client:
        error(await client.call_tool("place_call", {"destination": US, "is_test_call": False}))
    (entry,) = lines(log)
    assert (entry["decision"], entry["rule"], entry["error"]) == ("refused", "live_calls", "precondition_failed")


async def test_an_unwritable_audit_file_is_reported_once_and_calls_go_on(
    make_server: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with Client(make_server(audit_log=str(tmp_path))) as client:
        for number in (US, "+14155550101"):
            assert data(await client.call_tool("place_call", {"destination": number}))["status"] == "initiated"
        assert len(await recent(client)) == 2
    err = capsys.readouterr().err
    assert err.count("BIMPE_AUDIT_LOG cannot be written") == 1 and str(tmp_path) not in err


async def test_an_attempt_whose_arguments_fail_the_schema_is_recorded_as_refused(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    # Longer than a destination can be: refused by the schema, before the tool runs.
    long = "0803 123\n4567, extension 123456789012345678901234567890"
    async with Client(make_server(audit_log=str(log)), client_info=HOST) as client:
        malformed = error(await client.call_tool("place_call", {"destination": long, "is_test_call": False}))
        unknown = error(await client.call_tool("place_call", {"destination": US, "agent": "agt_x"}))
        shown = await recent(client)
    assert malformed["code"] == unknown["code"] == "invalid_argument"
    written = lines(log)
    assert written == shown
    assert [(e["decision"], e["rule"], e["error"]) for e in written] == [
        ("refused", "invalid_argument", "invalid_argument")
    ] * 2
    assert [e["destination"] for e in written] == [mask_number(long), mask_number(US)]
    assert [e["is_test_call"] for e in written] == [False, True]
    assert {e["agent_id"] for e in written} == {sandbox.agents.live} and {e["client"] for e in written} == {
        "audit-host"
    }
    assert not [r for r in sandbox.requests if r.method == "POST"], "nothing was dialled"


async def test_each_entry_says_how_its_call_was_confirmed(
    make_server: ServerFactory, sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    log = tmp_path / "audit.jsonl"
    answers = iter(["accept", "decline", "cancel", "accept"])

    async def human(context: Any, params: ElicitRequestParams) -> ElicitResult:
        action = next(answers)
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # pyright: ignore[reportArgumentType]

    sandbox.faults.add(Fault(kind="drop", method="POST", after=True, times=3))
    live = {"destination": US, "is_test_call": False}
    server = make_server(allow_live_calls=True, audit_log=str(log))
    async with Client(server, mode=mode, elicitation_callback=human) as client:  # pyright: ignore[reportArgumentType]
        lost = error(await client.call_tool("place_call", live))
        declined = error(await client.call_tool("place_call", live))
        unanswered = error(await client.call_tool("place_call", live))
        retried = data(await client.call_tool("place_call", {**live, "idempotency_key": lost["idempotency_key"]}))
        data(await client.call_tool("place_call", {"destination": US}))
    written = lines(log)
    assert (lost["code"], declined["code"], unanswered["code"]) == (
        "outcome_unknown",
        "confirmation_declined",
        "confirmation_unanswered",
    )
    assert [(e["decision"], e.get("error"), e.get("confirmed_by")) for e in written] == [
        ("failed", "outcome_unknown", "user"),
        ("refused", "confirmation_declined", None),
        ("refused", "confirmation_unanswered", None),
        ("initiated", None, "none"),
        ("initiated", None, "none"),
    ]
    assert retried["idempotency_key"] == lost["idempotency_key"]
    keys = {r.headers["idempotency-key"] for r in sandbox.requests if r.method == "POST"}
    assert len(keys) == 2, "the lost call and its retry under one key, and the test call"
