"""The cyclic garbage collector, set for a server: it waits while the server starts, then leaves what start-up made
out of every collection, and collects young objects less often than the interpreter's default.

Start-up makes about 140,000 objects (modules, classes, schemas, the tools) that live as long as the process, and
almost no garbage: a full collection once the server is built frees about 2,000 objects. While those objects are
made, the collector walks them again and again; that took about a tenth of the time from spawn to the first
`tools/list` (bench/bench_server.py). So the command's entry point (`bimpe_mcp.cli.start`) holds the collector off
before its first import, and the command hands it back where the server is about to serve. What start-up made is
then frozen (`gc.freeze`, which exists for this): no later collection walks it.

Serving, each tool call makes a few thousand objects that live until its answer is sent (tasks, streams, the
result), and more while many calls are in flight. At the interpreter's default, a young collection every 700 net
allocations, 32 clients of bench/bench_http.py caused about 1,600 collections and 0.9 to 1.0 s of the server's 13 s
of CPU; from `YOUNG` on, about two dozen collections and 0.1 s. The cyclic garbage that waits longer for a
collection is a few megabytes at most.
"""

from __future__ import annotations

import gc

YOUNG = 10_000
"""Net allocations of objects the collector tracks between two collections of the youngest generation."""


class _StartUp:
    holding = False
    """Whether the collector is off because the command is starting (and not, say, because a caller turned it off)."""


def hold() -> None:
    """Start-up begins: no collection until `started`."""
    gc.disable()
    _StartUp.holding = True


def started() -> None:
    """The server is built and about to serve: the collector runs again, `settled`. Does nothing where nothing held
    the collector (a caller of `bimpe_mcp.cli.main.main`, such as a test)."""
    if _StartUp.holding:
        _StartUp.holding = False
        settled()
        gc.enable()


def settled() -> None:
    """What this process made so far lives as long as it: frozen out of later collections, which run from `YOUNG`
    net allocations. A process that starts without `hold` (a uvicorn worker) calls it once its server is built."""
    gc.freeze()
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])
