"""The .mcpb bundle: built here, unpacked and launched the way a desktop host does it, then driven over stdio."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextResourceContents

from bimpe_mcp import __version__
from bimpe_mcp.reading.transcript_windows import transcript_uri
from bimpe_mcp.sandbox import SandboxConfig, SandboxKeys, SandboxServer
from tests.dist_support import ROOT, TOOLS, node_tool
from tests.support import assert_no_secret, data

PLACEHOLDER = re.compile(r"\$\{user_config\.([A-Za-z0-9_]+)\}")
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
PYTHONS = ["3.11", "3.12", "3.13"]


def build(out_dir: Path, *pythons: str) -> Path:
    extra = [arg for p in pythons for arg in ("--python", p)]
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_bundle.py"), "--out-dir", str(out_dir), *extra],
        capture_output=True,
        text=True,
        check=True,
    )
    bundle = Path(run.stdout.strip())
    assert bundle.parent == out_dir and bundle.name.startswith(f"bimpe-mcp-{__version__}-{sys.platform}-")
    return bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist"))


def unpack(bundle: Path, into: Path) -> Path:
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(into)
    return into


def host_launch(unpacked: Path, user: dict[str, Any], home: Path) -> tuple[str, list[str], dict[str, str]]:
    """What a host runs: mcp_config with this platform's override applied and every variable substituted."""
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    config = dict(manifest["server"]["mcp_config"])
    config.update(config.pop("platform_overrides", {}).get(sys.platform, {}))
    values = {name: spec.get("default", "") for name, spec in manifest["user_config"].items()} | user

    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    def sub(raw: str) -> str:
        raw = raw.replace("${__dirname}", str(unpacked)).replace("${HOME}", str(home))
        return PLACEHOLDER.sub(lambda m: text(values[m.group(1)]), raw)

    env = {k: sub(v) for k, v in config.get("env", {}).items()}
    return sub(config["command"]), [sub(a) for a in config.get("args", [])], env


def host_path() -> str:
    """PATH without this test run's virtualenv, so the bundle runs on the machine's own Python."""
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))


SITECUSTOMIZE = """
import collections, os, sys
minor = os.environ.pop("FAKE_PYTHON_MINOR", None)
if minor:
    Version = collections.namedtuple("Version", "major minor micro releaselevel serial")
    sys.version_info = Version(3, int(minor), 0, "final", 0)
"""


def older_python(folder: Path) -> dict[str, str]:
    """Environment that makes the host's python3 report itself as 3.98 (one the bundle has no libraries for) to the
    launcher alone: the variable is gone before any interpreter the launcher starts."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {"PYTHONPATH": str(folder), "FAKE_PYTHON_MINOR": "98"}


@pytest.mark.anyio
async def test_a_bundle_built_here_serves_when_unpacked_and_launched_as_a_host_would(
    bundle: Path, tmp_path: Path
) -> None:
    unpacked = unpack(bundle, tmp_path / "installed" / "bimpe-mcp")
    home = tmp_path / "home"
    home.mkdir()
    sandbox_server = SandboxServer(port=0, out=io.StringIO(), config=SandboxConfig(seed=7, speed=0.0))
    async with anyio.create_task_group() as tg:
        origin = await tg.start(sandbox_server.run)
        user = {"api_key": SandboxKeys().full, "base_url": origin, "agent_id": sandbox_server.sandbox.agents.live}
        command, args, env = host_launch(unpacked, user, home)
        assert shutil.which(command, path=host_path()), f"the host's {command} is on PATH"
        params = StdioServerParameters(
            command=command, args=args, env={**env, "HOME": str(home), "PATH": host_path()}, cwd=str(home)
        )
        with (tmp_path / "stderr.txt").open("w+") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:  # pyright: ignore[reportArgumentType]
                assert {t.name for t in (await client.list_tools()).tools} == TOOLS
                calls = data(await client.call_tool("list_calls", {"limit": 2}))["calls"]
                detail = data(await client.call_tool("get_call", {"call_id": calls[0]["id"]}))
                assert detail["id"] == calls[0]["id"]
                placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
                assert placed["status"] == "initiated"
                uri = transcript_uri(sandbox_server.sandbox.agents.live, detail["id"])
                read = await client.read_resource(uri)
                assert isinstance(read.contents[0], TextResourceContents) and read.contents[0].text
            errlog.seek(0)
            assert_no_secret(errlog.read())
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_bundle_user_tries_the_sandbox_with_no_key_at_all(bundle: Path, tmp_path: Path) -> None:
    unpacked = unpack(bundle, tmp_path / "installed" / "bimpe-mcp")
    command, args, env = host_launch(unpacked, {"sandbox": True, "sandbox_speed": 1000}, tmp_path)
    assert env["BIMPE_API_KEY"] == "" and env["BIMPE_SANDBOX"] == "true"
    params = StdioServerParameters(command=command, args=args, env={**env, "HOME": str(tmp_path), "PATH": host_path()})
    with anyio.fail_after(90):
        async with Client(params) as client:
            assert "SANDBOX MODE" in (client.instructions or "")
            placed = data(await client.call_tool("place_call", {"destination": "+447400900123"}))
            done = data(await client.call_tool("wait_for_call", {"call_id": placed["call_id"]}))
    assert done["status"] == "ended", "at sandbox speed 1000 a call ends within one wait"


@pytest.mark.anyio
async def test_started_by_a_python_it_has_no_libraries_for_the_launcher_runs_itself_on_one_it_has(
    bundle: Path, tmp_path: Path
) -> None:
    unpacked = unpack(bundle, tmp_path / "b")
    command, args, env = host_launch(unpacked, {"sandbox": True}, tmp_path)
    # A python3.13 that is not what its name says: the launcher asks each candidate its version.
    liar = tmp_path / "liar"
    liar.mkdir()
    (liar / "python3.13").write_text(f'#!/bin/sh\nexec {shutil.which("python3", path=host_path())} "$@"\n')
    (liar / "python3.13").chmod(0o755)
    env |= older_python(tmp_path / "fake") | {"PATH": os.pathsep.join([str(liar), host_path()])}
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        params = StdioServerParameters(command=command, args=args, env=env)
        async with Client(stdio_client(params, errlog=errlog)) as client:  # pyright: ignore[reportArgumentType]
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        errlog.seek(0)
        logs = errlog.read()
    assert "the host started Python 3.98" in logs and "carries no libraries for; running on " in logs
    assert f"python{RUNNING}" in logs and "liar" not in logs, logs


def test_the_bundle_is_for_this_platform_and_holds_no_build_machine_leftovers(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        build_info = json.loads(zf.read("server/build.json"))
        assert zf.read("server/main.py") == (ROOT / "scripts" / "bundle_main.py").read_bytes()
        assert zf.read("icon.png") == (ROOT / "icon.png").read_bytes()
    assert {"manifest.json", "icon.png", "LICENSE", "server/main.py"} <= set(names)
    assert any(n.startswith("server/lib/common/bimpe_mcp/") for n in names)
    assert not [n for n in names if "__pycache__" in n or "/bin/" in n or n.endswith("direct_url.json")]
    assert build_info["pythons"] == PYTHONS
    repo = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["compatibility"] == {
        "platforms": [sys.platform],
        "runtimes": {"python": repo["compatibility"]["runtimes"]["python"]},
    }
    assert {k: v for k, v in manifest.items() if k != "compatibility"} == {
        k: v for k, v in repo.items() if k != "compatibility"
    }


def test_the_bundle_carries_one_http_stack_and_no_geocoder_data_in_under_18_mb(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        tops = {parts[3] for parts in (n.split("/") for n in zf.namelist()) if parts[:2] == ["server", "lib"]}
        names = zf.namelist()
    assert {"httpx2", "httpcore2", "phonenumbers"} <= tops
    assert not tops & {"httpx", "httpcore", "aiohttp", "httpx_aiohttp", "sniffio"}
    assert not [n for n in names if "/phonenumbers/geodata/" in n or "/phonenumbers/carrierdata/" in n]
    assert bundle.stat().st_size <= 18_000_000


def test_the_bundle_keeps_libraries_identical_for_every_python_once(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        tops: dict[str, set[str]] = {}
        for name in zf.namelist():
            parts = name.split("/")
            if parts[:2] == ["server", "lib"] and len(parts) > 4:
                tops.setdefault(parts[2], set()).add(parts[3])
    minors = ["cp" + p.replace(".", "") for p in PYTHONS]
    assert set(tops) == {"common", *minors}
    assert {"mcp", "bimpe_mcp", "pydantic"} <= tops["common"]
    assert all("pydantic_core" in tops[m] for m in minors)
    specific = set[str]().union(*(tops[m] for m in minors))
    assert not tops["common"] & specific, "each entry lives in one folder"


def test_the_bundle_launcher_explains_a_python_it_carries_no_libraries_for(bundle: Path, tmp_path: Path) -> None:
    unpacked = unpack(bundle, tmp_path / "b")
    build_file = unpacked / "server" / "build.json"
    build_file.write_text(json.dumps({**json.loads(build_file.read_text()), "pythons": ["3.99"]}))
    command, args, env = host_launch(unpacked, {"api_key": "sk_unused_0000"}, tmp_path)
    run = subprocess.run(
        [command, *args], capture_output=True, text=True, env={**env, "PATH": host_path()}, check=False
    )
    assert run.returncode == 1 and run.stdout == ""
    assert "libraries for Python 3.99" in run.stderr and "no Python 3.99 was found" in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "pipx install bimpe-mcp" not in run.stderr, "no install by a name that is not published"


def test_mcpb_reads_unpacks_and_validates_the_bundle(bundle: Path, tmp_path: Path) -> None:
    mcpb = node_tool("mcpb")
    info = subprocess.run([mcpb, "info", str(bundle)], capture_output=True, text=True, check=False)
    assert info.returncode == 0, info.stdout + info.stderr
    out = tmp_path / "unpacked"
    unpacked = subprocess.run([mcpb, "unpack", str(bundle), str(out)], capture_output=True, text=True, check=False)
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    with zipfile.ZipFile(bundle) as zf:
        expected = {n for n in zf.namelist() if not n.endswith("/")}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == expected
    valid = subprocess.run([mcpb, "validate", str(out / "manifest.json")], capture_output=True, text=True, check=False)
    assert valid.returncode == 0, valid.stdout + valid.stderr
