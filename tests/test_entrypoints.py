from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

from bimpe_mcp import __version__
from bimpe_mcp.cli import main
from bimpe_mcp.config import ConfigError, Settings
from tests.support import data, error

pytestmark = pytest.mark.anyio


def console_script() -> str:
    found = shutil.which("bimpe-mcp", path=str(Path(sys.executable).parent))
    assert found, "the bimpe-mcp console script is installed with the package"
    return found


async def test_the_installed_console_script_serves_the_sandbox_over_stdio(mode: str, tmp_path: Path) -> None:
    params = StdioServerParameters(command=console_script(), args=["--sandbox", "--log-level", "DEBUG"])
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            info = client.server_info
            assert info is not None
            assert info.name == "bimpe-mcp" and info.version == __version__
            assert "SANDBOX MODE" in (client.instructions or "")
            calls = data(await client.call_tool("list_calls", {"limit": 2}))["calls"]
            assert len(calls) == 2
            assert data(await client.call_tool("get_call", {"call_id": calls[0]["id"]}))["id"] == calls[0]["id"]
            placed = data(await client.call_tool("place_call", {"destination": "+447700900123"}))
            assert placed["status"] == "initiated"
        errlog.seek(0)
        logs = errlog.read()
    assert "DEBUG" in logs, "logs reach stderr"
    assert "sk_" not in logs


async def test_without_a_key_the_server_starts_and_every_tool_says_how_to_configure(tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "bimpe_mcp"], env={"BIMPE_API_KEY": ""})
    async with Client(params) as client:
        assert "Not configured" in (client.instructions or "")
        info = error(await client.call_tool("list_agents", {}))
    assert info["code"] == "not_configured"


def test_version_and_help_print_and_exit_cleanly() -> None:
    out = subprocess.run([console_script(), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"bimpe-mcp {__version__}"
    helped = subprocess.run([console_script(), "--help"], capture_output=True, text=True, check=True)
    assert "BIMPE_API_KEY" in helped.stdout and "--api-key" not in helped.stdout


def test_bad_configuration_exits_with_a_message_naming_the_variable() -> None:
    env = {**os.environ, "BIMPE_TIMEOUT": "soon", "BIMPE_API_KEY": "sk_secret_value_123"}
    run = subprocess.run([console_script()], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    assert run.returncode == 2 and "BIMPE_TIMEOUT" in run.stderr
    assert run.stdout == "" and "sk_secret_value_123" not in run.stderr


def test_settings_read_the_environment_and_flags_win() -> None:
    env = {"BIMPE_API_KEY": "sk_x", "BIMPE_AGENT_ID": "agt_1", "BIMPE_ALLOW_LIVE_CALLS": "yes", "BIMPE_READ_ONLY": "0"}
    settings = Settings.from_env(env, agent_id="agt_2")
    assert settings.agent_id == "agt_2" and settings.allow_live_calls and not settings.read_only
    assert "sk_x" not in repr(settings) and "sk_x" not in str(settings.model_dump())
    with pytest.raises(ConfigError, match="BIMPE_ALLOW_LIVE_CALLS"):
        Settings.from_env({"BIMPE_ALLOW_LIVE_CALLS": "maybe"})
    with pytest.raises(ConfigError, match="BIMPE_BASE_URL"):
        Settings.from_env({"BIMPE_BASE_URL": "https://api.bimpe.ai/api/v1/console"})
    with pytest.raises(ConfigError, match="BIMPE_AGENT_ID"):
        Settings.from_env({"BIMPE_AGENT_ID": "../x"})
    assert Settings.from_env({"BIMPE_BASE_URL": "http://127.0.0.1:8765/"}).base_url == "http://127.0.0.1:8765"
    with pytest.raises(ConfigError, match="BIMPE_BASE_URL"):
        Settings.from_env({"BIMPE_BASE_URL": "ftp://x"})


def test_main_returns_2_on_bad_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--timeout", "-1"]) == 2
    assert "BIMPE_TIMEOUT" in capsys.readouterr().err


async def test_prompts_guide_support_work_and_check_their_arguments(client: Client) -> None:
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"review_failed_calls", "summarize_call"}
    review = await client.get_prompt("review_failed_calls", {"limit": "5"})
    body = review.messages[0].content
    assert getattr(body, "text", "").count("list_calls") >= 1 and "limit=5" in getattr(body, "text", "")
    summary = await client.get_prompt("summarize_call", {"call_id": "call_1"})
    assert "get_call" in getattr(summary.messages[0].content, "text", "")
    with pytest.raises(MCPError) as err:
        await client.get_prompt("review_failed_calls", {"limit": "lots"})
    assert err.value.error.code == -32602
    with pytest.raises(MCPError):
        await client.get_prompt("summarize_call", {"call_id": "../../x"})
