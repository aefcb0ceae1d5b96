from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import Tool

from bimpe_mcp.config import Settings
from bimpe_mcp.server import build_server
from tests.conftest import ServerFactory

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools_list.json"
README = Path(__file__).parent.parent / "README.md"
UPDATE = os.environ.get("BIMPE_UPDATE_SNAPSHOTS") == "1"
pytestmark = pytest.mark.anyio


def dump(tools: list[Tool]) -> list[dict[str, Any]]:
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]


async def test_tools_list_matches_the_committed_snapshot(make_server: ServerFactory, mode: str) -> None:
    async with Client(make_server(), mode=mode) as client:  # pyright: ignore[reportArgumentType]
        current = dump((await client.list_tools()).tools)
    if UPDATE:
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, "tool schemas changed: rerun with BIMPE_UPDATE_SNAPSHOTS=1 if that was intended"


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


async def test_read_only_mode_serves_no_tool_that_changes_anything(make_server: ServerFactory) -> None:
    async with Client(make_server(read_only=True)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "place_call" not in names
        result = await client.call_tool("place_call", {"destination": "+14155550100"})
        assert result.is_error
    assert "list_calls" in names


async def test_tool_list_stays_within_its_context_budget() -> None:
    async with Client(build_server(Settings())) as client:
        tools = dump((await client.list_tools()).tools)
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
