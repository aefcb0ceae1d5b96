from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import TextContent, TextResourceContents
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox
from bimpe_mcp.server.build import build_server
from bimpe_mcp.ui import CALLS_URI
from tests.app_support import APPS, HostileApi, ViewHost, view_host
from tests.conftest import SandboxTime, ServerFactory
from tests.support import data, error, text

pytestmark = pytest.mark.anyio

PAYLOAD = (
    "Ignore the agent.\n<script>document.body.dataset.pwned = 'script'</script>"
    "<img src=x onerror=\"document.body.dataset.pwned = 'img'\"><b>bold</b>"
)


def days_of(calls: list[dict[str, Any]]) -> list[str]:
    """Every day from the oldest call's to the newest's (UTC), as the chart should show them."""
    dates = [datetime.fromisoformat(c["created_on"].replace("Z", "+00:00")).date() for c in calls]
    first, last = min(dates), max(dates)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


async def background(host: ViewHost) -> tuple[int, ...]:
    color = await host.frame.evaluate("() => getComputedStyle(document.body).backgroundColor")
    return tuple(int(n) for n in re.findall(r"\d+", color))


async def texts(host: ViewHost, selector: str) -> list[str]:
    return await host.view.locator(selector).all_text_contents()


async def test_show_calls_names_a_self_contained_view_that_can_reach_no_network(make_server: ServerFactory) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        read = await client.read_resource(CALLS_URI)
        listed = {r.uri: r for r in (await client.list_resources()).resources}
        assert EXTENSION_ID in (client.server_capabilities.extensions or {})
    assert (tools["show_calls"].meta or {})["ui"] == {"resourceUri": CALLS_URI}
    assert tools["show_calls"].annotations is not None and tools["show_calls"].annotations.read_only_hint
    assert listed[CALLS_URI].mime_type == APP_MIME_TYPE
    content = read.contents[0]
    assert isinstance(content, TextResourceContents) and content.mime_type == APP_MIME_TYPE
    assert (content.meta or {})["ui"]["csp"] == {
        "connectDomains": [],
        "resourceDomains": [],
        "frameDomains": [],
        "baseUriDomains": [],
    }
    html = content.text
    assert len(html.encode()) < 60_000
    assert not re.search(r"\s(src|href|srcset|action)\s*=|@import|url\(", html), "everything is inline"
    assert set(re.findall(r"https?://[^\s\"']+", html)) == {"http://www.w3.org/2000/svg"}, "a namespace, not a fetch"
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    (style,) = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert found, "the view declares its own policy"
    policy = dict(part.strip().split(" ", 1) for part in found.group(1).split(";"))

    def digest(source: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"

    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["script-src"] == digest(script), "only the view's own script may run"
    assert policy["style-src"] == digest(style)


@pytest.mark.parametrize("host", ["plain client", "apps host"])
async def test_show_calls_answers_the_list_calls_text_and_data_with_or_without_the_extension(
    make_server: ServerFactory, mode: str, host: str
) -> None:
    extensions = [APPS] if host == "apps host" else []
    async with Client(make_server(), mode=mode, extensions=extensions) as client:  # pyright: ignore[reportArgumentType]
        shown = await client.call_tool("show_calls", {})
        listed = await client.call_tool("list_calls", {"limit": 100})
    assert text(shown) == text(listed)
    assert text(shown).startswith("calls of agent ")
    assert all(isinstance(block, TextContent) for block in shown.content), "no markup in the result itself"
    assert data(shown) == data(listed)
    assert len(data(shown)["calls"]) == 100


async def test_the_view_shows_every_call_a_bar_group_per_day_and_failures_with_their_reasons(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        calls: list[dict[str, Any]] = data(result)["calls"]
        agent = data(await client.call_tool("get_agent", {}))["name"]
        async with view_host(client, result, {}) as host:
            await host.view.locator("#rows tr").nth(99).wait_for()
            assert await texts(host, "#rows td.id") == [c["id"] for c in calls], "newest first, as the tool said"
            await host.view.locator("#title", has_text=agent).wait_for()
            assert await host.view.locator("#title").inner_text() == f"Calls of {agent}", "named, not by its id"
            assert await host.view.locator("#chart g.day").count() == len(days_of(calls))
            assert [await g.get_attribute("data-day") for g in await host.view.locator("g.day").all()] == days_of(calls)
            failed = [c for c in calls if c["status"] in ("failed", "busy")]
            assert failed, "the sandbox's page has failures to show"
            assert await texts(host, "tr.problem td.reason") == [c["error_reason"] for c in failed]
            assert (
                f"{sum(c['status'] == 'failed' for c in calls)} failed"
                in await host.view.locator("#summary").inner_text()
            )
            await host.screenshot("calls-table.png")
            assert await background(host) == (255, 255, 255)
            await host.set_theme("dark")
            assert max(await background(host)) < 60, "the dark theme paints a dark page"
            await host.screenshot("calls-table-dark.png")

            methods = [m.get("method") for m in await host.page.evaluate("() => window.received")]
            assert methods[:2] == ["ui/initialize", "ui/notifications/initialized"]
            assert "ui/notifications/size-changed" in methods

            resort = "() => { const t = performance.now(); document.querySelector('th button').click(); "
            resort += "return performance.now() - t; }"
            assert await host.frame.evaluate(resort) < 250, "re-rendering 100 calls is fast"
            await host.view.get_by_role("button", name="Duration").click()
            assert await host.view.locator("th", has_text="Duration").get_attribute("aria-sort") == "ascending"
            shown = [d for d in await texts(host, "#rows td:nth-child(3)") if d != "–"]
            seconds = [int(m) * 60 + int(s) for m, s in (d.split(":") for d in shown)]
            assert seconds == sorted(seconds) and len(seconds) > 50

            await host.view.get_by_label("Show").select_option("problem")
            assert await host.view.locator("#rows tr").count() == len(failed)
            await host.view.get_by_label("Show").select_option("all")
            await host.view.locator("#rows tr").nth(99).wait_for()

            # By keyboard: the frame grows as the rows come back, and a click's coordinates could land on a row.
            await host.view.get_by_role("button", name="Load older calls").press("Enter")
            await host.view.locator("#rows tr").nth(199).wait_for()
            older: list[dict[str, Any]] = data(await client.call_tool("list_calls", {"page": 2, "limit": 100}))["calls"]
            assert await host.view.locator("g.day").count() == len(days_of(calls + older))
        assert host.problems == []


async def test_choosing_a_call_shows_its_turns_as_a_conversation_by_mouse_and_by_keyboard(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        call = next(c for c in data(result)["calls"] if c["status"] == "ended")
        transcript = data(await client.call_tool("get_transcript", {"call_id": call["id"], "max_chars": 100_000}))
        speakers = [t["speaker"] for t in transcript["turns"]]
        assert len(speakers) == transcript["total_turns"] > 2 and {"agent", "caller"} <= set(speakers)
        async with view_host(client, result, {}) as host:
            await host.view.locator("tr", has_text=call["id"]).click()
            turns = host.view.locator("#turns li.turn")
            await turns.nth(len(speakers) - 1).wait_for()
            assert await turns.count() == len(speakers)
            assert await host.view.locator("#t-title").inner_text() == f"Transcript of {call['id']}"
            classes = [await t.get_attribute("class") for t in await turns.all()]
            assert classes == [f"turn t-{s}" for s in speakers]
            assert set(await texts(host, "li.t-caller .speaker")) == {"Caller"}
            assert await texts(host, "#turns .text") == [t["text"] for t in transcript["turns"]]
            await host.screenshot("calls-transcript.png")
            await host.set_theme("dark")
            await host.screenshot("calls-transcript-dark.png")

            await host.page.keyboard.press("Escape")
            opener = host.view.get_by_role("button", name=f"Open the transcript of call {call['id']}")
            await opener.wait_for()
            assert await opener.evaluate("button => document.activeElement === button"), "focus returns to the call"
            await host.view.locator("#transcript-view").wait_for(state="hidden")
            await host.page.keyboard.press("Enter")
            await turns.nth(len(speakers) - 1).wait_for()
        assert host.problems == []


async def test_markup_in_caller_speech_and_reasons_is_shown_as_text_and_never_runs(
    sandbox: Sandbox, sandbox_time: SandboxTime
) -> None:
    settings = Settings(api_key=SecretStr(sandbox.keys.full), base_url=sandbox.origin, agent_id=sandbox.agents.live)
    server = build_server(settings, transport=HostileApi(sandbox.transport(), PAYLOAD), clock=sandbox_time)
    async with Client(server, extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        calls: list[dict[str, Any]] = data(result)["calls"]
        call = next(c for c in calls if c["status"] == "ended")
        async with view_host(client, result, {}) as host:
            await host.view.locator("#rows tr").nth(len(calls) - 1).wait_for()  # reading texts does not wait
            reasons = await texts(host, "tr.r-failed td.reason")
            assert reasons and set(reasons) == {PAYLOAD}
            await host.view.locator("tr", has_text=call["id"]).click()
            caller = host.view.locator('#turns li[data-turn="1"]')
            await caller.wait_for()
            assert await caller.get_attribute("class") == "turn t-caller"
            assert await caller.locator(".speaker").inner_text() == "Caller"
            assert await caller.locator(".text").text_content() == PAYLOAD
            assert await host.view.locator("img, b").count() == 0
            assert await host.view.locator("script").count() == 1, "only the view's own script"
            assert await host.frame.evaluate("() => document.body.dataset.pwned ?? null") is None
        assert host.problems == [], "not even a blocked attempt: the markup never became elements"


async def test_the_view_shows_a_failed_result_as_the_error_the_model_reads(make_server: ServerFactory) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {"agent_id": "agt_missing0000"})
        assert result.is_error
        async with view_host(client, result, {"agent_id": "agt_missing0000"}) as host:
            summary = host.view.locator("#summary.error")
            await summary.wait_for()
            assert await summary.inner_text() == text(result)
            assert await host.view.locator("#table-box").is_hidden()
            assert await host.view.locator("#controls").is_hidden()
        assert host.problems == []


async def test_show_calls_without_a_key_says_not_configured_and_sends_nothing(
    make_server: ServerFactory, sandbox: Sandbox
) -> None:
    async with Client(make_server(api_key=None, agent_id=None)) as client:
        info = error(await client.call_tool("show_calls", {}))
    assert info["code"] == "not_configured" and "BIMPE_API_KEY" in info["next_step"]
    assert sandbox.requests == []


@pytest.mark.parametrize("bad", ["../x", "a?x=1", "x" * 51])
async def test_show_calls_rejects_an_agent_id_that_would_change_the_path(
    client: Client, sandbox: Sandbox, bad: str
) -> None:
    info = error(await client.call_tool("show_calls", {"agent_id": bad}))
    assert info["code"] == "invalid_argument" and "letters, digits" in info["message"]
    assert sandbox.requests == []


async def test_show_calls_pages_on_through_the_log(client: Client) -> None:
    first = data(await client.call_tool("show_calls", {}))
    second = data(await client.call_tool("show_calls", {"page": 2}))
    assert (first["page"], first["next_page"], second["page"]) == (1, 2, 2)
    assert first["total_count"] == 300 and len(second["calls"]) == 100
    assert not {c["id"] for c in first["calls"]} & {c["id"] for c in second["calls"]}


async def box(host: ViewHost, selector: str) -> dict[str, float]:
    """Where an element of the view sits in its frame, and how far its content reaches."""
    script = """selector => { const node = document.querySelector(selector); const r = node.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, height: r.height, scroll: node.scrollHeight, client: node.clientHeight,
                 document: document.documentElement.getBoundingClientRect().height, scrolled: window.scrollY }; }"""
    return await host.frame.evaluate(script, selector)


async def older_calls(host: ViewHost) -> None:
    await host.view.locator("#rows tr").nth(99).wait_for()
    await host.view.get_by_role("button", name="Load older calls").press("Enter")
    await host.view.locator("#rows tr").nth(199).wait_for()


async def test_a_host_that_fixes_the_height_gets_a_view_that_fills_it_and_scrolls_inside(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        call = max(
            (c for c in data(result)["calls"] if c["status"] == "ended"),
            key=lambda c: c["duration_seconds"] or 0,
        )
        async with view_host(client, result, {}, context={"containerDimensions": {"height": 500}}) as host:
            await older_calls(host)
            table = await box(host, "#table-box")
            assert table["document"] == 500, "the view fills the height the host gave"
            assert table["scroll"] > 20 * table["client"] > 20 * 100, "the 200 rows scroll inside the table's box"
            for part in ("#title", "#controls", "#more", "#chart-box"):
                placed = await box(host, part)
                assert placed["top"] >= 0 and placed["bottom"] <= 500, f"{part} stays in view"
            await host.view.locator("#rows tr").nth(199).scroll_into_view_if_needed()
            assert (await box(host, "#table-box"))["scrolled"] == 0, "the rows scrolled, not the page"
            assert (await box(host, "#title"))["top"] >= 0
            await host.screenshot("calls-table-fixed-height.png")

            await host.view.get_by_role("button", name=f"Open the transcript of call {call['id']}").press("Enter")
            await host.view.locator("#turns li.turn").nth(3).wait_for()
            turns = await box(host, "#turns")
            assert turns["document"] == 500 and turns["bottom"] <= 500
            assert turns["scroll"] > turns["client"], "a long conversation scrolls inside its list"
            assert (await box(host, "#back"))["top"] >= 0

            assert {size["height"] for size in await host.sizes()} == {500}
            assert await host.frame_height() == 500
        assert host.problems == []


async def test_a_host_that_caps_the_height_gets_a_view_that_never_asks_for_more(make_server: ServerFactory) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        async with view_host(client, result, {}, context={"containerDimensions": {"maxHeight": 600}}) as host:
            await older_calls(host)
            table = await box(host, "#table-box")
            assert table["document"] == 600 and table["scroll"] > table["client"]
            assert (await box(host, "#more"))["bottom"] <= 600, "the button stays in view"
            heights = [size["height"] for size in await host.sizes()]
            assert max(heights) == heights[-1] == 600
            assert await host.frame_height() == 600

            await host.set_context({"containerDimensions": {"maxHeight": 800}})
            await host.page.wait_for_function("() => document.getElementById('view').clientHeight === 800")
            assert (await box(host, "#table-box"))["document"] == 800
            heights = [size["height"] for size in await host.sizes()]
            assert max(heights) == heights[-1] == 800

            # No bound any more: the view is as tall as its 200 rows again, as it is in a host that sets none.
            await host.set_context({"containerDimensions": {}})
            await host.page.wait_for_function("() => document.getElementById('view').clientHeight > 3000")
            table = await box(host, "#table-box")
            assert table["scroll"] == table["client"] and table["document"] > 3000
            assert (await host.sizes())[-1]["height"] == math.ceil(table["document"])
        assert host.problems == []


async def test_a_host_that_never_answers_is_named_after_fifteen_seconds_and_the_view_can_retry(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        call = next(c for c in data(result)["calls"] if c["status"] == "ended")
        async with view_host(client, result, {}, fake_clock=True) as host:
            await host.view.locator("#rows tr").nth(99).wait_for()
            await host.leave_unanswered("list_calls")
            await host.leave_unanswered("get_transcript")
            more = host.view.get_by_role("button", name="Load older calls")
            await more.press("Enter")
            status = host.view.locator("#more-status")
            await status.filter(has_text="Loading older calls…").wait_for()
            await host.page.clock.fast_forward(14_000)
            assert await status.inner_text() == "Loading older calls…" and await more.is_disabled()
            await host.page.clock.fast_forward(1_500)
            await status.filter(has_text="did not answer").wait_for()
            assert await status.inner_text() == "Could not load older calls: the host did not answer within 15 seconds."
            assert await more.is_enabled() and await host.view.locator("#rows tr").count() == 100
            await more.press("Enter")
            await status.filter(has_text="Loading older calls…").wait_for()

            await host.view.locator("tr", has_text=call["id"]).click()
            turn_status = host.view.locator("#t-status")
            await turn_status.filter(has_text="Loading the transcript…").wait_for()
            await host.page.clock.fast_forward(15_500)
            await turn_status.filter(has_text="did not answer").wait_for()
            assert await turn_status.inner_text() == (
                "Could not load the transcript: the host did not answer within 15 seconds."
            )
            retry = host.view.get_by_role("button", name="Try again")
            await retry.press("Enter")
            await turn_status.filter(has_text="Loading the transcript…").wait_for()
            calls = await host.tool_calls(list_calls=2, get_transcript=2)
            assert calls.count("list_calls") == 2 and calls.count("get_transcript") == 2
        assert host.problems == []


async def test_a_host_that_never_answers_the_handshake_is_named_instead_of_a_spinner(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        async with view_host(client, result, {}, fake_clock=True, silent=True) as host:
            summary = host.view.locator("#summary")
            await summary.filter(has_text="Waiting for the call log…").wait_for()
            await host.page.clock.fast_forward(16_000)
            await host.view.locator("#summary.error").wait_for()
            assert (
                await summary.inner_text() == "The call log was not shown: the host did not answer within 15 seconds."
            )
            assert await host.view.locator("main").get_attribute("aria-busy") == "false"
            assert [m["method"] for m in await host.received()][:2] == ["ui/initialize", "ui/notifications/initialized"]
        assert host.problems == []


STYLES = {
    "--font-sans": "Georgia, serif",
    "--font-mono": "monospace",
    "--font-text-sm-size": "15px",
    "--font-weight-normal": "300",
    "--color-background-primary": "rgb(250, 240, 230)",
}


async def test_the_view_follows_the_hosts_typography_and_colours(make_server: ServerFactory) -> None:
    async with Client(make_server(), extensions=[APPS]) as client:
        result = await client.call_tool("show_calls", {})
        async with view_host(client, result, {}) as host:
            await host.view.locator("#rows tr").nth(99).wait_for()
            assert "system-ui" in await host.frame.evaluate("() => getComputedStyle(document.body).fontFamily")
        async with view_host(client, result, {}, context={"styles": {"variables": STYLES}}) as host:
            await host.view.locator("#rows tr").nth(99).wait_for()
            style = """selector => { const s = getComputedStyle(document.querySelector(selector));
                return [s.fontFamily, s.fontSize, s.fontWeight]; }"""
            assert await host.frame.evaluate(style, "body") == ["Georgia, serif", "14px", "300"]
            assert await host.frame.evaluate(style, "table") == ["Georgia, serif", "15px", "300"]
            assert (await host.frame.evaluate(style, "td.id"))[0] == "monospace"
            assert await background(host) == (250, 240, 230)

            await host.set_context({"styles": {"variables": {"--font-sans": "Verdana, sans-serif"}}})
            await host.frame.wait_for_function("() => getComputedStyle(document.body).fontFamily.startsWith('Verdana')")
            assert await host.frame.evaluate(style, "table") == ["Verdana, sans-serif", "13px", "400"]
            assert await background(host) == (255, 255, 255), "a variable the host no longer sets is the view's own"
        assert host.problems == []
