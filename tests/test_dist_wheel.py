"""`python -m build` makes the sdist and the wheel with complete metadata. Installing the wheel and serving from it
is tests/test_dist_install.py, run the README's way."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import anyio
import pytest

from bimpe_mcp import __version__
from tests.dist_support import ROOT


async def sh(*command: str | Path) -> str:
    run = await anyio.run_process([str(c) for c in command], check=False)
    assert run.returncode == 0, f"{command}: {run.stdout.decode()}\n{run.stderr.decode()}"
    return run.stdout.decode()


@pytest.mark.anyio
async def test_build_makes_an_sdist_and_a_typed_wheel_with_complete_metadata(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    await sh(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    assert sdist.name == f"bimpe_mcp-{__version__}.tar.gz"
    assert wheel.name == f"bimpe_mcp-{__version__}-py3-none-any.whl"

    with tarfile.open(sdist) as tf:
        shipped = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"README.md", "LICENSE", "manifest.json", "server.json", "icon.png", "scripts/build_bundle.py"} <= shipped
    with zipfile.ZipFile(wheel) as zf:
        info = f"bimpe_mcp-{__version__}.dist-info"
        meta = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        assert f"{info}/licenses/LICENSE" in zf.namelist()
        assert "bimpe_mcp/py.typed" in zf.namelist(), "the wheel says Typing :: Typed"
    assert meta["Name"] == "bimpe-mcp" and meta["Version"] == __version__
    assert meta["License-Expression"] == "MIT" and meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "mcp-name: io.github.bimpeai/bimpe-mcp" in (meta.get_payload() or "")
    assert {u.split(",")[0] for u in meta.get_all("Project-URL") or []} >= {"Homepage", "Repository", "Issues"}
    assert any(r.startswith("mcp") for r in meta.get_all("Requires-Dist") or [])
    assert "bimpe-mcp = bimpe_mcp.cli.start:main" in entry_points
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])
