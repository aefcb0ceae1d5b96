from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import sysconfig
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from bimpe_mcp.cli.doctor import Check, client_configs, diagnose, launch_command, mask, settings_env
from bimpe_mcp.cli.launch import UVX_PLACEHOLDER, install_origin
from bimpe_mcp.cli.main import main
from bimpe_mcp.core.settings import ENV_VARS, Settings
from bimpe_mcp.sandbox import Fault, Sandbox, SandboxConfig, SandboxKeys, SandboxServer
from bimpe_mcp.sandbox.data import ChannelSeed
from bimpe_mcp.tools import tool_set
from tests.conftest import ServerFactory
from tests.dist_support import ROOT, console_script
from tests.support import SECRETS, assert_no_secret, child_env, data

KEYS = SandboxKeys()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["doctor", "--json", *args])
    out = capsys.readouterr().out
    assert_no_secret(out)
    return code, json.loads(out)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def on(sandbox: Sandbox, key: str = KEYS.full, **values: Any) -> Settings:
    return Settings(api_key=SecretStr(key), base_url=sandbox.origin, **values)


def test_doctor_on_the_sandbox_reports_every_read_tool_working_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--sandbox"]) == 0
    out = capsys.readouterr().out
    assert_no_secret(out)
    assert "[ ok ] list_agents: works" in out
    assert "[ ok ] calls: can read the calls of agent" in out
    assert "[ ?  ] place_call: write access unknown until first use" in out
    assert "The server will work with this configuration." in out
    assert f'"command": "{console_script()}"' in out
    assert "claude mcp add" not in out and not re.search(r"BIMPE_API_KEY=\S", out)


def test_doctor_json_names_each_tools_fate_and_gives_configs_with_an_absolute_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, "--sandbox")
    assert code == 0 and report["ok"] is True
    assert report["tools"] == {
        "list_agents": "ok",
        "list_calls": "ok",
        "show_calls": "ok",
        "get_call": "ok",
        "get_transcript": "ok",
        "wait_for_call": "ok",
        "get_agent": "ok",
        "call_stats": "ok",
        "get_transcripts": "ok",
        "place_call": "unknown",
    }
    listed = {t.name for t in tool_set(read_only=False, settings=Settings(sandbox=True))}
    assert set(report["tools"]) == listed, "the doctor names every tool the server lists"
    server = report["clients"]["claude_desktop"]["mcpServers"]["bimpe"]
    assert Path(server["command"]).is_absolute() and Path(server["command"]).is_file()
    assert server["args"] == ["--sandbox"] and server["env"] == {}
    assert report["clients"]["cursor"] == report["clients"]["claude_desktop"]
    vscode = report["clients"]["vscode"]["servers"]["bimpe"]
    assert vscode["type"] == "stdio" and vscode["command"] == server["command"]


def test_doctor_in_read_only_mode_reports_place_call_as_not_served(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "--sandbox", "--read-only")
    assert code == 0
    assert report["tools"]["place_call"] == "off"
    assert "live calls" not in {c["name"] for c in report["checks"]}
    assert report["clients"]["claude_desktop"]["mcpServers"]["bimpe"]["env"] == {"BIMPE_READ_ONLY": "true"}


def test_doctor_without_a_key_fails_and_prints_configs_with_a_placeholder_for_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, "--agent-id", "agt_1")
    assert code == 1 and report["ok"] is False
    assert [c["name"] for c in report["checks"]] == ["configuration", "api key"]
    assert "BIMPE_API_KEY is not set" in report["checks"][1]["detail"]
    assert set(report["tools"].values()) == {"fail"}
    env = report["clients"]["claude_desktop"]["mcpServers"]["bimpe"]["env"]
    assert env == {"BIMPE_API_KEY": "sk_...", "BIMPE_AGENT_ID": "agt_1"}
    vscode = report["clients"]["vscode"]
    assert vscode["servers"]["bimpe"]["env"]["BIMPE_API_KEY"] == "${input:bimpe-api-key}"
    assert vscode["inputs"][0]["password"] is True
    claude_code = report["clients"]["claude_code"]["mcpServers"]["bimpe"]
    assert claude_code["env"] == {"BIMPE_API_KEY": "${BIMPE_API_KEY}", "BIMPE_AGENT_ID": "agt_1"}
    assert claude_code["type"] == "stdio" and claude_code["args"] == []


def test_no_configuration_the_doctor_prints_puts_a_key_on_a_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--agent-id", "agt_1"]) == 1
    out = capsys.readouterr().out
    assert "claude mcp add" not in out and "--env" not in out
    assert not re.search(r"BIMPE_API_KEY=\S", out), "no VAR=key on a shell line"
    assert '"BIMPE_API_KEY": "${BIMPE_API_KEY}"' in out
    assert "read -rs BIMPE_API_KEY && export BIMPE_API_KEY && claude" in out


def test_doctor_with_the_sandbox_flag_and_a_key_warns_that_the_key_is_not_used(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_API_KEY", "sk_live_not_used_0001")
    code, report = run_json(capsys, "--sandbox", "--sandbox-speed", "20")
    assert code == 0
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["api key"]["status"] == "warn" and "is not used (--sandbox)" in checks["api key"]["detail"]
    assert "the embedded sandbox (speed 20)" in checks["configuration"]["detail"]
    server = report["clients"]["claude_desktop"]["mcpServers"]["bimpe"]
    assert server["args"] == ["--sandbox"] and server["env"] == {"BIMPE_SANDBOX_SPEED": "20.0"}
    assert "sk_live_not_used_0001" not in json.dumps(report)


def test_doctor_refuses_the_sandbox_variable_beside_a_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIMPE_API_KEY", "sk_live_not_used_0001")
    monkeypatch.setenv("BIMPE_SANDBOX", "yes")
    code, report = run_json(capsys)
    assert code == 2
    assert "BIMPE_SANDBOX is on and BIMPE_API_KEY is set" in report["checks"][0]["detail"]


def test_doctor_without_a_key_in_read_only_mode_reports_place_call_as_not_served(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, report = run_json(capsys, "--read-only")
    assert code == 1
    assert report["tools"]["place_call"] == "off" and report["tools"]["list_calls"] == "fail"


def test_doctor_with_a_bad_setting_exits_2_naming_the_flag_given(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, "--timeout", "-1")
    assert code == 2
    assert report["checks"][0]["status"] == "fail"
    assert report["checks"][0]["detail"] == "--timeout: must be a number greater than 0 and at most 300 (got '-1')"
    assert report["clients"] is None


def test_the_doctor_command_with_an_unreachable_api_exits_1_and_never_prints_the_key() -> None:
    key = "sk_live_do_not_print_7f3a"
    env = child_env(BIMPE_API_KEY=key, BIMPE_BASE_URL="http://127.0.0.1:9", BIMPE_AGENT_ID="agt_1")
    run = subprocess.run([console_script(), "doctor"], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 1
    assert "[FAIL] api: http://127.0.0.1:9: could not reach the API" in run.stdout
    assert "sk_…7f3a" in run.stdout
    assert key not in run.stdout + run.stderr


@pytest.mark.anyio
async def test_the_doctor_command_with_a_read_only_key_finds_reads_working_on_a_loopback_sandbox() -> None:
    server = SandboxServer(port=0, out=io.StringIO(), config=SandboxConfig(seed=7, speed=0.0))
    run: subprocess.CompletedProcess[bytes] | None = None
    async with anyio.create_task_group() as tg:
        origin = await tg.start(server.run)
        env = child_env(BIMPE_API_KEY=KEYS.read_only, BIMPE_BASE_URL=origin, BIMPE_AGENT_ID=server.sandbox.agents.live)
        run = await anyio.run_process([console_script(), "doctor", "--json"], env=env, check=False)
        tg.cancel_scope.cancel()
    assert run is not None
    out = run.stdout.decode()
    assert run.returncode == 0, out
    assert all(secret not in out for secret in SECRETS)
    report = json.loads(out)
    assert report["tools"]["list_calls"] == "ok" and report["tools"]["place_call"] == "unknown"
    assert by_name([Check(**c) for c in report["checks"]])["api key"].detail.endswith("(sk_…6d0c)")


@pytest.mark.anyio
async def test_a_key_without_the_calls_scope_fails_the_call_tools(sandbox: Sandbox) -> None:
    sandbox.add_key("sk_agents_only_0000000000", scopes={"agents:read"})
    checks = by_name(await diagnose(on(sandbox, "sk_agents_only_0000000000"), transport=sandbox.transport()))
    assert checks["list_agents"].status == "ok"
    assert checks["calls"].status == "fail" and "missing_scope" in checks["calls"].detail
    assert checks["default agent"].status == "warn", "no BIMPE_AGENT_ID: the first agent listed is checked"


@pytest.mark.anyio
async def test_a_key_without_the_agents_scope_reaches_the_api_but_fails_list_agents(sandbox: Sandbox) -> None:
    sandbox.add_key("sk_calls_only_00000000000", scopes={"calls:read"})
    settings = on(sandbox, "sk_calls_only_00000000000", agent_id=sandbox.agents.live)
    checks = by_name(await diagnose(settings, transport=sandbox.transport()))
    assert checks["api"].status == "ok"
    assert checks["list_agents"].status == "fail" and checks["list_agents"].tools == ("list_agents", "get_agent")
    assert checks["calls"].status == "ok"


@pytest.mark.anyio
async def test_an_expired_key_fails_at_the_api_with_what_to_do(sandbox: Sandbox) -> None:
    checks = by_name(await diagnose(on(sandbox, KEYS.expired), transport=sandbox.transport()))
    assert checks["api"].status == "fail"
    assert "auth_failed" in checks["api"].detail and "create a new key" in checks["api"].detail
    assert checks["api"].tools == (
        "list_agents",
        "get_agent",
        "list_calls",
        "show_calls",
        "get_call",
        "get_transcript",
        "wait_for_call",
        "call_stats",
        "get_transcripts",
        "place_call",
        "confirm_call",
    )
    assert "calls" not in checks


@pytest.mark.anyio
async def test_an_unknown_default_agent_fails_the_call_tools(sandbox: Sandbox) -> None:
    checks = by_name(await diagnose(on(sandbox, agent_id="agt_nope"), transport=sandbox.transport()))
    assert checks["calls"].status == "fail" and "not_found" in checks["calls"].detail
    assert checks["live calls"].status == "unknown"


@pytest.mark.anyio
async def test_live_calls_allowed_for_an_agent_without_a_telephony_channel_is_a_warning(sandbox: Sandbox) -> None:
    settings = on(sandbox, agent_id=sandbox.agents.no_channel, allow_live_calls=True)
    checks = by_name(await diagnose(settings, transport=sandbox.transport()))
    assert checks["live calls"].status == "warn" and "precondition_failed" in checks["live calls"].detail
    live = on(sandbox, agent_id=sandbox.agents.live, allow_live_calls=True)
    assert by_name(await diagnose(live, transport=sandbox.transport()))["live calls"].status == "ok"


@pytest.mark.anyio
async def test_the_doctor_and_get_agent_agree_on_a_telephony_channel_typed_in_mixed_case(
    sandbox: Sandbox, make_server: ServerFactory
) -> None:
    agent = next(a for a in sandbox.world.agents if a.id == sandbox.agents.no_channel)
    agent.seed = replace(agent.seed, channels=(ChannelSeed("Telephony", "Phone +447400900123", "active", True),))
    agent.channel_ids = ("chn_mixed_case",)
    settings = on(sandbox, agent_id=agent.id, allow_live_calls=True)
    doctor = by_name(await diagnose(settings, transport=sandbox.transport()))["live calls"]
    async with Client(make_server(agent_id=agent.id, allow_live_calls=True, confirm="token")) as client:
        ready = data(await client.call_tool("get_agent", {}))
    assert doctor.status == "ok" and "dials out over Phone +447400900123" in doctor.detail
    assert ready["can_place_live_calls"] is True and ready["live_calls_blocked_by"] == []
    assert ready["phone_numbers"] == ["+447400900123"]


@pytest.mark.anyio
async def test_without_any_agent_to_check_with_the_call_tools_are_unknown(sandbox: Sandbox) -> None:
    sandbox.add_key("sk_calls_only_00000000000", scopes={"calls:read"})
    checks = by_name(await diagnose(on(sandbox, "sk_calls_only_00000000000"), transport=sandbox.transport()))
    assert checks["calls"].status == "unknown" and "BIMPE_AGENT_ID" in checks["calls"].detail
    assert checks["live calls"].status == "unknown"


@pytest.mark.anyio
async def test_channels_that_cannot_be_read_leave_live_calls_unknown(sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("status", status=503, path=r"/channels$"))
    checks = by_name(await diagnose(on(sandbox, agent_id=sandbox.agents.live), transport=sandbox.transport()))
    assert checks["live calls"].status == "unknown" and "upstream_unavailable" in checks["live calls"].detail
    assert checks["calls"].status == "ok"


@pytest.mark.anyio
async def test_a_key_not_shaped_like_a_team_key_is_a_warning(sandbox: Sandbox) -> None:
    sandbox.add_key("team-key-without-prefix-01", scopes={"agents:read", "calls:read"})
    checks = by_name(await diagnose(on(sandbox, "team-key-without-prefix-01"), transport=sandbox.transport()))
    assert checks["api key"].status == "warn" and "26 characters" in checks["api key"].detail


def test_a_key_is_masked_to_its_last_four_characters_or_its_length() -> None:
    assert mask("sk_live_abcdefghijkl1234") == "sk_…1234"
    assert mask("sk_short") == "8 characters"


def test_the_launch_command_is_the_script_beside_the_interpreter_or_python_dash_m(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    python = str(tmp_path / "bin" / "python")
    assert launch_command(python) == [python, "-m", "bimpe_mcp"]
    (tmp_path / "bin" / "bimpe-mcp").write_text("#!/bin/sh\n")
    assert launch_command(python) == [str(tmp_path / "bin" / "bimpe-mcp")]
    cached = str(tmp_path / "uv" / "archive-v0" / "h" / "bin" / "python")
    released = launch_command(cached, which=lambda _: "/opt/uv/uvx", origin=lambda: None)
    assert released == ["/opt/uv/uvx", "bimpe-mcp"]
    from_clone = launch_command(cached, which=lambda _: "/opt/uv/uvx", origin=lambda: "/src/bimpe-mcp")
    assert from_clone == ["/opt/uv/uvx", "--from", "/src/bimpe-mcp", "bimpe-mcp"]
    nowhere = launch_command(cached, which=lambda _: None, origin=lambda: None, environ={}, homes=())
    assert nowhere == [UVX_PLACEHOLDER, "bimpe-mcp"], "never the cache itself"


def test_run_from_uvs_cache_without_uvx_on_path_the_command_is_uvx_found_where_uv_put_it(tmp_path: Path) -> None:
    cached = str(tmp_path / "uv" / "archive-v0" / "h" / "bin" / "python")
    uv_bin = tmp_path / "uv-bin"
    uv_bin.mkdir()
    uv = uv_bin / "uv"
    uv.write_text("#!/bin/sh\n")
    uv.chmod(0o755)

    def command(environ: dict[str, str], homes: tuple[str, ...] = ()) -> list[str]:
        return launch_command(
            cached, which=lambda _: None, origin=lambda: "/src/bimpe-mcp", environ=environ, homes=homes
        )

    assert command({}, (str(uv_bin),))[0] == UVX_PLACEHOLDER, "uv alone, without the UV that started it, is not used"
    by_uv = command({"UV": str(uv)})
    assert by_uv == [str(uv), "tool", "run", "--from", "/src/bimpe-mcp", "bimpe-mcp"], "uv tool run is uvx"
    (uv_bin / "uvx").write_text("#!/bin/sh\n")
    (uv_bin / "uvx").chmod(0o755)
    assert command({"UV": str(uv)})[0] == str(uv_bin / "uvx"), "uvx beside the uv that started this process"
    assert command({}, (str(uv_bin),))[0] == str(uv_bin / "uvx"), "uvx where uv's installers put it"


def cached_python(tmp_path: Path) -> Path:
    """An interpreter where uvx keeps its environments (`.../archive-v0/<hash>/bin/python`), running this checkout:
    a venv beside this one, sharing its site-packages."""
    venv = Path(sys.prefix)
    env = tmp_path / "uv-cache" / "archive-v0" / "x1y2" / ""
    site = env / venv.joinpath("lib").relative_to(venv) / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (env / "bin").mkdir(parents=True)
    site.mkdir(parents=True)
    (site / "site-packages").symlink_to(sysconfig.get_paths()["purelib"])
    (env / "pyvenv.cfg").write_text((venv / "pyvenv.cfg").read_text())
    (env / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    return env / "bin" / "python"


def test_the_doctor_run_from_uvs_cache_without_uvx_never_prints_the_cache_as_a_command(tmp_path: Path) -> None:
    python = cached_python(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": str(empty), "HOME": str(empty)}
    done = subprocess.run(
        [str(python), "-m", "bimpe_mcp", "doctor", "--sandbox", "--json"], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["python"].startswith(str(tmp_path / "uv-cache")), "the doctor ran from the cache"
    commands = [server["command"] for config in report["clients"].values() for server in servers(config)]
    assert all("uv-cache" not in command for command in commands), commands
    if commands[0] == UVX_PLACEHOLDER:
        launch = next(c for c in report["checks"] if c["name"] == "launch command")
        assert launch["status"] == "warn" and f"replace {UVX_PLACEHOLDER} with uvx's absolute path" in launch["detail"]


def servers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list((config.get("mcpServers") or config["servers"]).values())


def test_the_install_origin_is_the_folder_this_checkout_was_installed_from() -> None:
    # The test environment is an editable install of this checkout (pip records it in direct_url.json).
    assert install_origin() == str(ROOT)


def test_settings_that_differ_from_their_defaults_become_the_env_block_without_the_key() -> None:
    settings = Settings(
        api_key=SecretStr("sk_x"), agent_id="agt_1", allow_live_calls=True, timeout_seconds=20, text_format="json"
    )
    assert settings_env(settings) == {
        "BIMPE_AGENT_ID": "agt_1",
        "BIMPE_TIMEOUT": "20.0",
        "BIMPE_ALLOW_LIVE_CALLS": "true",
        "BIMPE_TEXT_FORMAT": "json",
    }
    configs = client_configs(settings, ["/opt/bimpe-mcp"])
    assert "sk_x" not in json.dumps(configs)


@pytest.mark.anyio
async def test_the_configuration_the_doctor_prints_launches_a_server_that_serves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await anyio.to_thread.run_sync(main, ["doctor", "--sandbox", "--json"])
    server = json.loads(capsys.readouterr().out)["clients"]["claude_desktop"]["mcpServers"]["bimpe"]
    params = StdioServerParameters(command=server["command"], args=server["args"], env=child_env(**server["env"]))
    async with Client(params) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"list_agents", "list_calls", "place_call"} <= names


@pytest.mark.anyio
async def test_the_claude_code_configuration_takes_the_key_from_the_environment_claude_code_starts_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await anyio.to_thread.run_sync(main, ["doctor", "--json"])
    server = json.loads(capsys.readouterr().out)["clients"]["claude_code"]["mcpServers"]["bimpe"]
    # Claude Code expands ${VAR} in .mcp.json from its own environment when it starts the server.
    claude_env = {"BIMPE_API_KEY": "sk_typed_at_a_silent_prompt"}
    env = {k: re.sub(r"\$\{(\w+)\}", lambda m: claude_env[m.group(1)], v) for k, v in server["env"].items()}
    async with Client(StdioServerParameters(command=server["command"], args=server["args"], env=child_env(**env))) as c:
        assert "Not configured" not in (c.instructions or "")
        assert {t.name for t in (await c.list_tools()).tools} >= {"list_agents", "place_call"}
