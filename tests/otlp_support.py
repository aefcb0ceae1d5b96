"""A loopback OTLP/HTTP receiver for the telemetry tests: it decodes what an exporter posts to /v1/traces and
/v1/metrics (opentelemetry-proto's messages) and lets a test wait, bounded, for what it expects."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

WAIT_SECONDS = 30.0


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes_of(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def attributes_of(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        found[pair.key] = value_of(pair.value)
    return found


@dataclass
class Span:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    texts: list[str]
    """Every string the span carries besides its attributes: its status message, its events and links."""


@dataclass
class Point:
    """One data point of a metric: its attributes, and its value (a sum's) or its count (a histogram's)."""

    metric: str
    unit: str
    attributes: dict[str, Any]
    value: float
    kind: str


@dataclass
class Received:
    spans: list[Span] = field(default_factory=lambda: list[Span]())
    points: list[Point] = field(default_factory=lambda: list[Point]())
    raw: list[dict[str, Any]] = field(default_factory=lambda: list[dict[str, Any]]())
    """Every request decoded to JSON, to scan whole for what must never be sent."""


def _spans(message: ExportTraceServiceRequest) -> Iterator[Span]:
    for resource_spans in message.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                texts = [span.status.message, *(e.name for e in span.events)]
                texts += [str(attributes_of(e.attributes)) for e in span.events]
                yield Span(
                    span.name,
                    span.kind,
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.parent_span_id.hex(),
                    attributes_of(span.attributes),
                    resource,
                    texts,
                )


def _points(message: ExportMetricsServiceRequest) -> Iterator[Point]:
    for resource_metrics in message.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind == "histogram":
                    for p in metric.histogram.data_points:
                        yield Point(metric.name, metric.unit, attributes_of(p.attributes), float(p.count), kind)
                elif kind == "sum":
                    for p in metric.sum.data_points:
                        value = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                        yield Point(metric.name, metric.unit, attributes_of(p.attributes), float(value), kind)


class Receiver:
    """OTLP/HTTP (protobuf) on a free loopback port; `endpoint` is what OTEL_EXPORTER_OTLP_ENDPOINT takes."""

    def __init__(self) -> None:
        self.received = Received()
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                answer = receiver.take(self.path, body)
                if answer is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def take(self, path: str, body: bytes) -> bytes | None:
        with self._changed:
            if path == "/v1/traces":
                message = ExportTraceServiceRequest.FromString(body)
                self.received.spans.extend(_spans(message))
                answer = ExportTraceServiceResponse().SerializeToString()
            elif path == "/v1/metrics":
                metrics = ExportMetricsServiceRequest.FromString(body)
                self.received.points.extend(_points(metrics))
                message = metrics
                answer = ExportMetricsServiceResponse().SerializeToString()
            else:
                return None
            self.received.raw.append(MessageToDict(message))
            self._changed.notify_all()
        return answer

    def wait_for(self, what: str, found: Callable[[Received], bool]) -> Received:
        """Wait (bounded) until `found` holds of what arrived; fail naming what did arrive."""
        with self._changed:
            self._changed.wait_for(lambda: found(self.received), timeout=WAIT_SECONDS)
            if not found(self.received):
                names = sorted({s.name for s in self.received.spans})
                metrics = sorted({p.metric for p in self.received.points})
                raise AssertionError(f"no {what} within {WAIT_SECONDS:.0f} s; spans {names}, metrics {metrics}")
            return self.received

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
