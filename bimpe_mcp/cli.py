"""Command line: flags -> Settings -> serve over stdio or HTTP; `sandbox` serves the emulator alone."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from bimpe_mcp import __version__
from bimpe_mcp.config import ConfigError, Settings
from bimpe_mcp.server import build_server
from bimpe_mcp.stdio import serve_stdio
from bimpe_mcp.wiring import add_setting_flags, settings_from, with_sandbox

log = logging.getLogger("bimpe_mcp")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bimpe-mcp",
        description="MCP server for BimpeAI voice agents. The API key is read from BIMPE_API_KEY only, never from "
        "a flag. Subcommands: `bimpe-mcp sandbox` serves the API emulator on loopback.",
    )
    p.add_argument("--version", action="version", version=f"bimpe-mcp {__version__}")
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="stdio (default) or streamable HTTP")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    add_setting_flags(p)
    return p


def _sandbox_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bimpe-mcp sandbox", description="Serve the BimpeAI API emulator on loopback.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=7, help="picks the seeded data")
    p.add_argument("--calls", type=int, default=360, help="how many calls to seed")
    p.add_argument("--speed", type=float, default=1.0, help="virtual seconds per real second")
    return p


def _configure_logging(level: str) -> None:
    # Before the server is built: MCPServer calls logging.basicConfig, which is a no-op once a handler exists.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sandbox"]:
        return _run_sandbox(args[1:])
    if args[:1] == ["doctor"]:
        from bimpe_mcp.doctor import run_doctor

        return run_doctor(args[1:])
    opts = parser().parse_args(args)
    try:
        settings = settings_from(opts)
    except ConfigError as exc:
        sys.stderr.write(f"bimpe-mcp: {exc}\n")
        return 2
    _configure_logging(settings.log_level)
    settings, transport = with_sandbox(settings)
    server = build_server(settings, transport=transport)
    if opts.transport == "http":
        where = f"http://{opts.host}:{opts.port}/mcp" if opts.port else f"a free port of {opts.host}, path /mcp"
        sys.stderr.write(f"bimpe-mcp {__version__}: streamable HTTP on {where}\n")
        server.run("streamable-http", host=opts.host, port=opts.port)
        return 0
    if sys.stdin.isatty():
        sys.stderr.write(_banner(settings))
    anyio.run(serve_stdio, server)
    return 0


def _banner(settings: Settings) -> str:
    mode = "sandbox (synthetic data, no real phone rings)" if settings.sandbox else settings.base_url
    key = "" if settings.configured else " No BIMPE_API_KEY is set: tools will answer not_configured."
    return (
        f"bimpe-mcp {__version__}: MCP server for BimpeAI ({mode}).{key}\n"
        "It is waiting for an MCP client on stdin/stdout; it has not hung. Start it from a client instead, e.g.\n"
        "  Claude Code: claude mcp add bimpe -- bimpe-mcp --sandbox\n"
        "  or run `npx @modelcontextprotocol/inspector bimpe-mcp --sandbox`. Press Ctrl+C to exit.\n"
    )


def _run_sandbox(argv: Sequence[str]) -> int:
    from bimpe_mcp.sandbox import SandboxConfig, serve

    opts = _sandbox_parser().parse_args(argv)
    config = SandboxConfig(seed=opts.seed, calls=opts.calls, speed=opts.speed)
    anyio.run(lambda: serve(host=opts.host, port=opts.port, config=config))
    return 0
