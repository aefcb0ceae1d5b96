"""The README's agent framework examples work as written: every timeout they set outlasts the longest tool call the
server publishes (wait_for_call's longest wait, read from tools/list, plus the per-call deadline of its last poll),
under the keyword names the frameworks take."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from mcp import Client
from pydantic_ai.mcp import MCPToolset

from bimpe_mcp.core.settings import Settings
from tests.conftest import ServerFactory

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parent.parent / "README.md"


def example() -> ast.Module:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^openai-agents and pydantic-ai.*?```python\n(.*?)```", text, re.DOTALL | re.MULTILINE)
    assert found, "the README has no openai-agents and pydantic-ai example"
    return ast.parse(found.group(1))


def constants(module: ast.Module) -> dict[str, object]:
    return {
        node.targets[0].id: node.value.value
        for node in module.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }


def value(node: ast.expr, names: dict[str, object]) -> object:
    if isinstance(node, ast.Name):
        return names[node.id]
    assert isinstance(node, ast.Constant), ast.dump(node)
    return node.value


def timeouts(module: ast.Module, callee: str) -> dict[str, object]:
    """The timeouts a constructor call is given: its keyword arguments with "timeout" in their name, and the
    "timeout" entry of a params dict."""
    names = constants(module)
    calls = [
        n for n in ast.walk(module) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == callee
    ]
    assert len(calls) == 1, f"{callee} is built once in the example"
    found: dict[str, object] = {}
    for keyword in calls[0].keywords:
        if keyword.arg and "timeout" in keyword.arg:
            found[keyword.arg] = value(keyword.value, names)
        if keyword.arg == "params" and isinstance(keyword.value, ast.Dict):
            for key, item in zip(keyword.value.keys, keyword.value.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "timeout":
                    found["params.timeout"] = value(item, names)
    return found


async def longest_tool_call(make_server: ServerFactory) -> float:
    async with Client(make_server()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    longest_wait = tools["wait_for_call"].input_schema["properties"]["timeout_seconds"]["maximum"]
    deadline = Settings.model_fields["deadline_seconds"].default
    return float(longest_wait) + float(deadline)


async def test_the_openai_agents_example_outlasts_the_longest_tool_call(make_server: ServerFactory) -> None:
    longest = await longest_tool_call(make_server)
    # openai-agents' defaults (5 s for both) are shorter than wait_for_call's default wait: both must be set.
    found = timeouts(example(), "MCPServerStreamableHttp")
    assert set(found) == {"client_session_timeout_seconds", "params.timeout"}
    assert all(isinstance(v, int | float) and v > longest for v in found.values()), (found, longest)


async def test_the_pydantic_ai_example_outlasts_the_longest_tool_call(make_server: ServerFactory) -> None:
    longest = await longest_tool_call(make_server)
    found = timeouts(example(), "MCPToolset")
    assert set(found) == {"read_timeout"}
    assert set(found) <= set(inspect.signature(MCPToolset.__init__).parameters), "a keyword pydantic-ai takes"
    assert all(isinstance(v, int | float) and v > longest for v in found.values()), (found, longest)
