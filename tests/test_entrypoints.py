from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from pydantic import SecretStr

from bimpe_mcp import __version__
from bimpe_mcp.cli.main import banner
from bimpe_mcp.core.settings import ConfigError, Settings
from bimpe_mcp.sandbox import Fault, SandboxConfig, SandboxKeys, SandboxServer
from bimpe_mcp.server.collector import YOUNG
from tests.dist_support import console_script
from tests.support import INITIALIZE, child_env, data, error

LIST_TOOLS = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}

pytestmark = pytest.mark.anyio


async def test_the_installed_console_script_serves_the_sandbox_over_stdio(mode: str, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=console_script(), args=["--sandbox", "--log-level", "DEBUG"], env=child_env()
    )
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:  # pyright: ignore[reportArgumentType]
            info = client.server_info
            assert info is not None
            assert info.name == "bimpe-mcp" and info.version == __version__
            assert "SANDBOX MODE" in (client.instructions or "")
            calls = data(await client.call_tool("list_calls", {"limit": 2}))["calls"]
            assert len(calls) == 2
            assert data(await client.call_tool("get_call", {"call_id": calls[0]["id"]}))["id"] == calls[0]["id"]
            placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
            assert placed["status"] == "initiated"
        errlog.seek(0)
        logs = errlog.read()
    assert "DEBUG" in logs, "logs reach stderr"
    assert "sk_" not in logs


async def test_without_a_key_the_server_starts_and_every_tool_says_how_to_configure(tmp_path: Path) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "bimpe_mcp"], env=child_env(BIMPE_API_KEY=""))
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
    assert Settings.from_env({"BIMPE_SANDBOX": "on"}).sandbox
    with pytest.raises(ConfigError, match="BIMPE_BASE_URL"):
        Settings.from_env({"BIMPE_BASE_URL": "https://api.bimpe.ai/api/v1/console"})
    with pytest.raises(ConfigError, match="BIMPE_AGENT_ID"):
        Settings.from_env({"BIMPE_AGENT_ID": "../x"})
    assert Settings.from_env({"BIMPE_BASE_URL": "http://127.0.0.1:8765/"}).base_url == "http://127.0.0.1:8765"
    with pytest.raises(ConfigError, match="BIMPE_BASE_URL"):
        Settings.from_env({"BIMPE_BASE_URL": "ftp://x"})
    relaxed = Settings.from_env({"BIMPE_LOG_LEVEL": "debug", "BIMPE_TEXT_FORMAT": "JSON", "BIMPE_API_KEY": " sk_x\n"})
    assert relaxed.log_level == "DEBUG" and relaxed.text_format == "json"
    assert relaxed.api_key is not None and relaxed.api_key.get_secret_value() == "sk_x"
    assert not Settings.from_env({"BIMPE_API_KEY": "   "}).configured
    assert Settings.from_env({"BIMPE_SANDBOX": "on", "BIMPE_API_KEY": "sk_x"}, sandbox=True).sandbox


async def test_prompts_guide_support_work_and_check_their_arguments(client_both: Client) -> None:
    prompts = {p.name: p for p in (await client_both.list_prompts()).prompts}
    assert set(prompts) == {"review_failed_calls", "summarize_call", "daily_report"}
    review = await client_both.get_prompt("review_failed_calls", {"limit": "5"})
    body = review.messages[0].content
    assert getattr(body, "text", "").count("list_calls") >= 1 and "limit=5" in getattr(body, "text", "")
    summary = await client_both.get_prompt("summarize_call", {"call_id": "call_1"})
    assert "get_call" in getattr(summary.messages[0].content, "text", "")
    with pytest.raises(MCPError) as err:
        await client_both.get_prompt("review_failed_calls", {"limit": "lots"})
    assert err.value.error.code == -32602
    with pytest.raises(MCPError):
        await client_both.get_prompt("summarize_call", {"call_id": "../../x"})


async def read_until(stream: IO[str], needle: str) -> str:
    """Lines of a child's output up to the one containing `needle` (bounded by a deadline, never a sleep)."""
    seen: list[str] = []
    with anyio.fail_after(30):
        while True:
            line = await anyio.to_thread.run_sync(stream.readline)
            if not line:
                raise AssertionError(f"stream closed before {needle!r}: {''.join(seen)}")
            seen.append(line)
            if needle in line:
                return "".join(seen)


def stop(proc: subprocess.Popen[str], within: float = 30) -> str:
    """Ctrl+C, as a person at the terminal would: the process ends with 130 (within `within` seconds) and no
    traceback. Its remaining stderr."""
    proc.send_signal(signal.SIGINT)
    assert ended(proc, within, "Ctrl+C") == 130
    rest = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in rest, rest
    return rest


def ended(proc: subprocess.Popen[str], within: float, after: str) -> int:
    """The exit code of `proc` once it ends, which it must within `within` seconds of `after`."""
    try:
        return proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"still running {within} s after {after}") from None


def spawn_stdio(stdin: int, stdout: int, probe: str | None = None, **env: str) -> subprocess.Popen[str]:
    """`bimpe-mcp --sandbox` over stdio, as a host or a terminal starts it (or the command under a `probe` script);
    stderr is piped."""
    command = [console_script()] if probe is None else [sys.executable, "-c", probe]
    return subprocess.Popen(
        [*command, "--sandbox"],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **child_env(**env)},
    )


async def test_streamable_http_announces_its_address_once_bound_and_serves_remote_clients_on_both_eras() -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 - a quick spawn; reads below go through a worker thread
        [console_script(), "--sandbox", "--transport", "http", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **child_env()},
    )
    try:
        assert proc.stderr is not None
        logs = await read_until(proc.stderr, "streamable HTTP on")
        match = re.fullmatch(
            rf"bimpe-mcp {__version__}: streamable HTTP on (http://127\.0\.0\.1:\d+)/mcp \(Ctrl\+C stops it\); "
            r"auth none \(loopback only; every client uses the server's own key\); "
            r"API: the embedded sandbox: synthetic data, no real phone rings\n",
            logs,
        )
        assert match, f"the announcement, saying who may call and what answers, is the only line: {logs!r}"
        for mode in ("auto", "legacy"):
            async with Client(match.group(1) + "/mcp", mode=mode) as client:  # pyright: ignore[reportArgumentType]
                assert "SANDBOX MODE" in (client.instructions or "")
                assert len(data(await client.call_tool("list_calls", {"limit": 3}))["calls"]) == 3
    finally:
        rest = stop(proc)
        if proc.stderr:
            proc.stderr.close()
    assert "Uvicorn" not in rest and "INFO" not in rest and "startup complete" not in rest


async def test_started_by_hand_in_a_terminal_it_says_it_waits_for_a_client_with_absolute_commands() -> None:
    leader, follower = pty.openpty()
    proc = spawn_stdio(follower, subprocess.DEVNULL)
    os.close(follower)
    try:
        assert proc.stderr is not None
        banner = await read_until(proc.stderr, "Ctrl+C")
        assert "waiting for an MCP client" in banner and "sandbox" in banner
        assert f"claude mcp add bimpe -- {console_script()} --sandbox" in banner
        assert f"{console_script()} doctor --sandbox" in banner
        assert f"inspector {console_script()} --sandbox" in banner
        assert " bimpe-mcp --sandbox" not in banner, "no bare command that depends on PATH"
        stop(proc)
    finally:
        os.close(leader)
        if proc.stderr:
            proc.stderr.close()


async def test_ctrl_c_ends_a_server_that_is_reading_its_terminal() -> None:
    """The banner says Ctrl+C exits: it does once the server waits on the terminal for the next line, where the SDK's
    stdin read (a worker thread) would otherwise hold the process until a line came."""
    leader, follower = pty.openpty()
    proc = spawn_stdio(follower, subprocess.PIPE)
    os.close(follower)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        await read_until(proc.stderr, "Ctrl+C")
        os.write(leader, json.dumps(INITIALIZE).encode() + b"\n")
        answered = json.loads(await read_until(proc.stdout, '"id":1'))
        assert answered["result"]["serverInfo"]["name"] == "bimpe-mcp"
        # Answered: the server is back in its read of the terminal, where the interrupt finds it.
        stop(proc, within=10)
    finally:
        os.close(leader)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


async def test_sigterm_from_a_host_closes_the_servers_state_before_the_process_ends(tmp_path: Path) -> None:
    """A host or process manager that stops the server with SIGTERM gets the same clean stop as the end of stdin: the
    state store is closed (SQLite folds its write-ahead log back into the file and removes it), then exit 143."""
    state = tmp_path / "state.sqlite3"
    wal = tmp_path / "state.sqlite3-wal"
    proc = spawn_stdio(subprocess.PIPE, subprocess.PIPE, BIMPE_STATE_URL=f"sqlite:///{state}")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        place = {"name": "place_call", "arguments": {"destination": "+14155550123"}}
        for message in (
            INITIALIZE,
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": place},
        ):
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        placed = json.loads((await read_until(proc.stdout, '"id":2')).splitlines()[-1])
        assert placed["result"]["structuredContent"]["status"] == "initiated"
        assert wal.exists(), "the dial was written to the state file, which is open"
        proc.send_signal(signal.SIGTERM)
        assert ended(proc, 10, "SIGTERM") == 143
        assert "Traceback" not in proc.stderr.read()
        assert state.exists() and not wal.exists(), "the state store was closed before the process ended"
    finally:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


# The server whose shutdown never ends: closing its API connections waits forever, once it has said so.
HANGING_SHUTDOWN = """
import sys
import anyio
from bimpe_mcp.cli import start
from bimpe_mcp.tools.state import Connector

async def hangs(self):
    sys.stderr.write("closing the API connections hangs\\n")
    sys.stderr.flush()
    await anyio.sleep_forever()

Connector.aclose = hangs
raise SystemExit(start.main(sys.argv[1:]))
"""


async def test_a_second_signal_ends_a_server_whose_shutdown_hangs_at_once() -> None:
    """Ctrl+C twice, or a process manager's second SIGTERM: the first starts the clean stop, which here never ends;
    the second ends the process at once, with the code of the signal."""
    proc = spawn_stdio(subprocess.PIPE, subprocess.PIPE, HANGING_SHUTDOWN)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(json.dumps(INITIALIZE) + "\n")
        proc.stdin.flush()
        await read_until(proc.stdout, '"id":1')
        proc.send_signal(signal.SIGTERM)
        await read_until(proc.stderr, "closing the API connections hangs")
        proc.send_signal(signal.SIGINT)
        assert ended(proc, 10, "a second signal") == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()


async def test_a_client_that_stops_reading_the_output_ends_the_server_with_one_line() -> None:
    """A client that closes its end of the server's stdout but not stdin: the next answer cannot be written, and the
    server ends (1, one line on stderr) instead of waiting for another line to end with a traceback."""
    proc = spawn_stdio(subprocess.PIPE, subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(json.dumps(INITIALIZE) + "\n")
        proc.stdin.flush()
        await read_until(proc.stdout, '"id":1')
        proc.stdout.close()
        for message in ({"jsonrpc": "2.0", "method": "notifications/initialized"}, LIST_TOOLS):
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        code = ended(proc, 10, "its output was closed, with stdin open")
        said = proc.stderr.read()
        assert code == 1 and "no longer reads the server's output" in said
        assert "Traceback" not in said, said
    finally:
        proc.stdin.close()
        proc.stderr.close()


def test_the_banner_for_the_real_api_sends_people_to_the_doctor_and_carries_no_key() -> None:
    text = banner(Settings(api_key=SecretStr("sk_live_secret_0001")), ["/opt/bimpe/bin/bimpe-mcp"])
    assert "/opt/bimpe/bin/bimpe-mcp doctor " in text and "claude mcp add" not in text
    assert "sk_" not in text and "BIMPE_API_KEY=" not in text
    unset = banner(Settings(), ["/opt/bimpe/bin/bimpe-mcp"])
    assert "No BIMPE_API_KEY is set" in unset


async def test_the_sandbox_command_serves_the_api_on_loopback_and_prints_its_keys() -> None:
    proc = subprocess.Popen(  # noqa: ASYNC220 - a quick spawn; reads below go through a worker thread
        [console_script(), "sandbox", "--port", "0", "--calls", "40", "--seed", "3"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **child_env()},
    )
    try:
        assert proc.stdout is not None
        out = await read_until(proc.stdout, "sk_sandbox_other_team")
        origin = re.search(r"http://127\.0\.0\.1:\d+", out)
        key = re.search(r"sk_sandbox_full_\w+", out)
        assert origin and key, out
        async with httpx2.AsyncClient(base_url=origin.group(0)) as http:
            answer = await http.get("/api/v1/console/agents", headers={"Authorization": f"Bearer {key.group(0)}"})
        assert answer.status_code == 200 and answer.json()["meta"]["total_count"] >= 3
    finally:
        stop(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


async def test_an_explicit_sandbox_flag_wins_over_a_set_key_and_says_so(tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=console_script(), args=["--sandbox"], env=child_env(BIMPE_API_KEY="sk_live_not_used_0001")
    )
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            assert "SANDBOX MODE" in (client.instructions or "")
            assert data(await client.call_tool("list_agents", {}))["agents"]
        errlog.seek(0)
        logs = errlog.read()
    assert "--sandbox: serving the embedded sandbox; the BIMPE_API_KEY that is set is not used" in logs
    assert "sk_live_not_used_0001" not in logs


async def test_a_faster_sandbox_ends_a_placed_call_within_one_wait() -> None:
    params = StdioServerParameters(
        command=console_script(), args=["--sandbox", "--sandbox-speed", "1000"], env=child_env()
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
            done = data(await client.call_tool("wait_for_call", {"call_id": placed["call_id"], "timeout_seconds": 25}))
    assert done["status"] == "ended"


@pytest.mark.parametrize(("level", "expect_line"), [("WARNING", False), ("INFO", True)])
async def test_retries_are_quiet_at_the_default_level_and_one_line_each_at_info(
    tmp_path: Path, level: str, expect_line: bool
) -> None:
    sandbox_server = SandboxServer(port=0, out=io.StringIO(), config=SandboxConfig(seed=7, speed=0.0))
    sandbox_server.sandbox.faults.add(Fault("status", status=503, times=1, path=r"^/agents$"))
    logs = ""
    async with anyio.create_task_group() as tg:
        origin = await tg.start(sandbox_server.run)
        env = child_env(BIMPE_API_KEY=SandboxKeys().full, BIMPE_BASE_URL=origin, BIMPE_LOG_LEVEL=level)
        params = StdioServerParameters(command=console_script(), args=[], env=env)
        with (tmp_path / "stderr.txt").open("w+") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:  # pyright: ignore[reportArgumentType]
                assert data(await client.call_tool("list_agents", {}))["agents"]
            errlog.seek(0)
            logs = errlog.read()
        tg.cancel_scope.cancel()
    assert "stamina" not in logs
    assert ("bimpe_mcp.retry: retry 1 of" in logs) is expect_line, logs


# The command as its console script runs it (`bimpe_mcp.cli.start:main`), saying on stderr when the cyclic garbage
# collector starts a collection, when start-up hands the collector back and when a tool is called.
COLLECTOR_PROBE = """
import gc, sys
from mcp.server.mcpserver import MCPServer
from bimpe_mcp.cli import start
from bimpe_mcp.server import collector

def told(phase, info):
    if phase == "start":
        sys.stderr.write(f"collection of generation {info['generation']}\\n")

gc.callbacks.append(told)
handed_back = collector.started

def started():
    handed_back()
    young = gc.get_threshold()[0]
    sys.stderr.write(f"started: collector on {gc.isenabled()}, young {young}, frozen {gc.get_freeze_count()}\\n")

collector.started = started
call_tool = MCPServer.call_tool

async def calling(self, name, *args, **kwargs):
    sys.stderr.write(f"calling {name}\\n")
    return await call_tool(self, name, *args, **kwargs)

MCPServer.call_tool = calling
raise SystemExit(start.main(sys.argv[1:]))
"""


async def serve_collector_probe(transport: str, tmp_path: Path) -> list[str]:
    """The probe's stderr lines once it has listed the tools and read three pages of calls over `transport`."""
    if transport == "stdio":
        params = StdioServerParameters(
            command=sys.executable, args=["-c", COLLECTOR_PROBE, "--sandbox"], env=child_env()
        )
        with (tmp_path / "stderr.txt").open("w+") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                await read_pages(client)
            errlog.seek(0)
            return errlog.read().splitlines()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a quick spawn; reads below go through a worker thread
        [sys.executable, "-c", COLLECTOR_PROBE, "--sandbox", "--transport", "http", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **child_env()},
    )
    logs = ""
    try:
        assert proc.stderr is not None
        logs = await read_until(proc.stderr, "streamable HTTP on")
        found = re.search(r"streamable HTTP on (\S+) ", logs)
        assert found, logs
        async with Client(found.group(1)) as client:
            await read_pages(client)
    finally:
        logs += stop(proc)
        if proc.stderr:
            proc.stderr.close()
    return logs.splitlines()


async def read_pages(client: Client) -> None:
    assert len((await client.list_tools()).tools) >= 10
    for page in (1, 2, 3):
        assert (await client.call_tool("list_calls", {"limit": 50, "page": page})).is_error is False


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_the_collector_waits_while_the_server_starts_and_then_skips_what_start_up_made(
    transport: str, tmp_path: Path
) -> None:
    told = [
        line
        for line in await serve_collector_probe(transport, tmp_path)
        if line.startswith(("collection", "started", "calling"))
    ]
    assert told.count("calling list_calls") == 3, told
    first, *_ = told
    assert first.startswith(f"started: collector on True, young {YOUNG},"), (
        f"no collection while the server starts, and the collector is back before it serves: {told[:5]}"
    )
    assert int(first.rpartition(" ")[2]) > 50_000, "what start-up made is left out of later collections"
