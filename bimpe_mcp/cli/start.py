"""The `bimpe-mcp` command's entry point. It imports nothing but the collector's hold before it holds the collector
(bimpe_mcp/server/collector.py), so that start-up's every import runs without collections."""

from __future__ import annotations

from collections.abc import Sequence

from bimpe_mcp.server.collector import hold, started


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command (`argv` None: the process's arguments); the server hands the collector back once it serves."""
    hold()
    try:
        from bimpe_mcp.cli.main import main as command

        return command(argv)
    finally:
        started()  # a command that ends, or fails, before it serves
