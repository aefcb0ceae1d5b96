"""The sandbox stands alone: it imports nothing from the rest of bimpe_mcp, and its modules import one way."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import bimpe_mcp.sandbox

PACKAGE = Path(bimpe_mcp.sandbox.__file__).parent


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(sandbox modules, other bimpe_mcp modules) that a file imports, type-checking imports included."""
    inside: set[str] = set()
    outside: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            inside.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("bimpe_mcp"):
            outside.add(node.module or "")
        elif isinstance(node, ast.Import):
            outside.update(a.name for a in node.names if a.name.startswith("bimpe_mcp"))
    return inside, outside


def test_the_sandbox_imports_nothing_from_the_server_side() -> None:
    for path in PACKAGE.glob("*.py"):
        assert _imports(path)[1] == set(), path.name


def test_the_sandbox_modules_import_each_other_without_a_cycle() -> None:
    graph = {path.stem: _imports(path)[0] for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:  # pragma: no cover - only on failure
        raise AssertionError(f"import cycle: {exc.args[1]}") from None
