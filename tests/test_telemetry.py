"""OpenTelemetry: the server as a process, exporting over OTLP/HTTP to a loopback receiver (tests/otlp_support.py)
that decodes what arrives with opentelemetry-proto. Under the SDK's span of each MCP request, a span for each API
request; place_call's decision on its span; `mcp.server.operation.duration` and the counters of calls placed and
refused; the client's trace joined through `_meta.traceparent` (2026-07-28) or the HTTP `traceparent` header; and
nothing sent that holds a key, a bearer token or, under BIMPE_REDACT, a phone number."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import INVALID_PARAMS
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from bimpe_mcp.sandbox import NO_ANSWER_DESTINATION
from tests.dist_support import console_script
from tests.otlp_support import Point, Received, Receiver, Span
from tests.served import HttpServer, StandaloneSandbox
from tests.support import SECRETS, child_env, data, error
from tests.test_oauth import Keys, OidcProvider, clients, good_claims, oauth_server, private_jwk, signed

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1/console"
FAILED_DESTINATION = "+15005550003"
"""A scripted destination: the test call is placed and fails at once, holding none of the sandbox's test-call slots."""
PREMIUM = "+19005550100"
CLIENT_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
CLIENT_SPAN = 0x00F067AA0BA902B7
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")
SERVER, CLIENT = 2, 3  # the span kinds' numbers in OTLP


@pytest.fixture(scope="module")
def sandbox(standalone: StandaloneSandbox) -> StandaloneSandbox:
    """This module's servers run as processes, on the standalone sandbox."""
    return standalone


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


def otel_env(receiver: Receiver, **more: str) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "bimpe-under-test", **more}


def client_span(trace_id: int = CLIENT_TRACE, span_id: int = CLIENT_SPAN) -> NonRecordingSpan:
    """The client's current span: the SDK client puts its trace context in each request's `_meta`."""
    return NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)))


def one(spans: list[Span], name: str, **attributes: Any) -> Span:
    found = [s for s in spans if s.name == name and attributes.items() <= s.attributes.items()]
    assert len(found) == 1, (name, attributes, [(s.name, s.attributes) for s in spans])
    return found[0]


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]


def points(received: Received, metric: str) -> list[Point]:
    return [p for p in received.points if p.metric == metric]


def numbers_the_api_holds(sandbox: StandaloneSandbox, agent: str) -> set[str]:
    """Every phone number in the calls the server reads in these tests, as the API sends them (read here directly)."""
    headers = {"Authorization": f"Bearer {sandbox.keys['full']}"}
    with httpx2.Client(base_url=sandbox.origin + API, headers=headers) as api:
        calls = api.get(f"/agents/{agent}/calls", params={"limit": 3}).json()["data"]
        details = [api.get(f"/agents/{agent}/calls/{call['id']}").json() for call in calls]
    found = {m.group() for m in PHONE.finditer(json.dumps([calls, details]))}
    numbers = {number for number in found if len(re.sub(r"\D", "", number)) >= 7}
    assert {call["destination"] for call in calls} <= numbers, "the calls read hold numbers to look for"
    return numbers


def assert_nothing_secret(received: Received, numbers: set[str], *secrets: str) -> None:
    sent = json.dumps(received.raw)
    leaked = [s for s in (*SECRETS, *secrets) if s in sent]
    assert not leaked, "an API key or a bearer token reached the telemetry"
    assert "Bearer" not in sent
    for number in numbers:
        digits = re.sub(r"\D", "", number)
        assert number not in sent and digits not in sent, f"a phone number ({number[-4:]}) reached the telemetry"


# --- stdio, 2026-07-28: the trace context in _meta ----------------------------------------------------------------


def stdio_params(sandbox: StandaloneSandbox, receiver: Receiver, **more: str) -> StdioServerParameters:
    env = {
        "BIMPE_BASE_URL": sandbox.origin,
        "BIMPE_API_KEY": sandbox.keys["full"],
        "BIMPE_AGENT_ID": sandbox.agents["live"],
        "BIMPE_CONFIRM": "off",
        "BIMPE_STATE_URL": "memory://",
        **otel_env(receiver, **more),
    }
    return StdioServerParameters(command=console_script(), args=["--log-level", "INFO"], env=child_env(**env))


async def a_session_of_reads_and_calls(client: Client) -> tuple[str, str]:
    """list_calls, get_call, a call placed and one refused, under the client's span; the call ids read and placed."""
    with trace.use_span(client_span()):
        call_id = data(await client.call_tool("list_calls", {"limit": 3}))["calls"][0]["id"]
        assert data(await client.call_tool("get_call", {"call_id": call_id}))["id"] == call_id
        placed = data(await client.call_tool("place_call", {"destination": FAILED_DESTINATION}))
        assert error(await client.call_tool("place_call", {"destination": PREMIUM}))["rule"] == "premium_rate"
    return call_id, placed["status"]


@pytest.mark.anyio
async def test_spans_of_a_stdio_session_join_the_clients_trace_with_api_requests_as_children(
    sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path
) -> None:
    params = stdio_params(sandbox, receiver, BIMPE_REDACT="true")
    # get_call's request is answered 503, then its connection dropped, then answered: three attempts.
    one_call = {"method": "GET", "path": "/calls/", "times": 1}
    sandbox.set_fault({"kind": "status", "status": 503, **one_call})
    httpx2.post(sandbox.control + "/faults", json={"kind": "drop", **one_call}).raise_for_status()
    try:
        with (tmp_path / "stderr.txt").open("w+") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="auto") as client:
                assert client.protocol_version == "2026-07-28"
                _, status = await a_session_of_reads_and_calls(client)
    finally:
        sandbox.set_fault(None)
    # The spans are flushed as the server exits.
    got = receiver.wait_for(
        "spans of both place_calls", lambda r: len([s for s in r.spans if s.name == "tools/call place_call"]) == 2
    )
    spans = got.spans
    assert {s.resource["service.name"] for s in spans} == {"bimpe-under-test"}

    listed = one(spans, "tools/call list_calls")
    assert listed.kind == SERVER
    assert (listed.trace_id, listed.parent_span_id) == (f"{CLIENT_TRACE:032x}", f"{CLIENT_SPAN:016x}")
    [request] = children(spans, listed)
    assert (request.name, request.kind) == (f"GET {API}/agents/{{agent_id}}/calls", CLIENT)
    assert request.attributes["http.request.method"] == "GET"
    assert request.attributes["url.template"] == f"{API}/agents/{{agent_id}}/calls"
    assert request.attributes["url.full"] == f"{sandbox.origin}{API}/agents/{sandbox.agents['live']}/calls"
    assert request.attributes["http.response.status_code"] == 200
    assert UUID.fullmatch(request.attributes["bimpe.api.request_id"])

    read = one(spans, "tools/call get_call")
    attempts = children(spans, read)
    assert {s.name for s in attempts} == {f"GET {API}/agents/{{agent_id}}/calls/{{call_id}}"}
    seen = sorted((s.attributes.get("http.request.resend_count", 0), s.attributes.get("error.type")) for s in attempts)
    assert seen == [(0, "503"), (1, "RemoteProtocolError"), (2, None)]
    assert [s.attributes.get("http.response.status_code") for s in attempts if "error.type" not in s.attributes] == [
        200
    ]

    dialled = one(spans, "tools/call place_call", **{"bimpe.place_call.decision": status})
    assert dialled.attributes["bimpe.place_call.confirmed_by"] == "none"
    assert dialled.attributes["bimpe.place_call.is_test_call"] is True
    posted = [s for s in children(spans, dialled) if s.name == f"POST {API}/agents/{{agent_id}}/calls"]
    assert [s.attributes["http.response.status_code"] for s in posted] == [201]

    refused = one(spans, "tools/call place_call", **{"bimpe.place_call.decision": "refused"})
    assert refused.attributes["bimpe.place_call.rule"] == "premium_rate"
    assert refused.attributes["bimpe.place_call.error"] == "policy_refused"
    assert refused.attributes["error.type"] == "tool_error"
    assert refused.attributes["bimpe.error.code"] == "policy_refused"
    assert children(spans, refused) == [], "a refused call sends nothing to the API"
    assert_nothing_secret(got, numbers_the_api_holds(sandbox, sandbox.agents["live"]) | {FAILED_DESTINATION, PREMIUM})


@asynccontextmanager
async def metered(sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path) -> AsyncGenerator[Client]:
    """A stdio session whose metrics arrive once, as the server exits: the export interval outlasts any test, so
    what the receiver gets is the last collection."""
    params = stdio_params(sandbox, receiver, OTEL_METRIC_EXPORT_INTERVAL="60000")
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="auto") as client:
            yield client


@pytest.mark.anyio
async def test_metrics_count_operations_calls_placed_by_outcome_and_refusals_by_rule(
    sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path
) -> None:
    async with metered(sandbox, receiver, tmp_path) as client:
        call_id, status = await a_session_of_reads_and_calls(client)
        assert (await client.get_prompt("summarize_call", {"call_id": call_id})).messages
        with pytest.raises(MCPError):
            await client.get_prompt("no_such_prompt", {})
    got = receiver.wait_for("the counters", lambda r: bool(points(r, "bimpe.calls.refused")))
    durations = points(got, "mcp.server.operation.duration")
    assert {p.kind for p in durations} == {"histogram"} and {p.unit for p in durations} == {"s"}
    by_tool = {(p.attributes.get("gen_ai.tool.name"), p.attributes.get("error.type")): p.value for p in durations}
    assert by_tool[("list_calls", None)] == 1 and by_tool[("get_call", None)] == 1
    assert by_tool[("place_call", None)] == 1 and by_tool[("place_call", "tool_error")] == 1
    prompted = {
        p.attributes["gen_ai.prompt.name"]: p for p in durations if p.attributes["mcp.method.name"] == "prompts/get"
    }
    assert prompted["summarize_call"].value == 1 and "error.type" not in prompted["summarize_call"].attributes
    assert prompted["no_such_prompt"].attributes["error.type"] == str(INVALID_PARAMS)
    listed = next(p for p in durations if p.attributes.get("gen_ai.tool.name") == "list_calls")
    assert listed.attributes["mcp.method.name"] == "tools/call"
    assert listed.attributes["mcp.protocol.version"] == "2026-07-28"
    placed = [(p.attributes, p.value) for p in points(got, "bimpe.calls.placed")]
    assert placed == [({"bimpe.outcome": status, "bimpe.is_test_call": True}, 1.0)]
    refused = [(p.attributes, p.value) for p in points(got, "bimpe.calls.refused")]
    assert refused == [({"bimpe.rule": "premium_rate", "bimpe.is_test_call": True}, 1.0)]


@pytest.mark.anyio
async def test_a_tool_call_its_client_cancels_is_measured_as_cancelled(
    sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path
) -> None:
    async with metered(sandbox, receiver, tmp_path) as client:
        placed = data(await client.call_tool("place_call", {"destination": NO_ANSWER_DESTINATION}))
        waiting = anyio.Event()

        async def progressed(progress: float, total: float | None, message: str | None) -> None:
            waiting.set()

        async def wait() -> None:
            arguments = {"call_id": placed["call_id"], "timeout_seconds": 120}
            await client.call_tool("wait_for_call", arguments, progress_callback=progressed)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            with anyio.fail_after(30):
                await waiting.wait()
            tg.cancel_scope.cancel()
        assert data(await client.call_tool("get_call", {"call_id": placed["call_id"]}))["id"] == placed["call_id"]

    def measured(r: Received) -> list[Point]:
        durations = points(r, "mcp.server.operation.duration")
        return [p for p in durations if p.attributes.get("gen_ai.tool.name") == "wait_for_call"]

    got = receiver.wait_for("the cancelled call's duration", lambda r: bool(measured(r)))
    assert [(p.attributes.get("error.type"), p.value) for p in measured(got)] == [("CancelledError", 1)]


# --- HTTP: the traceparent header, and the tenant ------------------------------------------------------------------


@pytest.mark.anyio
async def test_over_http_the_traceparent_header_is_the_parent_and_the_tenant_a_digest(
    sandbox: StandaloneSandbox, receiver: Receiver
) -> None:
    key = sandbox.keys["full"]
    # Traces only, under the default service name.
    otel = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/v1/traces", "OTEL_METRICS_EXPORTER": "none"}
    env = {"BIMPE_BASE_URL": sandbox.origin, "BIMPE_HTTP_AUTH": "passthrough", **otel}
    server = HttpServer(env, "--stateless")
    header_trace, header_span = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    traceparent = f"00-{header_trace:032x}-{header_span:016x}-01"
    try:
        headers = {"Authorization": f"Bearer {key}", "traceparent": traceparent}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            # The handshake era, with no current span on the client: only the header carries the trace.
            async with Client(streamable_http_client(server.url, http_client=http), mode="legacy") as client:
                data(await client.call_tool("list_calls", {"agent_id": sandbox.agents["live"], "limit": 2}))
            # 2026-07-28 with a current span: `_meta.traceparent` names the parent, whatever the header says.
            async with Client(streamable_http_client(server.url, http_client=http), mode="auto") as client:
                with trace.use_span(client_span()):
                    data(await client.call_tool("get_agent", {"agent_id": sandbox.agents["live"]}))
    finally:
        server.stop()
    got = receiver.wait_for(
        "both tool calls", lambda r: {"tools/call list_calls", "tools/call get_agent"} <= {s.name for s in r.spans}
    )
    assert {s.resource["service.name"] for s in got.spans} == {"bimpe-mcp"}
    assert got.points == [], "metrics are off"
    listed = one(got.spans, "tools/call list_calls")
    assert (listed.trace_id, listed.parent_span_id) == (f"{header_trace:032x}", f"{header_span:016x}")
    assert listed.attributes["mcp.protocol.version"] == "2025-11-25"
    assert listed.attributes["bimpe.tenant"] == hashlib.sha256(key.encode()).hexdigest()[:24]
    assert [s.name for s in children(got.spans, listed)] == [f"GET {API}/agents/{{agent_id}}/calls"]
    agent = one(got.spans, "tools/call get_agent")
    assert (agent.trace_id, agent.parent_span_id) == (f"{CLIENT_TRACE:032x}", f"{CLIENT_SPAN:016x}")
    assert_nothing_secret(got, set(), key)


# --- what start-up pays, and what is not exported -----------------------------------------------------------------

PROBE = """
import json, sys
import anyio
from mcp import Client
from pydantic import SecretStr
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from bimpe_mcp.server.log_setup import configure_logging

class WithoutTheExtra:
    def find_spec(self, name, path=None, target=None):
        if name.startswith("opentelemetry.sdk"):
            raise ModuleNotFoundError(name)
        return None

if sys.argv[1] == "without-extra":
    sys.meta_path.insert(0, WithoutTheExtra())

async def main():
    configure_logging("WARNING")
    box = Sandbox(SandboxConfig(seed=7, speed=0.0))
    settings = Settings(api_key=SecretStr(box.keys.full), base_url=box.origin, agent_id=box.agents.live)
    async with Client(build_server(settings, transport=box.transport())) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        await client.call_tool("list_calls", {"limit": 1})
    heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.metrics", "google.protobuf", "requests")
    print(json.dumps({"tools": len(tools), "loaded": sorted({m for m in sys.modules if m.startswith(heavy)})}))

anyio.run(main)
"""


def probe(case: str, **env: str) -> tuple[dict[str, Any], str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "BIMPE_"))}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, case],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
        env=inherited | env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_without_otel_variables_nothing_of_the_sdk_or_the_exporter_is_imported() -> None:
    seen, said = probe("installed")
    assert seen["tools"] > 0
    assert seen["loaded"] == []
    assert "otel" not in said.lower()


def test_otel_variables_without_the_extra_say_how_to_install_it_and_serve_as_before(receiver: Receiver) -> None:
    seen, said = probe("without-extra", **otel_env(receiver))
    assert seen["tools"] > 0
    assert not any(name.startswith("opentelemetry.sdk") for name in seen["loaded"])
    assert "the otel extra is not installed (pip install 'bimpe-mcp[otel]')" in said


def test_with_the_sdk_disabled_nothing_is_imported_or_sent(receiver: Receiver) -> None:
    seen, said = probe("installed", **otel_env(receiver, OTEL_SDK_DISABLED="true"))
    assert seen["tools"] > 0 and seen["loaded"] == []
    assert "otel" not in said.lower()
    assert receiver.received.raw == [], "the probe has exited: nothing more can arrive"


def test_otlp_over_another_protocol_than_http_protobuf_is_named_and_nothing_is_sent(receiver: Receiver) -> None:
    seen, said = probe("installed", **otel_env(receiver, OTEL_EXPORTER_OTLP_PROTOCOL="grpc"))
    assert seen["tools"] > 0 and seen["loaded"] == []
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: this server exports OTLP over HTTP (http/protobuf) only" in said
    assert receiver.received.raw == [], "the probe has exited: nothing more can arrive"


@pytest.mark.anyio
async def test_a_console_exporter_is_refused_and_stdout_keeps_to_the_protocol(
    sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path
) -> None:
    params = stdio_params(sandbox, receiver, OTEL_TRACES_EXPORTER="console")
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="auto") as client:
            data(await client.call_tool("list_agents", {}))
        errlog.seek(0)
        said = errlog.read()
    assert "OTEL_TRACES_EXPORTER=console: this server exports traces over OTLP only" in said
    got = receiver.wait_for("metrics", lambda r: bool(points(r, "mcp.server.operation.duration")))
    assert got.spans == [], "no traces are exported, to the console or elsewhere"


@pytest.mark.anyio
async def test_an_oauth_requests_span_names_its_user_as_the_tenant_digest_never_by_its_token(
    sandbox: StandaloneSandbox, receiver: Receiver, tmp_path: Path
) -> None:
    keys = Keys.fresh()
    provider = OidcProvider(tmp_path, [private_jwk(keys.rsa, "rsa-1", "RS256")], "RS256", clients())
    otel = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint + "/v1/traces", "OTEL_METRICS_EXPORTER": "none"}
    try:
        server = oauth_server(sandbox, provider.issuer, **otel)
        try:
            token = signed(good_claims(server, provider, sub="alice"), keys)
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60)
            async with http, Client(streamable_http_client(server.url, http_client=http)) as client:
                data(await client.call_tool("get_agent", {}))
        finally:
            server.stop()
    finally:
        provider.stop()
    got = receiver.wait_for("the tool call", lambda r: "tools/call get_agent" in {s.name for s in r.spans})
    span = one(got.spans, "tools/call get_agent")
    user = "sub-" + hashlib.sha256(f"{provider.issuer}\nalice".encode()).hexdigest()[:24]
    assert span.attributes["bimpe.subject"] == user and "bimpe.tenant" not in span.attributes
    assert_nothing_secret(got, set(), token)
