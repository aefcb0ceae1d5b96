"""Command line: `serve` (the default: MCP over stdio or streamable HTTP), `sandbox` (the API emulator alone) and
`doctor`. Every operator mistake ends in one line on stderr naming the flag or variable, and exit code 2."""

from __future__ import annotations

import argparse
import errno
import logging
import math
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from typing import NoReturn

import anyio

from bimpe_mcp import __version__
from bimpe_mcp.cli.flags import add_setting_flag, add_setting_flags, flag_fields, flags_of, ignored, settings_from
from bimpe_mcp.cli.launch import launch_command
from bimpe_mcp.core.echo import shown
from bimpe_mcp.core.settings import ENV_VARS, SECRET_FIELDS, ConfigError, Settings
from bimpe_mcp.sandbox.hosts import is_loopback
from bimpe_mcp.server.backend import with_sandbox
from bimpe_mcp.server.collector import started
from bimpe_mcp.server.log_setup import configure_logging

log = logging.getLogger("bimpe_mcp")

PROG = "bimpe-mcp"
COMMANDS = ("serve", "sandbox", "doctor")
DEFAULT_HTTP_PORT = 8000
# Options of the HTTP transport: given with stdio, they would be silently ignored, so they are refused.
HTTP_ONLY = ("host", "port")
HTTP_FLAGS = {"path": "--path", "stateless": "--stateless", "json_response": "--json-response",
              "workers": "--workers", **flags_of("transport")}  # fmt: skip
SERVE_ONLY = ("--transport", "--host", "--port", *HTTP_FLAGS.values())
KEY_FLAG = re.compile(r"(?i)key|token|secret|passw|bearer|auth")
KEY_SHAPED = re.compile(r"(?i)^(sk|pk|rk)[_-]|^[A-Za-z0-9_-]{24,}$")

DESCRIPTION = f"""MCP server for BimpeAI voice agents: call logs, transcripts, waiting for calls and placing them.

  {PROG} [serve] [options]   serve MCP over stdio (the default command, so `serve` may be left out)
  {PROG} sandbox [options]   serve the API emulator alone on loopback, printing its URL and demo keys
  {PROG} doctor [options]    check the settings, the API and the key; print client configurations

The API key is read from BIMPE_API_KEY only, never from a flag: a command line is visible to other users."""

EPILOG = f"""examples:
  {PROG} --sandbox                     try it without a key (synthetic data, no real phone rings)
  {PROG} doctor                        check a configuration and print client set-ups with absolute paths
  {PROG} --transport http --port 8000  serve streamable HTTP on http://127.0.0.1:8000/mcp
  {PROG} --transport http --host 0.0.0.0 --auth tokens --stateless
                                          serve a team: bearer tokens from BIMPE_HTTP_TOKENS_FILE, Host and Origin
                                          checked against BIMPE_HTTP_ALLOWED_HOSTS and BIMPE_HTTP_ALLOWED_ORIGINS

`{PROG} COMMAND --help` lists the options of each command."""


class UsageError(Exception):
    """An operator mistake: reported as one line naming what was typed, exit code 2."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.message = message

    def line(self) -> str:
        # `serve` is implied, so the line speaks as the command the operator most likely typed.
        said = self.prog.removesuffix(" serve")
        return f"{said}: {scrub(self.message)} (see `{self.prog} --help`)"


def scrub(text: str) -> str:
    """No argument shaped like a key is ever repeated back."""
    return re.sub(r"(?i)\b(sk|pk|rk)[_-][^\s'\"]*", "[a key]", text)


class Parser(argparse.ArgumentParser):
    """argparse, with each error as a UsageError instead of usage text and a second line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message.removeprefix("argument "))

    def options(self) -> list[str]:
        return list(self._option_string_actions)


# --- argument types -----------------------------------------------------------------------------------------------


def port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to 65535, 0 for a free port (got {shown(text)})"
        )
    return int(text)


def loopback(text: str) -> str:
    if not is_loopback(text):
        raise argparse.ArgumentTypeError(
            f"the sandbox listens on a loopback address only (127.0.0.1, ::1 or localhost), not {shown(text)}: "
            "its demo keys are public"
        )
    return text


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more (got {shown(text)})")
    return int(text)


def speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number, 0 or more; 0 stops the clock (got {shown(text)})")
    return value


def url_path(text: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", text) or text.rstrip("/") == "/healthz":
        raise argparse.ArgumentTypeError(
            f"must start with / and hold letters, digits and . _ ~ - / only, and not be /healthz (got {shown(text)})"
        )
    return text


def workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 64 (got {shown(text)})")
    return int(text)


def whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {shown(text)})") from None


# --- parsers ------------------------------------------------------------------------------------------------------


SERVE_EPILOG = (
    "HTTP settings read from the environment only: BIMPE_HTTP_ALLOWED_HOSTS, the Host values a request may carry "
    "(others get 421), and BIMPE_HTTP_ALLOWED_ORIGINS, the browser origins accepted (others get 403), both "
    "comma-separated and by default the bind address and localhost; BIMPE_HTTP_TOKENS_FILE, the tokens of --auth "
    "tokens."
)


def add_transport_flags(parser: argparse.ArgumentParser) -> None:
    """Where and how the server is reached. Options of the HTTP transport go in this group (and in HTTP_ONLY)."""
    group = parser.add_argument_group("transport")
    group.add_argument("--transport", choices=["stdio", "http"], default="stdio",
                       help="stdio (default), for a client that starts the server, or streamable HTTP")  # fmt: skip
    group.add_argument("--host", default=None,
                       help="HTTP: address to listen on (default 127.0.0.1)")  # fmt: skip
    group.add_argument("--port", type=port, default=None, metavar="PORT",
                       help=f"HTTP: port to listen on (default {DEFAULT_HTTP_PORT}; 0 picks a free one)")  # fmt: skip
    group.add_argument("--path", type=url_path, default=None, metavar="PATH",
                       help="HTTP: path of the MCP endpoint (default /mcp)")  # fmt: skip
    group.add_argument("--stateless", action="store_true", default=None,
                       help="HTTP: no sessions, so that any replica or worker answers any request")  # fmt: skip
    group.add_argument("--json-response", dest="json_response", action="store_true", default=None,
                       help="HTTP: answer with JSON instead of an SSE stream (progress notifications then cannot "
                       "stream)")  # fmt: skip
    group.add_argument("--workers", type=workers, default=None, metavar="N",
                       help="HTTP: uvicorn worker processes (default 1; more needs --stateless)")  # fmt: skip
    for field in flag_fields("transport"):
        add_setting_flag(group, field)


def build_parsers() -> tuple[Parser, dict[str, Parser]]:
    raw = argparse.RawDescriptionHelpFormatter
    top = Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=raw, allow_abbrev=False)
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = top.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve MCP over stdio or streamable HTTP (the default)",
        description="Serve the MCP server. With --transport stdio (the default) a client starts it and talks over "
        "stdin and stdout; with --transport http it listens for remote clients at /mcp.",
        epilog=SERVE_EPILOG,
        allow_abbrev=False,
    )
    add_transport_flags(serve)
    add_setting_flags(serve)
    sandbox = commands.add_parser(
        "sandbox",
        help="serve the BimpeAI API emulator alone on loopback",
        description="Serve the BimpeAI Console API emulator on a loopback address, printing its base URL and its "
        "public demo keys. Point BIMPE_BASE_URL at it to run the server (or any API client) against it.",
        allow_abbrev=False,
    )
    sandbox.add_argument("--host", type=loopback, default="127.0.0.1",
                         help="loopback address to listen on (default 127.0.0.1)")  # fmt: skip
    sandbox.add_argument("--port", type=port, default=8765, metavar="PORT",
                         help="port to listen on (default 8765; 0 picks a free one)")  # fmt: skip
    sandbox.add_argument("--seed", type=whole, default=7, metavar="N",
                         help="picks the seeded agents, calls and transcripts (default 7)")  # fmt: skip
    sandbox.add_argument("--calls", type=count, default=360, metavar="N",
                         help="how many calls to seed (default 360)")  # fmt: skip
    sandbox.add_argument("--speed", type=speed, default=1.0, metavar="N",
                         help="sandbox seconds per real second (default 1; 0 stops the clock)")  # fmt: skip
    doctor = commands.add_parser(
        "doctor",
        help="check the settings, the API and the key; print client configurations",
        description="Check the configuration, reach the API (or the sandbox), report which tools this key can use, "
        "and print client configurations with absolute paths. It reads the settings exactly as the server does: "
        "the BIMPE_* environment and the same flags.",
        allow_abbrev=False,
    )
    add_setting_flags(doctor)
    doctor.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return top, {"serve": serve, "sandbox": sandbox, "doctor": doctor}


def parser() -> argparse.ArgumentParser:
    return build_parsers()[0]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    args = list(argv)
    if not args or (args[0].startswith("-") and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "serve")
    elif args[0] not in COMMANDS and not args[0].startswith("-"):
        raise UsageError(PROG, _unknown_command(args[0]))
    top, commands = build_parsers()
    opts, extra = top.parse_known_args(args)
    if extra:
        command = commands[opts.command]
        raise UsageError(command.prog, _unknown_arguments(extra, command))
    if opts.command == "serve" and opts.transport == "stdio":
        given = [f"--{name}" for name in HTTP_ONLY if getattr(opts, name) is not None]
        given += [flag for name, flag in HTTP_FLAGS.items() if getattr(opts, name) is not None]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(f"{PROG} serve", f"{' and '.join(given)} {verb} to --transport http only")
    return opts


def _unknown_command(word: str) -> str:
    if KEY_SHAPED.search(word):
        return "unexpected argument; an API key is never taken on the command line: set BIMPE_API_KEY instead"
    close = _closest(word, COMMANDS)
    if close:
        return f"unknown command {shown(word)}; did you mean {close}?"
    return f"unknown command {shown(word)}; the commands are {', '.join(COMMANDS)}"


def _unknown_arguments(extra: list[str], command: Parser) -> str:
    flags = [arg.split("=", 1)[0] for arg in extra if arg.startswith("-")]
    # A known option of serve (--auth) is no credential by its name; a key-shaped value beside it still is.
    secretive = [flag for flag in flags if KEY_FLAG.search(flag) and flag not in SERVE_ONLY]
    if secretive or any(KEY_SHAPED.search(arg) for arg in extra):
        named = next(iter(secretive), "unexpected argument")
        var = f"BIMPE_{named.lstrip('-').replace('-', '_').upper()}"
        if ENV_VARS.get(var) in SECRET_FIELDS and var != "BIMPE_API_KEY":
            return (
                f"{named}: {var} is a secret and is never taken on the command line, where other users and the "
                f"shell history can read it; set {var} in the environment (or in the client's env block)"
            )
        return (
            f"{named}: an API key is never taken on the command line, where other users and the shell history "
            "can read it; set BIMPE_API_KEY in the environment (or in the client's env block)"
        )
    if not flags:
        return "unexpected argument: options start with --"
    flag = flags[0]
    if command.prog.endswith(" doctor") and flag in SERVE_ONLY:
        return f"{flag} is an option of serve: the doctor checks the settings, the API and the key only"
    names = {option.lstrip("-"): option for option in command.options()}
    close = _closest(flag.lstrip("-"), list(names))
    return f"unknown option {shown(flag)}" + (f"; did you mean {names[close]}?" if close else "")


def _closest(word: str, choices: Sequence[str]) -> str | None:
    import difflib  # only for a mistyped word: every start would pay for it

    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


# --- running ------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    try:
        opts = parse(sys.argv[1:] if argv is None else argv)
        if opts.command == "sandbox":
            return _run_sandbox(opts)
        if opts.command == "doctor":
            from bimpe_mcp.cli.doctor import run_doctor

            return run_doctor(opts)
        return _serve(opts)
    except UsageError as exc:
        sys.stderr.write(exc.line() + "\n")
        return 2
    except KeyboardInterrupt:
        return 130


def _begin(settings: Settings, notes: Sequence[str], *, said_key: bool = False) -> None:
    """Logging, and the lines an operator needs before anything is served. `said_key`: the terminal banner already
    says that no key is set."""
    configure_logging(settings.log_level)
    if settings.sandbox and settings.configured:
        sys.stderr.write(
            f"{PROG}: --sandbox: serving the embedded sandbox; the BIMPE_API_KEY that is set is not used\n"
        )
    lines = list(notes)
    if not (settings.sandbox or settings.configured or said_key):
        lines.append(NO_KEY)
    for line in lines:
        sys.stderr.write(f"{PROG}: {line}\n")
    sys.stderr.flush()


NO_KEY = (
    "no BIMPE_API_KEY is set: every tool will answer not_configured; set it in the client's env block, or try --sandbox"
)


def _serve(opts: argparse.Namespace) -> int:
    try:
        settings = settings_from(opts)
    except ConfigError as exc:
        raise UsageError(f"{PROG} serve", str(exc)) from None
    if opts.transport == "http":
        return _serve_http(opts, settings)
    at_terminal = sys.stdin.isatty()
    _begin(settings, ignored(opts, settings), said_key=at_terminal)
    checked, transport, clock = with_sandbox(settings)
    from bimpe_mcp.server.build import build_server

    server = build_server(checked, transport=transport, clock=clock)
    if at_terminal:
        sys.stderr.write(banner(settings))
    from bimpe_mcp.server.stdio import serve_stdio

    started()
    anyio.run(serve_stdio, server)
    return 0


def banner(settings: Settings, command: Sequence[str] | None = None) -> str:
    """What a person who started the server in a terminal reads: it waits for a client, and how to connect one."""
    exe = shlex.join(command or launch_command())
    mode = "sandbox: synthetic data, no real phone rings" if settings.sandbox else settings.base_url
    key = (
        "" if settings.sandbox or settings.configured else " No BIMPE_API_KEY is set: tools will answer not_configured."
    )
    sandbox = " --sandbox" if settings.sandbox else ""
    lines = [
        f"{PROG} {__version__}: MCP server for BimpeAI ({mode}).{key}",
        "It is waiting for an MCP client on stdin/stdout; it has not hung. Start it from a client instead:",
    ]
    if settings.sandbox:
        lines.append(f"  Claude Code:  claude mcp add bimpe -- {exe} --sandbox")
    lines += [
        f"  any client:   {exe} doctor{sandbox}   prints configurations for Claude Code, Claude Desktop, Cursor and "
        "VS Code that keep the key off every command line",
        f"  try it:       npx @modelcontextprotocol/inspector {exe}{sandbox}",
        "Press Ctrl+C to exit.",
    ]
    return "\n".join(lines) + "\n"


def _listen(host: str, port_number: int) -> socket.socket:
    """The listening socket, bound before anything is announced; a failure names the flag to change."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port_number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise UsageError(f"{PROG} serve", f"--host {shown(host)}: not a name or address of this machine") from None
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":
            # Lets a restart reuse a port whose old connections linger in TIME_WAIT; a live listener still wins.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"{PROG} serve", bind_problem(exc, host, port_number)) from None
    return sock


def bind_problem(exc: OSError, host: str, port_number: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"--port {port_number}: {host}:{port_number} is already in use by another program; choose another port, "
            "or --port 0 for a free one"
        )
    if exc.errno == errno.EACCES:
        return f"--port {port_number}: not allowed to listen on it here (ports below 1024 need privileges)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {shown(host)}: not an address of this machine"
    return f"--host {shown(host)} --port {port_number}: cannot listen there ({exc.strerror})"


AUTH_MODES = {
    "none": "auth none (loopback only; every client uses the server's own key)",
    "tokens": "auth tokens (bearer tokens from BIMPE_HTTP_TOKENS_FILE)",
    "passthrough": "auth passthrough (each client's bearer token is its own API key)",
    "oauth": "auth oauth (access tokens of BIMPE_OAUTH_ISSUER)",
}


def serving_what(settings: Settings) -> str:
    """Who may call and what answers, for the HTTP start line."""
    backend = "the embedded sandbox: synthetic data, no real phone rings" if settings.sandbox else settings.base_url
    return f"{AUTH_MODES[settings.http_auth]}; API: {backend}"


def _serve_http(opts: argparse.Namespace, settings: Settings) -> int:
    """Check, bind, then announce the address once serving: a refusal or a failure to bind is reported before any
    announcement."""
    from bimpe_mcp.server import http as remote

    host: str = opts.host or "127.0.0.1"
    path: str = opts.path or remote.DEFAULT_PATH
    serving = remote.Serving(host=host, path=path, stateless=bool(opts.stateless),
                             json_response=bool(opts.json_response))  # fmt: skip
    count_of_workers: int = opts.workers or 1
    try:
        remote.check(settings, serving, count_of_workers)
    except ConfigError as exc:
        raise UsageError(f"{PROG} serve", str(exc)) from None
    _begin(settings, ignored(opts, settings), said_key=settings.http_auth == "passthrough")
    sock = _listen(host, DEFAULT_HTTP_PORT if opts.port is None else opts.port)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    where = f"http://{shown_host}:{bound}{path}"

    def announce() -> None:
        started()
        sys.stderr.write(
            f"{PROG} {__version__}: streamable HTTP on {where} (Ctrl+C stops it); {serving_what(settings)}\n"
        )
        for note in remote.notes(settings, serving):
            sys.stderr.write(f"{PROG}: {note}\n")
        sys.stderr.flush()

    try:
        remote.serve(settings, serving, sock, count_of_workers, announce)
    finally:
        sock.close()
    return 0


def _run_sandbox(opts: argparse.Namespace) -> int:
    from bimpe_mcp.sandbox import SandboxConfig, serve

    config = SandboxConfig(seed=opts.seed, calls=opts.calls, speed=opts.speed)
    started()
    try:
        anyio.run(lambda: serve(host=opts.host, port=opts.port, config=config))
    except OSError as exc:
        raise UsageError(f"{PROG} sandbox", bind_problem(exc, opts.host, opts.port)) from None
    return 0
