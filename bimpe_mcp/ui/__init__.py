"""The MCP Apps views, for hosts that render the `io.modelcontextprotocol/ui` extension (hosts without it never read
them): the calls view of show_calls, and the confirmation card of place_call. Each is one self-contained HTML
document served at a `ui://` resource."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

from mcp.server.apps import Apps, ResourceCsp

CALLS_URI = "ui://bimpe/calls.html"
CONFIRM_URI = "ui://bimpe/confirm.html"
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)
# Every list empty: a view loads nothing and connects nowhere; it reads data only through the host.
_CLOSED = ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[])


def _digest(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@cache
def page(name: str) -> str:
    """A view, with what every view shares inlined (the host side, host.js, into its one script; the theme,
    theme.css, into its one style block), and its Content-Security-Policy naming the hash of that script and of that
    style block: nothing else can run or style it, not even markup that slipped into the page, and it can reach no
    network."""
    files = resources.files(__name__)
    template = files.joinpath(name).read_text(encoding="utf-8")
    for placeholder, shared in (("/*%host-js%*/", "host.js"), ("/*%theme-css%*/", "theme.css")):
        template = template.replace(placeholder, files.joinpath(shared).read_text(encoding="utf-8").strip())
    hashes = {kind: _digest(body) for kind, body in _INLINE.findall(template)}
    return template.replace("%script-hash%", hashes["script"]).replace("%style-hash%", hashes["style"])


def views_app() -> Apps:
    """The extension that serves the views; show_calls and place_call name theirs in `_meta.ui.resourceUri`."""
    apps = Apps()
    apps.add_html_resource(
        CALLS_URI,
        page("calls.html"),
        name="calls_view",
        title="Calls view",
        description="Call log table, outcomes per day and transcripts, for show_calls results.",
        csp=_CLOSED,
        prefers_border=True,
    )
    apps.add_html_resource(
        CONFIRM_URI,
        page("confirm.html"),
        name="confirm_card",
        title="Call confirmation card",
        description="The call place_call would place, with Confirm and Decline buttons a person presses.",
        csp=_CLOSED,
        prefers_border=True,
    )
    return apps
