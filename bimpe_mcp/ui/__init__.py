"""The MCP Apps view of an agent's calls: one self-contained HTML document served at a `ui://` resource, for hosts
that render the `io.modelcontextprotocol/ui` extension. Hosts without it never read it."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from mcp.server.apps import Apps, ResourceCsp

CALLS_URI = "ui://bimpe/calls.html"
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@cache
def calls_html() -> str:
    """The view, with its Content-Security-Policy naming the hash of its one script and one style block: nothing
    else can run or style it, not even markup that slipped into the page, and it can reach no network."""
    template = resources.files(__name__).joinpath("calls.html").read_text(encoding="utf-8")
    hashes = {kind: _digest(body) for kind, body in _INLINE.findall(template)}
    return template.replace("%script-hash%", hashes["script"]).replace("%style-hash%", hashes["style"])


def calls_app() -> Apps:
    """The extension that serves the view; the show_calls tool names it in its `_meta.ui.resourceUri`."""
    apps = Apps()
    apps.add_html_resource(
        CALLS_URI,
        calls_html(),
        name="calls_view",
        title="Calls view",
        description="Call log table, outcomes per day and transcripts, for show_calls results.",
        # Every list empty: the view loads nothing and connects nowhere; it reads data only through the host.
        csp=ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[]),
        prefers_border=True,
    )
    return apps
