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
from bimpe_mcp.sandbox import SandboxConfig, SandboxKeys, SandboxServer
from bimpe_mcp.transcripts import transcript_uri
from tests.dist_support import ROOT, node_tool
from tests.support import assert_no_secret, data

PLACEHOLDER = re.compile(r"\$\{user_config\.([A-Za-z0-9_]+)\}")
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
NEXT = f"{sys.version_info.major}.{sys.version_info.minor + 1}"
TOOLS = {"list_agents", "list_calls", "get_call", "get_transcript", "wait_for_call", "show_calls", "place_call"}


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
                placed = data(await client.call_tool("place_call", {"destination": "+447700900123"}))
                assert placed["status"] == "initiated"
                uri = transcript_uri(sandbox_server.sandbox.agents.live, detail["id"])
                read = await client.read_resource(uri)
                assert isinstance(read.contents[0], TextResourceContents) and read.contents[0].text
            errlog.seek(0)
            assert_no_secret(errlog.read())
        tg.cancel_scope.cancel()


def test_the_bundle_is_for_this_platform_and_holds_no_build_machine_leftovers(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        build_info = json.loads(zf.read("server/build.json"))
        assert zf.read("server/main.py") == (ROOT / "scripts" / "bundle_main.py").read_bytes()
        assert zf.read("icon.png") == (ROOT / "icon.png").read_bytes()
    assert {"manifest.json", "icon.png", "LICENSE", "server/main.py"} <= set(names)
    assert any(n.startswith(f"server/lib/cp{RUNNING.replace('.', '')}/bimpe_mcp/") for n in names)
    assert not [n for n in names if "__pycache__" in n or "/bin/" in n or n.endswith("direct_url.json")]
    assert build_info["pythons"] == [RUNNING]
    assert manifest["compatibility"] == {
        "platforms": [sys.platform],
        "runtimes": {"python": f">={RUNNING},<{NEXT}"},
    }
    repo = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert {k: v for k, v in manifest.items() if k != "compatibility"} == {
        k: v for k, v in repo.items() if k != "compatibility"
    }


def test_the_bundle_launcher_explains_a_python_it_carries_no_libraries_for(bundle: Path, tmp_path: Path) -> None:
    unpacked = unpack(bundle, tmp_path / "b")
    build_file = unpacked / "server" / "build.json"
    build_file.write_text(json.dumps({**json.loads(build_file.read_text()), "pythons": ["3.99"]}))
    command, args, env = host_launch(unpacked, {"api_key": "sk_unused_0000"}, tmp_path)
    run = subprocess.run(
        [command, *args], capture_output=True, text=True, env={**env, "PATH": host_path()}, check=False
    )
    assert run.returncode == 1 and run.stdout == ""
    assert "libraries for Python 3.99" in run.stderr and "pipx install bimpe-mcp" in run.stderr


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


def test_a_bundle_for_two_pythons_keeps_identical_libraries_once(tmp_path: Path) -> None:
    bundle = build(tmp_path, NEXT)
    with zipfile.ZipFile(bundle) as zf:
        tops: dict[str, set[str]] = {}
        for name in zf.namelist():
            parts = name.split("/")
            if parts[:2] == ["server", "lib"] and len(parts) > 4:
                tops.setdefault(parts[2], set()).add(parts[3])
        manifest = json.loads(zf.read("manifest.json"))
        assert json.loads(zf.read("server/build.json"))["pythons"] == [RUNNING, NEXT]
    here, there = f"cp{RUNNING.replace('.', '')}", f"cp{NEXT.replace('.', '')}"
    assert set(tops) == {"common", here, there}
    assert {"mcp", "bimpe_mcp", "pydantic"} <= tops["common"]
    assert "pydantic_core" in tops[here] and "pydantic_core" in tops[there]
    assert not tops["common"] & (tops[here] | tops[there]), "each entry lives in one folder"
    assert manifest["compatibility"]["runtimes"] == {"python": f">={RUNNING},<3.{sys.version_info.minor + 2}"}
