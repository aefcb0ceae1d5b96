"""An MCP Apps host for the view tests: headless Chromium (Debian's package, driven by Playwright) showing a view in
the host page of tests/app_host, with the view's tools/call requests answered by a real MCP client."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult, TextResourceContents

from bimpe_mcp.ui import CALLS_URI

if TYPE_CHECKING:
    from playwright.async_api import ConsoleMessage, Frame, FrameLocator, Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
HOST_PAGE = Path(__file__).parent / "app_host" / "host.html"
# Written by every run, never committed (.gitignore); README links them.
SCREENSHOTS = ROOT / "docs" / "screenshots"
# Without the background-networking flags Chromium keeps trying the network, which is closed here.
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


def require_browser() -> None:
    """Chromium and Playwright, which `.ci/run` installs. Missing, the test skips locally but fails under CI."""
    missing: list[str] = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install -e '.[test]')")
    if not missing:
        return
    reason = "the view tests need " + " and ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def wire(result: CallToolResult) -> dict[str, Any]:
    """A tool result as the host received it on the wire, which is what it hands the view."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def view_html(client: Client) -> str:
    read = await client.read_resource(CALLS_URI)
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

    async def set_theme(self, theme: str) -> None:
        await self.page.evaluate("context => window.setHostContext(context)", {"theme": theme})
        await self.view.locator(f'html[data-theme="{theme}"]').wait_for(state="attached")


@asynccontextmanager
async def view_host(client: Client, result: CallToolResult, arguments: dict[str, Any]) -> AsyncGenerator[ViewHost]:
    """The calls view of `client`'s server showing `result`, in light theme, UTC and en-US."""
    require_browser()
    from playwright.async_api import async_playwright

    html = await view_html(client)

    async def host_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return wire(await client.call_tool(name, args))

    context = {"theme": "light", "timeZone": "UTC", "locale": "en-US", "displayMode": "inline"}
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
            await page.expose_function("hostCall", host_call)  # pyright: ignore[reportUnknownMemberType]
            await page.goto(HOST_PAGE.as_uri())
            await page.evaluate(
                "([html, input, result, context]) => window.startView(html, input, result, context)",
                [html, arguments, wire(result), context],
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
