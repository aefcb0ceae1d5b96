from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import Tool
from pydantic import BaseModel

from bimpe_mcp import __version__
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
from bimpe_mcp.tools import runtime
from bimpe_mcp.tools.runtime import stored_schemas
from tests.conftest import ServerFactory

SNAPSHOTS = Path(__file__).parent / "snapshots"
TOOL_SNAPSHOTS = SNAPSHOTS / "tools"
README = Path(__file__).parent.parent / "README.md"
UPDATE = os.environ.get("BIMPE_UPDATE_SNAPSHOTS") == "1"
PROTOCOL = {"auto": "2026-07-28", "legacy": "2025-11-25"}
pytestmark = pytest.mark.anyio


def dump(item: BaseModel) -> dict[str, Any]:
    """One published item as it travels on the wire (camelCase, no nulls)."""
    return item.model_dump(mode="json", by_alias=True, exclude_none=True)


def snapshot_text(value: Any) -> str:
    """Keys sorted: the two protocol eras publish the same objects with their keys in different orders."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def matches_snapshot(path: Path, value: Any) -> bool:
    """Whether the committed file holds exactly this value's text; BIMPE_UPDATE_SNAPSHOTS=1 rewrites it first."""
    current = snapshot_text(value)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(current.encode())
    return path.is_file() and path.read_bytes() == current.encode()


def changed_tools(tools: Sequence[Tool]) -> list[str]:
    return [t.name for t in tools if not matches_snapshot(TOOL_SNAPSHOTS / f"{t.name}.json", dump(t))]


def committed_tools() -> set[str]:
    return {p.stem for p in TOOL_SNAPSHOTS.glob("*.json")}


async def test_each_published_tool_matches_its_committed_snapshot(make_server: ServerFactory, mode: str) -> None:
    async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        tools = (await client.list_tools()).tools
    names = {t.name for t in tools}
    if UPDATE:
        for stale in committed_tools() - names:
            (TOOL_SNAPSHOTS / f"{stale}.json").unlink()
    assert changed_tools(tools) == [], "tool schemas changed: rerun with BIMPE_UPDATE_SNAPSHOTS=1 if that was intended"
    assert committed_tools() == names, "a tool was added or removed: rerun with BIMPE_UPDATE_SNAPSHOTS=1"


@pytest.fixture
def stored_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Points the server at another stored schemas file; the real one is read again afterwards."""

    def use(path: Path) -> None:
        monkeypatch.setattr(runtime, "SCHEMAS", path)
        stored_schemas.cache_clear()

    yield use
    monkeypatch.undo()
    stored_schemas.cache_clear()


@pytest.mark.parametrize("content", [None, "not json", "[]"], ids=["missing", "unreadable", "not-a-table"])
async def test_tools_listed_from_the_stored_schemas_are_those_built_at_start_and_run_alike(
    make_server: ServerFactory, mode: str, stored_file: Callable[[Path], None], tmp_path: Path, content: str | None
) -> None:
    """The server lists each tool from bimpe_mcp/tools/schemas.json and builds the SDK's Tool on its first call:
    without a usable file, every tool is built at start and the listing is the same, as are the answers, good or
    bad."""
    calls = [
        ("list_calls", {"limit": 2}),
        ("list_calls", {"limit": "two"}),
        ("get_agent", {"agent_id": "agt_x", "colour": "red"}),
    ]

    async def served() -> tuple[list[dict[str, Any]], list[tuple[bool, str]]]:
        async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            tools = [dump(t) for t in (await client.list_tools()).tools]
            answers = [await client.call_tool(name, args) for name, args in calls]
        return tools, [(a.is_error, getattr(a.content[0], "text", "")) for a in answers]

    assert stored_schemas(), "the stored schemas are read"
    stored = await served()
    elsewhere = tmp_path / "schemas.json"
    if content is not None:
        elsewhere.write_text(content, encoding="utf-8")
    stored_file(elsewhere)
    assert stored_schemas() == {}
    built = await served()
    assert stored == built
    assert [error for error, _ in stored[1]] == [False, True, True]
    assert "colour" in stored[1][2][1], "an unknown argument is refused by the model built on the first call"


async def test_read_only_mode_publishes_the_read_tools_unchanged_and_serves_no_other(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server(read_only=True)) as client:
        tools = (await client.list_tools()).tools
        refused = await client.call_tool("place_call", {"destination": "+14155550100"})
    assert refused.is_error
    reads = {
        name
        for name in committed_tools()
        if json.loads((TOOL_SNAPSHOTS / f"{name}.json").read_bytes())["annotations"]["readOnlyHint"] is True
    }
    assert "place_call" not in reads
    assert {t.name for t in tools} == reads
    assert changed_tools(tools) == []


async def test_resource_templates_match_the_committed_snapshot(make_server: ServerFactory, mode: str) -> None:
    async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        templates = (await client.list_resource_templates()).resource_templates
    current = [dump(t) for t in templates]
    assert matches_snapshot(SNAPSHOTS / "resource_templates.json", current), "rerun with BIMPE_UPDATE_SNAPSHOTS=1"


async def test_prompts_match_the_committed_snapshot(make_server: ServerFactory, mode: str) -> None:
    async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        prompts = (await client.list_prompts()).prompts
    current = [dump(p) for p in prompts]
    assert matches_snapshot(SNAPSHOTS / "prompts.json", current), "rerun with BIMPE_UPDATE_SNAPSHOTS=1"


async def test_each_era_negotiates_its_protocol_and_sees_the_servers_name_instructions_and_completions(
    make_server: ServerFactory, mode: str
) -> None:
    async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        version, info, caps = client.protocol_version, client.server_info, client.server_capabilities
        instructions = client.instructions or ""
    assert version == PROTOCOL[mode]
    assert info is not None and (info.name, info.title, info.version) == ("bimpe-mcp", "BimpeAI calls", __version__)
    assert caps is not None and caps.completions is not None, "id completions are advertised"
    assert "list_agents" in instructions and "untrusted data" in instructions


async def test_every_tool_is_annotated_and_has_flat_object_schemas(make_server: ServerFactory) -> None:
    async with Client(make_server()) as client:
        tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == {
        "list_agents",
        "list_calls",
        "get_call",
        "get_transcript",
        "wait_for_call",
        "show_calls",
        "place_call",
        "call_stats",
        "get_transcripts",
        "get_agent",
    }
    for tool in tools:
        assert tool.title and tool.description, tool.name
        assert tool.annotations is not None, tool.name
        assert tool.annotations.read_only_hint is not None, tool.name
        assert tool.annotations.open_world_hint is True, tool.name
        assert tool.input_schema["type"] == "object"
        assert not {"anyOf", "oneOf", "allOf"} & tool.input_schema.keys(), tool.name
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
    place = next(t for t in tools if t.name == "place_call")
    assert place.annotations is not None
    assert place.annotations.read_only_hint is False and place.annotations.destructive_hint is True
    assert "real phone" in (place.description or "")


async def test_tool_list_stays_within_its_context_budget() -> None:
    async with Client(build_server(Settings())) as client:
        tools = [dump(t) for t in (await client.list_tools()).tools]
    sizes = [len(json.dumps(t, separators=(",", ":"))) for t in tools]
    assert sum(sizes) / len(sizes) < 1500, sizes


def reference(tools: list[Tool]) -> str:
    lines = ["| tool | what it does | arguments | annotations |", "| --- | --- | --- | --- |"]
    for tool in tools:
        first = (tool.description or "").split("\n")[0]
        props: dict[str, Any] = tool.input_schema.get("properties", {})
        required = set(tool.input_schema.get("required", []))
        args = ", ".join(f"`{name}`" + ("" if name in required else "?") for name in props) or "none"
        ann = tool.annotations
        hints: list[str] = []
        if ann is not None:
            hints.append("read-only" if ann.read_only_hint else "writes")
            if ann.destructive_hint:
                hints.append("destructive")
        lines.append(f"| `{tool.name}` | {first} | {args} | {', '.join(hints)} |")
    return "\n".join(lines)


async def test_readme_tool_reference_is_generated_from_the_server() -> None:
    async with Client(build_server(Settings())) as client:
        table = reference((await client.list_tools()).tools)
    readme = README.read_text()
    pattern = re.compile(r"(<!-- tools:begin -->\n)(.*?)\n?(<!-- tools:end -->)", re.S)
    assert pattern.search(readme), "README lacks the tools:begin/tools:end markers"
    if UPDATE:
        README.write_text(pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(3), readme))
        readme = README.read_text()
    match = pattern.search(readme)
    assert match is not None and match.group(2) == table, "README tool reference is stale: BIMPE_UPDATE_SNAPSHOTS=1"
