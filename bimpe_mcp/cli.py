"""Command line: flags -> Settings -> serve over stdio or HTTP; `sandbox` serves the emulator alone."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
from pydantic import SecretStr

from bimpe_mcp import __version__
from bimpe_mcp.config import ENV_VARS, ConfigError, Settings
from bimpe_mcp.server import build_server

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("bimpe_mcp")

FLAG_HELP = {
    "base_url": "API origin (default https://api.bimpe.ai)",
    "agent_id": "default agent for tools called without agent_id",
    "timeout_seconds": "per-request timeout in seconds",
    "deadline_seconds": "overall deadline of one tool call in seconds",
    "max_retries": "retries of a failed request (reads, and writes with an idempotency key)",
    "retry_after_cap_seconds": "longest Retry-After the server waits out itself before reporting rate_limited",
    "text_format": "text content of tool results: compact (default) or json",
    "transcript_chars": "transcript size budget of get_call and get_transcript",
    "log_level": "stderr log level",
}


def parser() -> argparse.ArgumentParser:
    env_of = {field: var for var, field in ENV_VARS.items()}
    p = argparse.ArgumentParser(
        prog="bimpe-mcp",
        description="MCP server for BimpeAI voice agents. The API key is read from BIMPE_API_KEY only, never from "
        "a flag. Subcommands: `bimpe-mcp sandbox` serves the API emulator on loopback.",
    )
    p.add_argument("--version", action="version", version=f"bimpe-mcp {__version__}")
    p.add_argument("--sandbox", action="store_true", default=None,
                   help="serve against the embedded sandbox with a demo key [env BIMPE_SANDBOX]")  # fmt: skip
    p.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="stdio (default) or streamable HTTP")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    for field, text in FLAG_HELP.items():
        flag = "--" + field.replace("_seconds", "").replace("_", "-")
        p.add_argument(flag, dest=field, default=None, help=f"{text} [env {env_of[field]}]")
    p.add_argument("--allow-live-calls", dest="allow_live_calls", action="store_true", default=None,
                   help="let place_call make live calls [env BIMPE_ALLOW_LIVE_CALLS]")  # fmt: skip
    p.add_argument("--read-only", dest="read_only", action="store_true", default=None,
                   help="serve no tool that changes anything [env BIMPE_READ_ONLY]")  # fmt: skip
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


def settings_from(opts: argparse.Namespace) -> Settings:
    """The environment, overridden by whichever flags were given (the key has no flag)."""
    overrides = {field: getattr(opts, field) for field in ENV_VARS.values() if field != "api_key"}
    return Settings.from_env(**overrides)


def with_sandbox(settings: Settings) -> tuple[Settings, httpx.AsyncBaseTransport | None]:
    """In sandbox mode: the in-process emulator's transport, its demo key, and its agent with a live channel as the
    default agent. Otherwise the settings as they are, on the network."""
    if not settings.sandbox:
        return settings, None
    # Imported here so that a server on the real API never loads the emulator.
    from bimpe_mcp.sandbox import Sandbox, SandboxConfig

    box = Sandbox(SandboxConfig())
    update = {
        "api_key": SecretStr(box.keys.full),
        "base_url": box.origin,
        "agent_id": settings.agent_id or box.agents.live,
    }
    return settings.model_copy(update=update), box.transport()


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
    server.run()
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
