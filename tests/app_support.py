"""An MCP Apps host for the view tests: headless Chromium (Debian's package, driven by Playwright) showing a view in
the page of tests/app_host, whose host side is @modelcontextprotocol/ext-apps' own AppBridge (bundled by esbuild),
with the view's tools/call requests answered by a real MCP client."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult, TextResourceContents

from bimpe_mcp.ui import CALLS_URI
from tests.dist_support import NODE_BIN, node_env

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage, Frame, FrameLocator, Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
HOST_DIR = Path(__file__).parent / "app_host"
HOST_PAGE = HOST_DIR / "host.html"
# host.js bundled with the AppBridge, once a test run, beside the page; never committed (`build/` in .gitignore).
HOST_BUNDLE = HOST_DIR / "build" / "host.js"
# The npm packages `.ci/run` installs for it, at the versions pinned there.
HOST_PACKAGES = {"@modelcontextprotocol/ext-apps": "2.0.4", "esbuild": "0.28.2"}
# Written by every run, never committed (.gitignore); README links them.
SCREENSHOTS = ROOT / "docs" / "screenshots"
# Without the background-networking flags Chromium keeps trying the network, which is closed here. The view's
# sandboxed frame stays in the page's process: in a process of its own, Playwright's clock can reach its document
# after the view's first scripts ran (seen under load), leaving the view's timers on the real clock.
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=IsolateSandboxedIframes",
]
APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
# The host context a view starts with unless the test says otherwise (a test's keys replace these).
CONTEXT: dict[str, Any] = {"theme": "light", "timeZone": "UTC", "locale": "en-US", "displayMode": "inline"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_browser() -> None:
    """Chromium, Playwright and the host's npm packages, which `.ci/run` installs. Missing, the test skips locally but
    fails under CI."""
    missing: list[str] = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -e '.[test]')")
    for name, version in HOST_PACKAGES.items():
        manifest = NODE_BIN.parent / name / "package.json"
        found = json.loads(manifest.read_text(encoding="utf-8")).get("version") if manifest.is_file() else None
        if found != version:
            missing.append(f"{name}@{version} in .ci/node (found {found or 'nothing'}; run .ci/run)")
    if missing:
        _unavailable("the view tests need " + " and ".join(missing))


@cache
def host_bundle() -> Path:
    """host.js and the AppBridge it imports as one script the page loads, built by esbuild once a test run."""
    HOST_BUNDLE.parent.mkdir(exist_ok=True)
    partial = HOST_BUNDLE.with_name(f"host.{os.getpid()}.js")
    command = [str(NODE_BIN / "esbuild"), str(HOST_DIR / "host.js"), "--bundle", "--format=iife"]
    command += ["--platform=browser", "--target=chrome120", "--log-level=warning", f"--outfile={partial}"]
    built = subprocess.run(
        command, env=node_env(NODE_PATH=str(NODE_BIN.parent)), capture_output=True, text=True, timeout=120, check=False
    )
    if built.returncode != 0:
        pytest.fail(f"esbuild could not bundle the test host: {built.stderr or built.stdout}")
    partial.replace(HOST_BUNDLE)  # whole, even with several test processes building at once
    return HOST_BUNDLE


def wire(result: CallToolResult) -> dict[str, Any]:
    """A tool result as the host received it on the wire (`_meta` included), which is what it hands the view."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def view_html(client: Client, uri: str = CALLS_URI) -> str:
    read = await client.read_resource(uri)
    content = read.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


@dataclass
class ViewHost:
    page: Page
    view: FrameLocator
    frame: Frame
    problems: list[str]

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / name))

    async def set_context(self, changes: Mapping[str, Any]) -> None:
        """The host context changes: the bridge sends the view the fields that differ (host-context-changed)."""
        await self.page.evaluate("changes => window.setHostContext(changes)", dict(changes))

    async def set_theme(self, theme: str) -> None:
        await self.set_context({"theme": theme})
        await self.view.locator(f'html[data-theme="{theme}"]').wait_for(state="attached")

    async def leave_unanswered(self, tool: str) -> None:
        """From now on the host takes the view's calls of `tool` and never answers them."""
        await self.page.evaluate("name => window.leaveUnanswered(name)", tool)

    async def received(self) -> list[dict[str, Any]]:
        """Every JSON-RPC message the view sent the host, in order."""
        return cast("list[dict[str, Any]]", await self.page.evaluate("() => window.received"))

    async def tool_calls(self, **at_least: int) -> list[str]:
        """The tools the view called through the host, in order, once the host has received at least `at_least[name]`
        calls of each tool named: the view posts a request after it has drawn the state that says so."""
        await self.page.wait_for_function(
            """(least) => Object.entries(least).every(([name, n]) => window.received.filter(
                 (m) => m.method === "tools/call" && m.params && m.params.name === name).length >= n)""",
            arg=at_least,
            polling=50,
        )
        return [m["params"]["name"] for m in await self.received() if m.get("method") == "tools/call"]

    async def sizes(self) -> list[dict[str, Any]]:
        """The sizes the view asked for (ui/notifications/size-changed), in order."""
        sent = await self.received()
        return [m["params"] for m in sent if m.get("method") == "ui/notifications/size-changed"]

    async def frame_height(self) -> float:
        """The height of the view's frame as the host sized it (inside its border)."""
        return cast("float", await self.page.evaluate("() => document.getElementById('view').clientHeight"))


@asynccontextmanager
async def view_host(
    client: Client,
    result: CallToolResult,
    arguments: dict[str, Any],
    *,
    uri: str = CALLS_URI,
    context: Mapping[str, Any] | None = None,
    fake_clock: bool = False,
    silent: bool = False,
) -> AsyncGenerator[ViewHost]:
    """The view at `uri` of `client`'s server showing `result` (as received, `_meta` included) for `arguments`, with
    the host context CONTEXT updated by `context` (e.g. `{"containerDimensions": {"maxHeight": 600}}`). With
    `fake_clock`, the page's timers run on Playwright's clock, which `host.page.clock` moves on; a `silent` host
    never answers the view at all, not even its ui/initialize."""
    require_browser()
    from playwright.async_api import async_playwright

    bundle = await anyio.to_thread.run_sync(host_bundle)
    assert bundle.is_file()
    html = await view_html(client, uri)

    async def host_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return wire(await client.call_tool(name, args))

    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 900, "height": 1000}, locale="en-US", timezone_id="UTC")
            page.set_default_timeout(20_000)
            page.on("console", console)
            page.on("pageerror", lambda error: problems.append(str(error)))
            if fake_clock:
                await page.clock.install()
            await page.expose_function("hostCall", host_call)  # pyright: ignore[reportUnknownMemberType]
            await page.goto(HOST_PAGE.as_uri())
            await page.evaluate(
                "([html, input, result, context, silent]) => window.startView(html, input, result, context, silent)",
                [html, arguments, wire(result), {**CONTEXT, **(context or {})}, silent],
            )
            element = await page.query_selector("#view")
            frame = element and await element.content_frame()
            assert frame is not None
            yield ViewHost(page, page.frame_locator("#view"), frame, problems)
        finally:
            await browser.close()


class HostileApi(httpx2.AsyncBaseTransport):
    """The sandbox, except that the caller's first words in every transcript and the reason of every failed call
    are the payload: markup that would run script if a view ever treated them as HTML."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, payload: str) -> None:
        self.inner = inner
        self.payload = payload

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or "/calls" not in request.url.path or response.status_code != 200:
            return response
        body = cast("dict[str, Any]", json.loads(await response.aread()))
        data = body["data"]
        calls = cast("list[dict[str, Any]]", data if isinstance(data, list) else [data])
        for call in calls:
            if call["status"] == "failed":
                call["error_reason"] = self.payload
            messages = cast("list[dict[str, Any]]", call.get("conversation_logs", []))
            for message in messages[1:2]:
                message["message"] = self.payload
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")}
        return httpx2.Response(response.status_code, headers=headers, json=body)
