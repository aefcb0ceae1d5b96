"""An asyncio event loop on virtual time: whenever nothing is ready to run, its clock jumps to the next timer.

Sleeps, timeouts and deadlines then take no wall time but keep their order and their arithmetic, so a test can
let code wait as it would in production and assert how long it waited. Only for tests whose work all happens on
the loop (in-process client, server and sandbox): a thread or a subprocess would see the clock jump past it. Their
servers keep their state in memory (`on_the_loop`): a state file's statements run in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import ServerFactory


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, clock: VirtualTimeLoop) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            return super().select(None)
        self._clock.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)


def on_the_loop(make_server: ServerFactory) -> ServerFactory:
    """`make_server` with the state in this process's memory, whose statements run on the loop."""
    return functools.partial(make_server, state_url="memory://")
