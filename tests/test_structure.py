"""Every function of the package fits on a screen. (Which way imports may point is import-linter's to check: the
contracts in pyproject.toml, run by the test command.)"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import bimpe_mcp

PACKAGE = Path(bimpe_mcp.__file__).parent
MAX_FUNCTION_LINES = 60


def functions(tree: ast.Module) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its qualified name, nested ones included."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield prefix + child.name, child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def long_functions(root: Path, limit: int) -> list[str]:
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for name, node in functions(ast.parse(path.read_text(), str(path))):
            # From the def line to the body's last line: decorators are not counted.
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {name} ({length} lines)")
    return found


def test_no_function_or_method_is_longer_than_60_lines() -> None:
    found = long_functions(PACKAGE, MAX_FUNCTION_LINES)
    assert not found, f"longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)
