"""OpenTelemetry export, switched on by the standard OTEL_* variables when the `otel` extra is installed.

The SDK opens a server span for each MCP message (its middleware, following the conventions for MCP) and reads the
client's trace context from the request's `_meta.traceparent`. Here, what it leaves out:

- the providers: traces and metrics exported over OTLP/HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
  `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_METRIC_EXPORT_INTERVAL`, ... as the OpenTelemetry SDK reads them), flushed when
  the server stops;
- `mcp.server.operation.duration`, and the tenant (`--auth passthrough`) or the OAuth subject of the request, as a
  digest, on the SDK's span (`measured`);
- the trace context of an HTTP request's `traceparent` header, made current while the request is served, so that the
  SDK's span joins the client's trace where `_meta` names none (`TraceHeaders`);
- switching on the API request spans (api/tracing.py) and place_call's attributes and counters (core/telemetry.py).

Without the variables, or without the extra, nothing here is imported beyond this module and nothing is exported.
Only OTLP over HTTP (http/protobuf) is exported: a console exporter would write on stdout, where stdio carries the
protocol."""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult
from opentelemetry import context as otel_context
from opentelemetry.propagate import extract
from opentelemetry.trace import get_current_span
from pydantic import ValidationError

from bimpe_mcp import __version__
from bimpe_mcp.api import tracing
from bimpe_mcp.core import telemetry as signals
from bimpe_mcp.tools.runtime import ERROR_META_KEY
from bimpe_mcp.tools.state import TENANT_PREFIX, token_tenant

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
    from opentelemetry.metrics import Histogram
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

NAME = "bimpe-mcp"
EXTRA = "pip install 'bimpe-mcp[otel]'"
OPERATION_DURATION = "mcp.server.operation.duration"
DURATION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
"""The bucket boundaries the conventions for MCP advise for the operation duration, in seconds."""
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
SHUTDOWN_MILLIS = 10_000


def _exported(env: Mapping[str, str], signal: str) -> bool:
    """Whether one signal (traces, metrics) is to be exported: asked for by an OTLP endpoint or by its exporter
    variable, and not refused by it; an exporter or protocol this server does not ship is named in a warning."""
    upper = signal.upper()
    chosen = env.get(f"OTEL_{upper}_EXPORTER", "").strip().lower()
    endpoint = any(env.get(var, "").strip() for var in (ENDPOINTS[0], f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT"))
    if not chosen and not endpoint:
        return False
    names = {name.strip() for name in (chosen or "otlp").split(",") if name.strip()}
    if names - {"otlp", "none"}:
        log.warning(
            "OTEL_%s_EXPORTER=%s: this server exports %s over OTLP only (a console exporter would write on stdout, "
            "where stdio carries the protocol); set it to otlp or none",
            upper,
            ",".join(sorted(names - {"otlp", "none"}))[:40],
            signal,
        )
    if "otlp" not in names:
        return False
    protocol = env.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    if protocol.strip().lower() not in ("", "http/protobuf"):
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s: this server exports OTLP over HTTP (http/protobuf) only; %s are not "
            "exported",
            protocol.strip()[:20],
            signal,
        )
        return False
    return True


def wanted(env: Mapping[str, str]) -> tuple[bool, bool]:
    """Whether traces and metrics are to be exported, as the OTEL_* variables ask."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False, False
    return _exported(env, "traces"), _exported(env, "metrics")


_running: Telemetry | None = None


def start(env: Mapping[str, str] | None = None) -> Telemetry | None:
    """The process's telemetry, started on the first call when the OTEL_* variables ask for export and the extra is
    installed; None otherwise (nothing is imported then)."""
    global _running
    if _running is not None:
        return _running
    traces, metrics = wanted(os.environ if env is None else env)
    if not (traces or metrics):
        return None
    if not all(_installed(name) for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")):
        log.warning("OTEL_* variables ask for telemetry, but the otel extra is not installed (%s): none is sent", EXTRA)
        return None
    _running = Telemetry(_tracer_provider() if traces else None, _meter_provider() if metrics else None)
    return _running


def instrumented(chain: list[ServerMiddleware[Any]]) -> Telemetry | None:
    """The process's telemetry (`start`), measuring each request of a server whose middleware `chain` is: inside the
    SDK's span, which comes first, and around the rest (the request state's unsealing too)."""
    running = start()
    if running is not None:
        chain.insert(1, running.measured)
    return running


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a parent package is missing
        return False


def _resource() -> Any:
    """The service, as OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES say, else bimpe-mcp; and its version."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    found = Resource.create({"service.version": __version__})
    if str(found.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        found = found.merge(Resource({SERVICE_NAME: NAME}))
    return found


def _tracer_provider() -> TracerProvider:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=_resource())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def _meter_provider() -> MeterProvider:
    from opentelemetry import metrics
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    provider = MeterProvider(resource=_resource(), metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    metrics.set_meter_provider(provider)
    return provider


class Telemetry:
    """The providers of this process, the instruments, and the middleware that measures each MCP request."""

    def __init__(self, tracer_provider: TracerProvider | None, meter_provider: MeterProvider | None) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.duration: Histogram | None = None
        counters = None
        if meter_provider is not None:
            meter = meter_provider.get_meter(NAME, __version__)
            self.duration = meter.create_histogram(
                OPERATION_DURATION,
                unit="s",
                description="Duration of the MCP request or notification as observed by the server",
                explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
            )
            placed = meter.create_counter(signals.PLACED, unit="{call}", description="Calls sent to the API")
            refused = meter.create_counter(signals.REFUSED, unit="{refusal}", description="place_call refusals")
            counters = signals.Counters(placed, refused)
        if tracer_provider is not None:
            tracing.enable(tracer_provider.get_tracer(NAME, __version__))
        signals.enable(tracer_provider is not None, counters)

    async def measured(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Middleware inside the SDK's span: the identity and our error code on it, and the operation's duration."""
        span = get_current_span()
        span.set_attributes(identity())
        began = time.perf_counter()
        error: str | None = None
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            error = str(exc.error.code)
            raise
        except ValidationError:
            error = str(INVALID_PARAMS)
            raise
        except BaseException as exc:
            error = type(exc).__qualname__
            raise
        else:
            failed = failure(result) if ctx.method == "tools/call" else None
            if failed is not None:
                error = "tool_error"
                if failed:
                    span.set_attribute("bimpe.error.code", failed)
            return result
        finally:
            if self.duration is not None:
                self.duration.record(time.perf_counter() - began, operation(ctx, error))

    async def stop(self) -> None:
        """Export what is left and stop exporting, off the event loop (the collector may be slow to answer)."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.shutdown)

    def shutdown(self) -> None:
        tracing.enable(None)
        signals.enable(False, None)
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            try:
                self.meter_provider.shutdown(timeout_millis=SHUTDOWN_MILLIS)
            except Exception as exc:  # noqa: BLE001  # the SDK raises a bare Exception naming the failed readers
                log.warning("the last metrics could not be exported (%s)", type(exc).__name__)


def failure(result: HandlerResult) -> str | None:
    """A tool result's error code ("" for an error without one), or None when it is no error: the result as a model
    or, as some handlers answer, already a dict."""
    if isinstance(result, CallToolResult):
        failed, meta = result.is_error, result.meta
    elif isinstance(result, dict):
        failed, meta = result.get("isError") is True, result.get("_meta")
    else:
        return None
    if not failed:
        return None
    info = cast("dict[str, Any]", meta).get(ERROR_META_KEY) if isinstance(meta, dict) else None
    code = cast("dict[str, Any]", info).get("code") if isinstance(info, dict) else None
    return code if isinstance(code, str) else ""


def operation(ctx: ServerRequestContext[Any, Any], error: str | None) -> dict[str, str]:
    """The attributes of one `mcp.server.operation.duration` measurement, as the conventions for MCP name them."""
    name = (ctx.params or {}).get("name")
    attributes = {"mcp.method.name": ctx.method}
    if ctx.protocol_version:
        attributes["mcp.protocol.version"] = ctx.protocol_version
    if ctx.method == "tools/call" and isinstance(name, str):
        attributes |= {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    elif ctx.method == "prompts/get" and isinstance(name, str):
        attributes["gen_ai.prompt.name"] = name
    if error is not None:
        attributes["error.type"] = error
    return attributes


def identity() -> dict[str, str]:
    """Whose request this is, as a digest: the OAuth subject at its issuer (`bimpe.subject`, the tenant the audit and
    the budgets know the user by), or with `--auth passthrough` the tenant, the digest of the API key that
    server/http.py already names it by (`bimpe.tenant`)."""
    token = get_access_token()
    if token is None:
        return {}
    if token.subject:
        return {"bimpe.subject": token_tenant(token)}
    if token.client_id.startswith(TENANT_PREFIX):
        return {"bimpe.tenant": token.client_id.removeprefix(TENANT_PREFIX)}
    return {}


class TraceHeaders:
    """The trace context of an HTTP request's W3C `traceparent` (and `tracestate`) header, current while the request
    is served: the SDK carries it to the handler, whose span joins the client's trace unless `_meta` names another."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", []) if scope["type"] == "http" else []
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in (b"traceparent", b"tracestate")}
        if "traceparent" not in carrier:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
