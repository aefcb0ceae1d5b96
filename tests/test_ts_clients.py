"""Hosts built on the TypeScript SDK get every tool error the server answers as a tool error the model reads, with
our code and next step: the SDK 1.x client on the 2025-11-25 handshake, and the MCP Inspector CLI (the SDK's 2.x
client) on 2026-07-28. Both check structured content against each tool's outputSchema."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from bimpe_mcp.tools.runtime import ERROR_META_KEY
from tests.dist_support import console_script, node_env, node_package, node_tool
from tests.served import HttpServer, StandaloneSandbox
from tests.support import assert_no_secret, child_env

SDK_HOST = Path(__file__).with_name("ts_sdk_client.mjs")
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
NUMBER = "+14155550100"
LIST_CALLS_TAKES = "list_calls takes agent_id, page, limit, status, is_test_call, search, sort"


@dataclass(frozen=True)
class ErrorPath:
    """One way a tool call fails, and what the model must read: our code, part of the message, part of the next
    step. Arguments may name a sandbox agent as "@live", "@no_channel" or "@other_team"."""

    name: str
    tool: str
    arguments: dict[str, Any]
    code: str
    step: str
    says: str = ""
    profile: str = "full"
    fault: dict[str, Any] | None = field(default=None)


def status(code: int, api_code: str | None = None, **more: Any) -> dict[str, Any]:
    return {"kind": "status", "status": code, "code": api_code, **more}


PROTOCOL_STEP = "Retry once; if it persists, report the request_id"
PATHS = [
    # The API's own error classes, from the sandbox as it is configured.
    ErrorPath("call_not_found", "get_call", {"call_id": "call_zzzzzzzz"}, "not_found", "list_calls", "Call not found"),
    ErrorPath("agent_of_another_team", "list_calls", {"agent_id": "@other_team"}, "not_found", "list_agents"),
    ErrorPath("expired_key", "list_calls", {}, "auth_failed", "expired", profile="expired"),
    ErrorPath("unknown_key", "list_agents", {}, "auth_failed", "BIMPE_API_KEY", profile="unknown_key"),
    ErrorPath(
        "read_only_key", "place_call", {"destination": NUMBER}, "missing_scope", "read-only", "scope", "read_only"
    ),
    ErrorPath(
        "agent_without_a_live_channel",
        "place_call",
        {"destination": NUMBER, "is_test_call": False, "agent_id": "@no_channel"},
        "precondition_failed",
        "is_test_call=true",
        profile="live",
    ),
    # Each other status class, injected.
    ErrorPath("rejected_400", "list_calls", {}, "invalid_argument", "Correct", fault=status(400, "validation_error")),
    ErrorPath("rejected_422", "list_calls", {}, "invalid_argument", "Correct", fault=status(422, "unprocessable")),
    ErrorPath("forbidden_403", "list_calls", {}, "forbidden", "do not retry", fault=status(403, "forbidden")),
    ErrorPath(
        "idempotency_conflict_409",
        "place_call",
        {"destination": NUMBER, "idempotency_key": "retry_key_0001"},
        "conflict",
        "idempotency_key",
        fault=status(409, "conflict"),
    ),
    ErrorPath("rate_limited_429", "list_calls", {}, "rate_limited", "Wait 120 s", fault=status(429, retry_after="120")),
    ErrorPath("server_error_503", "list_calls", {}, "upstream_unavailable", "Retry", fault=status(503)),
    ErrorPath("timeout_408", "list_calls", {}, "upstream_unavailable", "Retry", fault=status(408)),
    ErrorPath("not_implemented_501", "list_calls", {}, "upstream_protocol_error", "report", fault=status(501)),
    ErrorPath("unknown_status_418", "list_calls", {}, "upstream_protocol_error", "report", fault=status(418, "teapot")),
    ErrorPath(
        "write_outcome_unknown",
        "place_call",
        {"destination": NUMBER},
        "outcome_unknown",
        "Retry place_call with the same arguments and idempotency_key=",
        fault=status(503, method="POST"),
    ),
    # Every other fault the sandbox injects.
    ErrorPath("dropped_connection", "list_calls", {}, "upstream_unavailable", "Retry", fault={"kind": "drop"}),
    ErrorPath("html_error_page", "list_calls", {}, "upstream_unavailable", "Retry", fault={"kind": "non_json"}),
    *(
        ErrorPath(
            f"malformed_{variant}",
            "list_calls",
            {},
            "upstream_protocol_error",
            PROTOCOL_STEP,
            fault={"kind": "malformed", "variant": variant},
        )
        for variant in ("no_message", "data_null", "truncated_json", "html_200", "empty_body")
    ),
    ErrorPath("slow_api", "list_calls", {}, "deadline_exceeded", "Try again", fault={"kind": "latency", "seconds": 8}),
    # Refused by the server itself, before or instead of any request.
    ErrorPath("no_key", "list_calls", {}, "not_configured", "BIMPE_API_KEY", profile="no_key"),
    ErrorPath("no_default_agent", "list_calls", {}, "invalid_argument", "list_agents", profile="no_agent"),
    ErrorPath(
        "live_calls_disabled",
        "place_call",
        {"destination": NUMBER, "is_test_call": False},
        "precondition_failed",
        "BIMPE_ALLOW_LIVE_CALLS",
    ),
    ErrorPath("limit_out_of_range", "list_calls", {"limit": 0}, "invalid_argument", "Correct", "limit"),
    ErrorPath("limit_not_a_number", "list_calls", {"limit": "many"}, "invalid_argument", "Correct", "limit"),
    ErrorPath("missing_call_id", "get_call", {}, "invalid_argument", "From list_calls", "call_id: Field required"),
    ErrorPath("bad_destination", "place_call", {"destination": "tel:123"}, "invalid_argument", "E.164", "destination"),
    ErrorPath(
        "misspelt_agent_id",
        "list_calls",
        {"agentId": "@live"},
        "invalid_argument",
        "use agent_id, not agentId",
        f"unknown argument agentId; {LIST_CALLS_TAKES}",
    ),
    ErrorPath(
        "unknown_filter",
        "list_calls",
        {"created_after": "2026-06-01", "status": "ended"},
        "invalid_argument",
        "Correct",
        f"unknown argument created_after; {LIST_CALLS_TAKES}",
    ),
    ErrorPath("empty_call_id", "get_call", {"call_id": ""}, "invalid_argument", "list_calls", "an empty id"),
    ErrorPath("malformed_call_id", "get_call", {"call_id": "call/../x"}, "invalid_argument", "check call_id"),
    ErrorPath("transcript_of_nothing", "get_transcript", {}, "invalid_argument", "call_id", "give call_id or cursor"),
    ErrorPath("foreign_cursor", "get_transcript", {"cursor": "not-a-cursor"}, "invalid_argument", "next_cursor"),
    ErrorPath("premium_rate", "place_call", {"destination": "+19005550100"}, "policy_refused", "another number"),
    ErrorPath("unreadable_window", "call_stats", {"since": "last tuesday"}, "invalid_argument", "ISO 8601", "since"),
    ErrorPath("no_call_ids", "get_transcripts", {"call_ids": []}, "invalid_argument", "Correct", "call_ids"),
    ErrorPath("agent_not_found", "get_agent", {"agent_id": "@other_team"}, "not_found", "list_agents"),
    ErrorPath("unknown_status", "list_calls", {"status": ["ended", "nope"]}, "invalid_argument", "Correct", "'busy'"),
]


def profile_env(sandbox: StandaloneSandbox, profile: str) -> dict[str, str]:
    """How each server is configured: against the standalone sandbox, with no retries (a failure answers at once)
    and a short deadline (so that a slow API costs seconds, not the default 45)."""
    env = {
        "BIMPE_BASE_URL": sandbox.origin,
        "BIMPE_MAX_RETRIES": "0",
        "BIMPE_DEADLINE": "3",
        "BIMPE_AGENT_ID": sandbox.agents["live"],
        "BIMPE_API_KEY": sandbox.keys["full"],
    }
    keys = {"expired": sandbox.keys["expired"], "read_only": sandbox.keys["read_only"], "unknown_key": "sk_not_a_key"}
    if profile in keys:
        env["BIMPE_API_KEY"] = keys[profile]
    elif profile == "live":
        # This profile reaches the API's own refusal of a live call; confirmation has its own tests.
        env["BIMPE_ALLOW_LIVE_CALLS"] = "true"
        env["BIMPE_CONFIRM"] = "off"
    elif profile == "no_key":
        del env["BIMPE_API_KEY"]
    elif profile == "no_agent":
        del env["BIMPE_AGENT_ID"]
    return env


def arguments_of(path: ErrorPath, sandbox: StandaloneSandbox) -> dict[str, Any]:
    named = {f"@{role}": agent for role, agent in sandbox.agents.items()}
    return {k: named.get(v, v) if isinstance(v, str) else v for k, v in path.arguments.items()}


def assert_the_model_reads_it(result: dict[str, Any], path: ErrorPath) -> None:
    """A tool error, with no structured content to fail the client's outputSchema check; its text starts with our
    code and message and goes on with the next step; programs find the same fields under _meta."""
    assert_no_secret(json.dumps(result))
    assert result.get("isError") is True, result
    assert "structuredContent" not in result, result
    body = "\n".join(block["text"] for block in result["content"] if block["type"] == "text")
    code, _, rest = body.partition(": ")
    message, _, after = rest.partition(" Next: ")
    assert code == path.code, body
    assert path.says in message and path.step in after, body
    assert result["_meta"][ERROR_META_KEY]["code"] == path.code


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


class SdkHost:
    """The TypeScript SDK 1.x client (tests/ts_sdk_client.mjs) over stdio: one run per server profile makes every
    call of that profile, each with its own fault; outcomes are kept by path name."""

    def __init__(self, sandbox: StandaloneSandbox) -> None:
        self.sandbox = sandbox
        self.outcomes: dict[str, dict[str, Any]] = {}

    def outcome(self, path: ErrorPath) -> dict[str, Any]:
        if path.name not in self.outcomes:
            self.run(path.profile)
        return self.outcomes[path.name]

    def run(self, profile: str) -> None:
        paths = [p for p in PATHS if p.profile == profile]
        calls = [{"tool": p.tool, "arguments": arguments_of(p, self.sandbox), "fault": p.fault} for p in paths]
        results = host_results(self.sandbox, profile_env(self.sandbox, profile), calls)
        self.outcomes.update(zip([p.name for p in paths], results, strict=True))


def host_results(sandbox: StandaloneSandbox, env: dict[str, str], calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the TypeScript SDK 1.x client hands back for each call, over stdio on the 2025-11-25 handshake."""
    server: dict[str, Any] = {"command": console_script(), "args": [], "env": child_env(**env)}
    plan = {"server": server, "control": sandbox.control, "calls": calls}
    run = subprocess.run(
        [node_tool("node"), str(SDK_HOST)],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        env=node_env(),
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert_no_secret(run.stdout + run.stderr)
    answer: dict[str, Any] = json.loads(run.stdout)
    assert answer["protocolVersion"] == "2025-11-25"
    results: list[dict[str, Any]] = answer["results"]
    return results


@pytest.fixture(scope="module")
def sdk_host(sandbox: StandaloneSandbox) -> SdkHost:
    version = node_package("@modelcontextprotocol/sdk")["version"]
    assert str(version).startswith("1."), f"the SDK host needs the 1.x client, not {version}"
    return SdkHost(sandbox)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_a_typescript_sdk_1x_host_gets_every_failure_as_a_tool_error_with_our_code_and_next_step(
    sdk_host: SdkHost, path: ErrorPath
) -> None:
    outcome = sdk_host.outcome(path)
    assert "thrown" not in outcome, f"the SDK threw instead of returning the tool error: {outcome}"
    assert_the_model_reads_it(outcome["result"], path)


def ended_calls(sandbox: StandaloneSandbox, agent: str) -> list[str]:
    """Ids of the agent's newest ended calls, read straight from the sandbox's API."""
    answer = httpx2.get(
        f"{sandbox.origin}/api/v1/console/agents/{agent}/calls",
        params={"status": "ended", "limit": 2},
        headers={"Authorization": f"Bearer {sandbox.keys['full']}"},
    )
    answer.raise_for_status()
    return [call["id"] for call in answer.json()["data"]]


def test_a_typescript_sdk_1x_host_accepts_every_tools_answer_against_its_output_schema(
    sandbox: StandaloneSandbox,
) -> None:
    """The SDK checks each result's structured content against the tool's outputSchema and throws -32602 when they
    disagree: every tool, the windows, the statistics and a live call's preview (this client cannot be asked, so
    the server confirms by token) come back as results the host accepts."""
    agent = sandbox.agents["live"]
    first, second = ended_calls(sandbox, agent)
    plan = {
        "list_agents": {},
        "get_agent": {},
        "list_calls": {"since": "7d", "status": ["ended", "failed"]},
        "show_calls": {},
        "call_stats": {"since": "7d"},
        "get_call": {"call_id": first},
        "get_transcript": {"call_id": first},
        "get_transcripts": {"call_ids": [first, second]},
        "wait_for_call": {"call_id": first, "timeout_seconds": 1},
        "place_call": {"destination": NUMBER, "is_test_call": False},
    }
    env = profile_env(sandbox, "full") | {"BIMPE_ALLOW_LIVE_CALLS": "true", "BIMPE_CONFIRM": "token"}
    calls = [{"tool": tool, "arguments": arguments, "fault": None} for tool, arguments in plan.items()]
    outcomes = dict(zip(plan, host_results(sandbox, env, calls), strict=True))
    for tool, outcome in outcomes.items():
        assert "thrown" not in outcome, f"{tool}: the SDK refused the result: {outcome}"
        assert outcome["result"].get("isError") is not True, (tool, outcome)
        assert outcome["result"]["structuredContent"], tool
    assert outcomes["wait_for_call"]["result"]["structuredContent"]["finished"] is True
    preview = outcomes["place_call"]["result"]["structuredContent"]
    assert preview["status"] == "confirmation_required" and preview["confirmation_token"]


class Servers:
    """One HTTP server per profile, started on first use."""

    def __init__(self, sandbox: StandaloneSandbox) -> None:
        self.sandbox = sandbox
        self.running: dict[str, HttpServer] = {}

    def url(self, profile: str) -> str:
        if profile not in self.running:
            self.running[profile] = HttpServer(profile_env(self.sandbox, profile))
        return self.running[profile].url

    def stop(self) -> None:
        for server in self.running.values():
            server.stop()


@pytest.fixture(scope="module")
def servers(sandbox: StandaloneSandbox) -> Iterator[Servers]:
    running = Servers(sandbox)
    try:
        yield running
    finally:
        running.stop()


def inspect_call(home: Path, target: list[str], era: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One Inspector CLI tools/call. It exits 5 for a tool error and prints the result; a result it cannot accept
    (structured content failing the outputSchema) exits 1 with no result."""
    era_flag = ["--protocol-era", "modern"] if era == "modern" else []
    request = ["--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]
    command = [node_tool("mcp-inspector"), "--cli", *era_flag, *target, *request, "--format", "json", "-q"]
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=node_env(**child_env(HOME=str(home))),
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert run.returncode == 5, f"exit {run.returncode}: {run.stderr}"
    assert_no_secret(run.stdout + run.stderr)
    result: dict[str, Any] = json.loads(run.stdout)["result"]
    return result


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_the_inspector_on_the_2026_era_gets_every_failure_as_a_tool_error_with_our_code_and_next_step(
    sandbox: StandaloneSandbox, servers: Servers, path: ErrorPath, tmp_path: Path
) -> None:
    url = servers.url(path.profile)
    sandbox.set_fault(path.fault)
    try:
        result = inspect_call(tmp_path, [url], "modern", path.tool, arguments_of(path, sandbox))
    finally:
        sandbox.set_fault(None)
    assert_the_model_reads_it(result, path)
    # Stamped by the SDK on 2026-07-28 results only: the Inspector spoke that era, and even an argument error was
    # shaped for it like any other tool result.
    assert SERVER_INFO_KEY in result["_meta"]


def test_the_inspector_on_the_handshake_reads_a_missing_call_as_not_found_over_stdio(tmp_path: Path) -> None:
    path = next(p for p in PATHS if p.name == "call_not_found")
    target = [console_script(), "--sandbox"]
    result = inspect_call(tmp_path, target, "handshake", path.tool, dict(path.arguments))
    assert_the_model_reads_it(result, path)
    assert SERVER_INFO_KEY not in result["_meta"]
