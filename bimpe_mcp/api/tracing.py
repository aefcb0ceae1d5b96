"""A span for each API request, as the OpenTelemetry conventions for HTTP clients name it, under the span of the MCP
request being served. Off until the server's telemetry hands a tracer here (server/telemetry.py): then nothing is
traced and nothing of OpenTelemetry is imported.

What a span holds: the method, the URL template (`/api/v1/console/agents/{agent_id}/calls`), the URL without its
query (a search may hold a phone number), the status code and the API's request id. Never a header: the key travels
in one."""

from __future__ import annotations

import re
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx2
    from opentelemetry.trace import Span, Tracer

REQUEST_ID = "bimpe.api.request_id"
"""The attribute naming the request id the API answered with (or, when it named none, the one sent)."""
_TOKEN = re.compile(r"[\x21-\x7e]{1,128}")

_tracer: Tracer | None = None


def enable(tracer: Tracer | None) -> None:
    """Trace the API requests with `tracer` from now on; None turns the spans off."""
    global _tracer
    _tracer = tracer


class Traced:
    """The span of one API request, told what the API answered."""

    def __init__(self, span: Span | None) -> None:
        self.span = span

    def answered(self, status: int, request_id: str) -> None:
        if self.span is None:
            return
        from opentelemetry.trace import StatusCode

        self.span.set_attribute("http.response.status_code", status)
        if _TOKEN.fullmatch(request_id):
            self.span.set_attribute(REQUEST_ID, request_id)
        if status >= 400:
            self.span.set_attribute("error.type", str(status))
            self.span.set_status(StatusCode.ERROR)


_OFF = Traced(None)


@contextmanager
def api_request(method: str, template: str, path: str, base: httpx2.URL, resends: int) -> Generator[Traced]:
    """The span of one attempt of an API request; a transport failure leaving it is named by its class."""
    if _tracer is None:
        yield _OFF
        return
    from opentelemetry.trace import SpanKind, StatusCode

    port = base.port or (443 if base.scheme == "https" else 80)
    host = f"{base.host}:{base.port}" if base.port else base.host
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.template": template,
        "url.full": f"{base.scheme}://{host}{path}",
        "server.address": base.host,
        "server.port": port,
    }
    if resends:
        attributes["http.request.resend_count"] = resends
    name = f"{method} {template}"
    with _tracer.start_as_current_span(
        name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield Traced(span)
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(StatusCode.ERROR)
            raise


def template_of(parts: tuple[str, ...], ids: dict[str, str], prefix: str) -> str:
    """The path with each id named by its kind: ("agents", "a1", "calls") is `<prefix>/agents/{agent_id}/calls`."""
    named = [f"{{{ids[parts[i - 1]]}}}" if i % 2 and parts[i - 1] in ids else part for i, part in enumerate(parts)]
    return prefix + "/" + "/".join(named)
