"""Real clients against the server: the MCP Inspector CLI, a pydantic-ai agent, and each README configuration."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, get_args

import pytest
from fastmcp.client.transports import StdioTransport
from mcp import Client, StdioServerParameters
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ToolCallPart, ToolReturnPart
from pydantic_ai.models.test import TestModel

from bimpe_mcp.core.failures import ErrorCode
from tests.dist_support import ROOT, TOOLS, console_script, node_tool, readme_block
from tests.support import assert_no_secret, child_env

README_PATH = "/absolute/path/to/.venv/bin/bimpe-mcp"


def inspect(home: Path, era: str, *request: str) -> dict[str, Any]:
    """One Inspector CLI request to `bimpe-mcp --sandbox` over stdio; its JSON result."""
    era_flag = ["--protocol-era", "modern"] if era == "modern" else []
    command = [node_tool("mcp-inspector"), "--cli", *era_flag, console_script(), "--sandbox", *request]
    env = child_env(HOME=str(home), PATH=os.environ["PATH"])
    run = subprocess.run(
        [*command, "--format", "json", "-q"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr}"
    assert_no_secret(run.stdout + run.stderr)
    result: dict[str, Any] = json.loads(run.stdout)["result"]
    return result


def call(home: Path, era: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    request = ["--method", "tools/call", "--tool-name", tool, "--tool-args-json", json.dumps(arguments)]
    result = inspect(home, era, *request)
    assert result.get("isError") is not True, result
    return result


@pytest.mark.parametrize("era", ["handshake", "modern"])
def test_the_inspector_cli_lists_tools_calls_them_and_reads_a_transcript(era: str, tmp_path: Path) -> None:
    tools = inspect(tmp_path, era, "--method", "tools/list")["tools"]
    assert {t["name"] for t in tools} == TOOLS
    page = call(tmp_path, era, "list_calls", {"limit": 3})["structuredContent"]
    assert len(page["calls"]) == 3
    call_id = page["calls"][0]["id"]
    got = call(tmp_path, era, "get_call", {"call_id": call_id})
    assert got["structuredContent"]["id"] == call_id
    assert call_id in got["content"][0]["text"]
    uri = f"bimpe://agents/{page['agent_id']}/calls/{call_id}/transcript"
    read = inspect(tmp_path, era, "--method", "resources/read", "--uri", uri)
    assert read["contents"][0]["uri"] == uri and read["contents"][0]["mimeType"] == "text/plain"


@pytest.mark.parametrize("era", ["handshake", "modern"])
def test_the_inspectors_strict_schema_check_finds_nothing_in_any_tool(era: str, tmp_path: Path) -> None:
    era_flag = ["--protocol-era", "modern"] if era == "modern" else []
    command = [node_tool("mcp-inspector"), "--cli", *era_flag, console_script(), "--sandbox", "--method", "tools/list"]
    env = child_env(HOME=str(tmp_path), PATH=os.environ["PATH"])
    run = subprocess.run(
        [*command, "--strict", "--format", "json"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr}"
    report = json.loads(run.stdout)
    assert {t["name"] for t in report["result"]["tools"]} == TOOLS
    assert "schemaFindings" not in report and "Warning" not in run.stderr, report.get("schemaFindings") or run.stderr


@pytest.mark.anyio
async def test_a_pydantic_ai_agent_calls_every_tool_and_gets_results_or_clean_tool_errors() -> None:
    # TestModel calls every tool with arguments made from its input schema (strings become "a"), so the schemas must
    # be usable by a framework and every rejected argument must come back as a tool error, never a crash.
    toolset = MCPToolset(
        StdioTransport(command=console_script(), args=["--sandbox"], env=child_env()),
        tool_error_behavior="failed",
        init_timeout=60,  # start-up is seconds on a busy machine, not a hang
    )
    async with toolset:
        assert {t.name for t in await toolset.list_tools()} == TOOLS
    result = await Agent(TestModel(call_tools="all"), toolsets=[toolset]).run("Review my agent's calls.")
    parts = [p for m in result.all_messages() for p in m.parts]
    called = {p.tool_name for p in parts if isinstance(p, ToolCallPart)}
    assert called == TOOLS
    returns = {p.tool_name: p.content for p in parts if isinstance(p, ToolReturnPart)}
    assert set(returns) == TOOLS
    codes = set(get_args(ErrorCode))
    for name, content in returns.items():
        if isinstance(content, str):
            code, _, rest = content.partition(": ")
            assert code in codes and "Next: " in rest, f"{name} failed as a tool error: {content}"
        else:
            assert isinstance(content, dict), name
    assert isinstance(returns["list_agents"], dict) and isinstance(returns["list_calls"], dict)
    assert_no_secret(json.dumps(returns, default=str))


def json_config(marker: str) -> dict[str, Any]:
    block = readme_block(marker)
    assert README_PATH in block, "README configurations show the placeholder path the reader replaces"
    config: dict[str, Any] = json.loads(block.replace(README_PATH, console_script()))
    return config


def readme_launch(marker: str) -> StdioServerParameters:
    """The exact command, arguments and environment a README configuration gives its client."""
    config = json_config(f"client-config: {marker}")
    if marker == "vscode":
        server = config["servers"]["bimpe"]
        assert server["type"] == "stdio"
        # VS Code replaces ${input:ID} with what the user typed at its password prompt.
        prompts: dict[str, str] = {f"${{input:{i['id']}}}": "sk_typed_at_the_prompt" for i in config["inputs"]}
        written: dict[str, str] = server["env"]
        env = {k: prompts.get(v, v) for k, v in written.items()}
    elif marker == "claude-code":
        server = config["mcpServers"]["bimpe"]
        assert server["type"] == "stdio"
        # Claude Code replaces ${VAR} with the variable from the environment it was started in.
        started_with = {"BIMPE_API_KEY": "sk_read_at_a_silent_prompt"}
        env = {k: re.sub(r"\$\{(\w+)\}", lambda m: started_with[m.group(1)], v) for k, v in server["env"].items()}
    else:
        server = config["mcpServers"]["bimpe"]
        env = server["env"]
    return StdioServerParameters(command=server["command"], args=server["args"], env=child_env(**env))


def test_no_readme_command_carries_a_key_on_a_command_line() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(.*?)\n\s*```", readme, re.DOTALL)
    assert len(commands) >= 6
    for command in commands:
        assert "sk_" not in command and "--env" not in command, command
        assert not re.search(r"BIMPE_API_KEY=\S", command), command
    inline = re.findall(r"`([^`\n]*bimpe-mcp[^`\n]*)`", readme)
    assert not [c for c in inline if "sk_" in c or re.search(r"BIMPE_API_KEY=\S", c)]
    assert readme_block("client-config: claude-code").count("${BIMPE_API_KEY}") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("marker", ["claude-desktop", "claude-code", "cursor", "vscode"])
async def test_each_readme_client_configuration_launches_a_server_that_serves(marker: str) -> None:
    params = readme_launch(marker)
    assert params.command == console_script() and "BIMPE_API_KEY" in (params.env or {})
    async with Client(params) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        assert client.server_info is not None and client.server_info.name == "bimpe-mcp"
