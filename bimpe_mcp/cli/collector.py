"""The cyclic garbage collector waits while the server starts.

Start-up makes about 140,000 objects (modules, classes, schemas, the tools) that live as long as the process, and
almost no garbage: a full collection once the server is built frees about 2,000 objects. While those objects are
made, the collector walks them again and again; that took about a tenth of the time from spawn to the first
`tools/list` (bench/bench_server.py). So the command's entry point holds the collector off before its first import
(`bimpe_mcp.cli.start`), and the command hands it back where the server is about to serve. What start-up made is
then frozen out of every later collection (`gc.freeze`, which exists for this: no later collection walks it either)
and the collector runs as usual over what serving makes.
"""

from __future__ import annotations

import gc


class _StartUp:
    holding = False
    """Whether the collector is off because the command is starting (and not, say, because a caller turned it off)."""


def hold() -> None:
    """Start-up begins: no collection until `started`."""
    gc.disable()
    _StartUp.holding = True


def started() -> None:
    """The server is built and about to serve: the collector runs again, past what start-up made. Does nothing
    where nothing held the collector (a caller of `bimpe_mcp.cli.main.main`, such as a test)."""
    if _StartUp.holding:
        _StartUp.holding = False
        gc.freeze()
        gc.enable()
