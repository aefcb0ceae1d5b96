"""Paths and launchers shared by the distribution tests: the console script, the project's npm tools, the README."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every tool the server publishes: one committed snapshot each (tests/test_tool_list.py keeps them in step).
TOOLS = frozenset(path.stem for path in (ROOT / "tests" / "snapshots" / "tools").glob("*.json"))
NODE_BIN = ROOT / ".ci" / "node" / "node_modules" / ".bin"


def console_script() -> str:
    """The bimpe-mcp script next to the running interpreter, by its unresolved absolute path."""
    found = shutil.which("bimpe-mcp", path=str(Path(sys.executable).parent))
    assert found, "the bimpe-mcp console script is installed with the package"
    return os.path.abspath(found)


def node_tool(name: str) -> str:
    """A tool `.ci/run` installs into .ci/node. Missing, the test skips locally but fails under CI."""
    path = NODE_BIN / name
    if path.is_file() and shutil.which("node"):
        return str(path)
    _missing(name)


def node_env(**extra: str) -> dict[str, str]:
    """The environment for a Node tool: it runs on the Node 22 that .ci/run installs next to it."""
    return {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def node_package(name: str) -> dict[str, Any]:
    """The package.json of a package `.ci/run` installs into .ci/node; missing, as for node_tool."""
    manifest = NODE_BIN.parent / name / "package.json"
    if manifest.is_file():
        found: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        return found
    _missing(name)


def _missing(name: str) -> NoReturn:
    reason = f"{name} is not installed in .ci/node (run .ci/run, which installs the pinned npm tools)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def readme_block(marker: str) -> str:
    """The fenced block that follows `<!-- marker -->` in README.md, exactly as a reader would copy it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # A block inside a list item is indented: the fence's indentation is taken off every line.
    found = re.search(rf"<!-- {re.escape(marker)} -->[ \t]*\n\n?([ \t]*)```[a-z]*\n(.*?)\n\1```", text, re.DOTALL)
    assert found, f"README.md has a fenced block under <!-- {marker} -->"
    indent = found.group(1)
    return "\n".join(line.removeprefix(indent) for line in found.group(2).split("\n"))
