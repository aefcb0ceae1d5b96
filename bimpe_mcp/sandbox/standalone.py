"""Serving the sandbox over HTTP on a loopback address."""

from __future__ import annotations

import socket
import sys
from typing import Any, TextIO

import anyio
from anyio.abc import TaskStatus

from .app import API_PREFIX, CONTROL_PREFIX
from .config import SandboxConfig
from .core import Sandbox
from .hosts import is_loopback

STARTUP_DEADLINE_SECONDS = 10.0


def _loopback_address(host: str) -> str:
    if not is_loopback(host):
        raise ValueError(f"the sandbox serves on a loopback address only, not {host!r}")
    return "127.0.0.1" if host == "localhost" else host


class SandboxServer:
    """A sandbox behind uvicorn. `run()` writes the base URL and demo keys once it accepts connections, then serves
    until `stop()`."""

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        config: SandboxConfig | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox(config)
        self.host = _loopback_address(host)
        self.port = port
        self._out = out
        self._should_exit = False
        self._server: Any = None

    def banner(self, origin: str) -> str:
        keys = self.sandbox.keys
        cfg = self.sandbox.config
        return (
            f"BimpeAI Console API sandbox (seed {cfg.seed}, {cfg.calls} calls, speed {cfg.speed:g})\n"
            f"Base URL: {origin}\n"
            f"API root: {origin}{API_PREFIX}\n"
            f"Control:  {origin}{CONTROL_PREFIX}/info\n"
            "Demo API keys:\n"
            f"  full        {keys.full}\n"
            f"  read_only   {keys.read_only}\n"
            f"  expired     {keys.expired}\n"
            f"  other_team  {keys.other_team}\n"
        )

    async def run(self, *, task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        import uvicorn  # only here: the in-process sandbox of the server and the tests never needs it

        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            self.port = sock.getsockname()[1]
            host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
            origin = f"http://{host}:{self.port}"
            self.sandbox.origin = origin
            config = uvicorn.Config(
                self.sandbox.app, log_config=None, log_level="warning", access_log=False, lifespan="off"
            )
            ready = anyio.Event()

            class _Server(uvicorn.Server):
                async def startup(self, sockets: list[socket.socket] | None = None) -> None:
                    try:
                        await super().startup(sockets=sockets)
                    finally:
                        ready.set()

            server = _Server(config)
            self._server = server
            server.should_exit = self._should_exit
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(server.serve, [sock])
                    with anyio.fail_after(STARTUP_DEADLINE_SECONDS):
                        await ready.wait()
                    # Announced only now that it accepts connections: whoever reads the banner may connect at once.
                    out = self._out or sys.stdout
                    out.write(self.banner(origin))
                    out.flush()
                    task_status.started(origin)
            except anyio.get_cancelled_exc_class():
                # Cancelled from outside: close the listening socket and open connections before leaving.
                with anyio.CancelScope(shield=True):
                    if server.started:
                        await server.shutdown()
                raise
        finally:
            sock.close()

    def stop(self) -> None:
        self._should_exit = True
        server = self._server
        if server is not None:
            server.should_exit = True


async def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    config: SandboxConfig | None = None,
    *,
    task_status: TaskStatus[str] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve a sandbox on loopback until cancelled or interrupted, after writing its base URL and keys.

    With `task_group.start(serve, ...)` the base URL is returned once the server accepts connections.
    """
    await SandboxServer(host=host, port=port, config=config).run(task_status=task_status)
