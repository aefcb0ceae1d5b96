"""The README's ways to install, run as written in a copy of this checkout: the set-up's run command, pipx and uvx
from the clone, and a wheel. pipx and uv come from PyPI into a scratch virtualenv, never a global install."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import pytest
from mcp import Client, StdioServerParameters

from bimpe_mcp import __version__
from tests.dist_support import ROOT, TOOLS, readme_block

INSTALLERS = ("pipx==1.18.4", "uv==0.13.9")
# Installs fetch from PyPI (or the pip cache) on a shared machine: generous, but bounded.
INSTALL_SECONDS = 900

# Minutes of installs from PyPI: `-m "not install"` leaves them out while iterating; CI runs them.
pytestmark = pytest.mark.install


def clone(dest: Path) -> Path:
    """What a fresh clone of this checkout holds: its tracked and unignored files, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def shell(command: str, cwd: Path, env: dict[str, str]) -> None:
    run = subprocess.run(
        ["bash", "-c", command],  # noqa: S607 - the README's commands are shell lines
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=INSTALL_SECONDS,
        check=False,
    )
    assert run.returncode == 0, f"{command}\n{run.stdout}\n{run.stderr}"


async def serves(command: str, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    params = StdioServerParameters(command=command, args=args, env=env, cwd=str(cwd) if cwd else None)
    with anyio.fail_after(INSTALL_SECONDS):
        async with Client(params) as client:
            assert client.server_info is not None and client.server_info.version == __version__
            assert "SANDBOX MODE" in (client.instructions or "")
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS


@pytest.fixture(scope="module")
def installers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch virtualenv holding pipx and uv; its bin folder."""
    venv = tmp_path_factory.mktemp("installers") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bindir = venv / "bin"
    subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--quiet", *INSTALLERS],
        check=True,
        timeout=INSTALL_SECONDS,
    )
    return bindir


def pipx_env(installers: Path, home: Path) -> dict[str, str]:
    """pipx on PATH, with its home and bin folder in the test's own folder instead of ~/.local."""
    return {
        **os.environ,
        "PATH": os.pathsep.join([str(installers), os.environ["PATH"]]),
        "PIPX_HOME": str(home / "pipx"),
        "PIPX_BIN_DIR": str(home / "bin"),
        "PIPX_MAN_DIR": str(home / "man"),
    }


async def read_until(stream: IO[str], needle: str) -> str:
    seen: list[str] = []
    with anyio.fail_after(INSTALL_SECONDS):
        while True:
            line = await anyio.to_thread.run_sync(stream.readline)
            if not line:
                raise AssertionError(f"stream closed before {needle!r}: {''.join(seen)}")
            seen.append(line)
            if needle in line:
                return "".join(seen)


@pytest.mark.anyio
async def test_the_readme_run_command_installs_only_what_running_needs_and_serves(tmp_path: Path) -> None:
    copy = clone(tmp_path / "bimpe-mcp")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(  # noqa: ASYNC220 - a quick spawn; reads below go through a worker thread
        ["bash", "-c", readme_block("run-command")],  # noqa: S607 - the README's command, as written
        cwd=copy,
        stdin=follower,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    os.close(follower)
    try:
        assert proc.stderr is not None
        banner = await read_until(proc.stderr, "Ctrl+C")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        rest = proc.stderr.read()
    finally:
        os.close(leader)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert "waiting for an MCP client" in banner and "sandbox" in banner
    assert "Traceback" not in banner + rest
    venv = copy / ".venv" / "bin"
    assert (venv / "bimpe-mcp").is_file()
    assert not (venv / "pytest").exists() and not (venv / "pyright").exists(), "no test tools to run the server"
    await serves(str(venv / "bimpe-mcp"), ["--sandbox"], {})


@pytest.mark.anyio
async def test_pipx_installs_from_the_clone_as_the_readme_says(tmp_path: Path, installers: Path) -> None:
    copy = clone(tmp_path / "bimpe-mcp")
    env = pipx_env(installers, tmp_path)
    shell(readme_block("install: pipx"), copy, env)
    await serves(str(tmp_path / "bin" / "bimpe-mcp"), ["--sandbox"], {})


@pytest.mark.anyio
async def test_a_wheel_built_in_the_clone_installs_with_pipx_as_the_readme_says(
    tmp_path: Path, installers: Path
) -> None:
    copy = clone(tmp_path / "bimpe-mcp")
    env = pipx_env(installers, tmp_path)
    # The README builds the wheel after the set-up; its first step is all the wheel needs (the .venv's pip).
    shell("python3 -m venv .venv", copy, env)
    shell(readme_block("install: wheel"), copy, env)
    assert (copy / "dist" / f"bimpe_mcp-{__version__}-py3-none-any.whl").is_file()
    await serves(str(tmp_path / "bin" / "bimpe-mcp"), ["--sandbox"], {})


@pytest.mark.anyio
async def test_uvx_runs_the_clone_as_the_readme_says_and_the_doctor_points_clients_back_at_it(
    tmp_path: Path, installers: Path
) -> None:
    copy = clone(tmp_path / "bimpe-mcp")
    env = {**os.environ, "PATH": os.pathsep.join([str(installers), os.environ["PATH"]])}
    await serves("bash", ["-c", readme_block("install: uvx")], env, cwd=copy)

    doctor = await anyio.run_process(
        [str(installers / "uvx"), "--from", ".", "bimpe-mcp", "doctor", "--sandbox", "--json"], cwd=copy, env=env
    )
    server = json.loads(doctor.stdout)["clients"]["claude_desktop"]["mcpServers"]["bimpe"]
    assert server["command"] == str(installers / "uvx")
    assert server["args"] == ["--from", str(copy), "bimpe-mcp", "--sandbox"]
    # A desktop host starts it from anywhere with only the configured environment, plus what uv needs from the
    # machine: HOME for its cache, and this machine's certificate settings for the package index it checks.
    machine = {k: v for k, v in os.environ.items() if k == "HOME" or k.startswith("SSL_CERT_")}
    await serves(server["command"], server["args"], {**machine, **server["env"]}, cwd=tmp_path)
