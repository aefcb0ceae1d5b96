"""`bimpe-mcp doctor`: check the settings, the API and the key's access, then print ready-to-paste client configs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, TextIO, TypeVar

import anyio
import httpx2

from bimpe_mcp import __version__
from bimpe_mcp.api.client import BimpeClient, http_client
from bimpe_mcp.api.errors import TransportError
from bimpe_mcp.api.wire import live_lines
from bimpe_mcp.cli.flags import ignored, settings_from
from bimpe_mcp.cli.launch import UVX_PLACEHOLDER, launch_command
from bimpe_mcp.core.failures import ToolFailure, guarded
from bimpe_mcp.core.settings import ENV_VARS, SECRET_FIELDS, ConfigError, Settings, env_text
from bimpe_mcp.server.backend import with_sandbox
from bimpe_mcp.tools import TOOLS

Status = Literal["ok", "warn", "fail", "unknown", "off"]
T = TypeVar("T")

CALL_READERS = (
    "list_calls",
    "show_calls",
    "get_call",
    "get_transcript",
    "wait_for_call",
    "call_stats",
    "get_transcripts",
)
AGENT_READERS = ("list_agents", "get_agent")
# confirm_call places the call a confirmation card shows: its fate is place_call's.
WRITERS = ("place_call", "confirm_call")
KEY_PLACEHOLDER = "sk_..."
VSCODE_KEY_INPUT = "bimpe-api-key"
# Claude Code fills ${VAR} in a project's .mcp.json from its own environment when it starts the server.
CLAUDE_CODE_KEY = "${BIMPE_API_KEY}"
LABELS: dict[Status, str] = {"ok": " ok ", "warn": "warn", "fail": "FAIL", "unknown": " ?  ", "off": "off "}


@dataclass(frozen=True)
class Check:
    """One line of the report. `tools` names the tools whose fate this check decides."""

    name: str
    status: Status
    detail: str
    tools: tuple[str, ...] = ()


NOT_SERVED = Check("place_call", "off", "not served: read-only mode", tools=WRITERS)


def mask(key: str) -> str:
    """Enough of a key to tell two keys apart, never enough to use it."""
    if key.startswith("sk_") and len(key) >= 16:
        return f"sk_…{key[-4:]}"
    return f"{len(key)} characters"


async def diagnose(
    settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None, unused_key: bool = False
) -> list[Check]:
    """Run every check against the API the settings name (or the in-process `transport`). `unused_key`: a
    BIMPE_API_KEY is set, but --sandbox chose the sandbox's demo key over it."""
    checks = [Check("configuration", "ok", _describe(settings))]
    if settings.api_key is None or not settings.api_key.get_secret_value():
        detail = (
            "BIMPE_API_KEY is not set, so every tool would answer not_configured. Put the key in the env block of the "
            "client configuration below, or try the server with --sandbox."
        )
        return [*checks, *_nothing_works("api key", detail, settings)]
    key = settings.api_key.get_secret_value()
    if settings.sandbox and unused_key:
        detail = "the sandbox's demo key (full access); the BIMPE_API_KEY that is set is not used (--sandbox)"
        checks.append(Check("api key", "warn", detail))
    elif settings.sandbox:
        checks.append(Check("api key", "ok", "the sandbox's demo key (full access)"))
    elif key.startswith("sk_"):
        checks.append(Check("api key", "ok", f"BIMPE_API_KEY is set ({mask(key)})"))
    else:
        checks.append(
            Check("api key", "warn", f"BIMPE_API_KEY is set ({mask(key)}) but does not start with sk_ like team keys")
        )
    async with http_client(settings.base_url, settings.timeout_seconds, transport) as http:
        # No retries: the report shows the API's first answer, and a retryable one says so.
        api = BimpeClient(http, key, max_retries=0, retry_after_cap=settings.retry_after_cap_seconds)
        checks += await _probe(api, settings)
    return checks


@dataclass(frozen=True)
class Failed:
    """A failed probe: what went wrong, and whether the API accepted the key but refused this request."""

    text: str
    refused: bool = False


def _nothing_works(name: str, detail: str, settings: Settings) -> list[Check]:
    """A failure that stops every tool: the one check that failed, and place_call's own line in read-only mode."""
    if settings.read_only:
        return [Check(name, "fail", detail, tools=(*AGENT_READERS, *CALL_READERS)), NOT_SERVED]
    return [Check(name, "fail", detail, tools=(*AGENT_READERS, *CALL_READERS, *WRITERS))]


async def _attempt(settings: Settings, work: Callable[[], Awaitable[T]]) -> T | Failed:
    async def probe() -> T | Failed:
        try:
            return await work()
        except TransportError as exc:
            return Failed(f"{settings.base_url}: {exc}. Check BIMPE_BASE_URL, the network and any proxy.")

    try:
        return await guarded(settings.deadline_seconds, probe)
    except ToolFailure as failure:
        return Failed(failure.info.text(), refused=failure.info.code in ("missing_scope", "forbidden"))


async def _probe(api: BimpeClient, settings: Settings) -> list[Check]:
    checks: list[Check] = []
    base = settings.base_url
    agents = await _attempt(settings, lambda: api.list_agents(limit=1))
    if isinstance(agents, Failed):
        if not agents.refused:
            return _nothing_works("api", agents.text, settings)
        checks.append(Check("api", "ok", f"reached {base}; the key is accepted"))
        checks.append(Check("list_agents", "fail", agents.text, tools=AGENT_READERS))
        first = None
    else:
        checks.append(Check("api", "ok", f"reached {base}; the key is accepted"))
        count = agents.meta.total_count
        checks.append(Check("list_agents", "ok", f"works: the key sees {count} agent(s)", tools=AGENT_READERS))
        first = agents.items[0].id if agents.items else None

    agent = settings.agent_id
    if agent is None:
        detail = "no default agent (BIMPE_AGENT_ID): the model has to pass agent_id to every call tool"
        if first is not None:
            detail += f"; checking with the first agent listed, {first}"
        checks.append(Check("default agent", "warn", detail))
        agent = first
    if agent is None:
        checks.append(Check("calls", "unknown", "no agent to check with: set BIMPE_AGENT_ID", tools=CALL_READERS))
    else:
        chosen = agent
        calls = await _attempt(settings, lambda: api.list_calls(chosen, limit=1))
        if isinstance(calls, Failed):
            checks.append(Check("calls", "fail", f"agent {chosen}: {calls.text}", tools=CALL_READERS))
        else:
            total = calls.meta.total_count
            checks.append(
                Check("calls", "ok", f"can read the calls of agent {chosen} ({total} call(s))", tools=CALL_READERS)
            )

    if settings.read_only:
        checks.append(NOT_SERVED)
        return checks
    checks.append(
        Check(
            "place_call",
            "unknown",
            "write access unknown until first use: no API request shows it short of placing a call. A key "
            "without it makes place_call answer missing_scope; reads keep working.",
            tools=WRITERS,
        )
    )
    checks.append(await _live_calls(api, settings, agent))
    return checks


async def _live_calls(api: BimpeClient, settings: Settings, agent: str | None) -> Check:
    allowed = settings.allow_live_calls
    state = "allowed (BIMPE_ALLOW_LIVE_CALLS)" if allowed else "disabled by configuration: test calls only"
    if agent is None:
        return Check("live calls", "unknown", f"{state}; no agent to check for a telephony channel")
    channels = await _attempt(settings, lambda: api.list_channels(agent))
    if isinstance(channels, Failed):
        return Check("live calls", "unknown", f"{state}; channels of agent {agent}: {channels.text}")
    lines = live_lines(channels)
    if lines:
        return Check("live calls", "ok", f"{state}; agent {agent} dials out over {lines[0].name or lines[0].type}")
    if allowed:
        return Check(
            "live calls",
            "warn",
            f"{state}, but agent {agent} has no connected telephony channel, so a live place_call answers "
            "precondition_failed (test calls work). Link a phone number to the agent in the BimpeAI dashboard.",
        )
    return Check("live calls", "ok", f"{state}; agent {agent} has no connected telephony channel")


def _describe(settings: Settings) -> str:
    where = f"the embedded sandbox (speed {settings.sandbox_speed:g})" if settings.sandbox else settings.base_url
    return (
        f"valid: API {where}, default agent {settings.agent_id or '(none)'}, "
        f"read-only {'on' if settings.read_only else 'off'}, live calls {'on' if settings.allow_live_calls else 'off'}"
    )


# --- client configurations ----------------------------------------------------------------------------------------


def settings_env(settings: Settings) -> dict[str, str]:
    """BIMPE_* variables for every setting that differs from its default; the key is left out, and sandbox mode is
    the `--sandbox` argument."""
    env: dict[str, str] = {}
    for var, name in ENV_VARS.items():
        # Secrets never go into a printed configuration; the HTTP settings belong to a served HTTP endpoint, never
        # to a client that starts the server.
        if (
            name in (*SECRET_FIELDS, "sandbox")
            or name.startswith("http_")
            or (name == "sandbox_speed" and not settings.sandbox)
        ):
            continue
        value = getattr(settings, name)
        if value == Settings.model_fields[name].default:
            continue
        env[var] = env_text(value)
    return env


def client_configs(settings: Settings, command: Sequence[str]) -> dict[str, Any]:
    """Configurations for Claude Desktop, Cursor, VS Code and Claude Code. None carries the key on a command line:
    Desktop and Cursor get a placeholder in their env block, VS Code asks for it, and Claude Code's project
    .mcp.json takes it from the environment Claude Code starts in."""
    exe, *args = command
    if settings.sandbox:
        args.append("--sandbox")
    env = settings_env(settings)
    keyed = env if settings.sandbox else {"BIMPE_API_KEY": KEY_PLACEHOLDER, **env}
    desktop = {"mcpServers": {"bimpe": {"command": exe, "args": args, "env": keyed}}}
    vscode: dict[str, Any] = {
        "servers": {"bimpe": {"type": "stdio", "command": exe, "args": args, "env": dict(keyed)}},
    }
    if not settings.sandbox:
        vscode["inputs"] = [
            {"type": "promptString", "id": VSCODE_KEY_INPUT, "description": "BimpeAI API key", "password": True}
        ]
        vscode["servers"]["bimpe"]["env"]["BIMPE_API_KEY"] = "${input:" + VSCODE_KEY_INPUT + "}"
    claude_env = env if settings.sandbox else {"BIMPE_API_KEY": CLAUDE_CODE_KEY, **env}
    claude_code = {"mcpServers": {"bimpe": {"type": "stdio", "command": exe, "args": args, "env": claude_env}}}
    return {"claude_desktop": desktop, "cursor": desktop, "vscode": vscode, "claude_code": claude_code}


# --- command line -------------------------------------------------------------------------------------------------


UVX_MISSING = (
    "this bimpe-mcp runs from uv's cache, which uv may clean at any time, and no uvx was found (on PATH, beside uv, "
    f"or where uv's installers put it): the configurations below start it through uvx; replace {UVX_PLACEHOLDER} "
    "with uvx's absolute path (`which uvx` where uv works)"
)


def run_doctor(opts: argparse.Namespace) -> int:
    """`bimpe-mcp doctor`: it takes the server's own settings flags, so it reads exactly the settings the server
    reads. Exit 0 when the server will work, 1 when a check failed, 2 when a setting is invalid."""
    out = sys.stdout
    try:
        settings = settings_from(opts)
    except ConfigError as exc:
        checks = [Check("configuration", "fail", str(exc))]
        _write(out, checks, None, as_json=opts.json, listed=set())
        return 2
    checked, transport, _ = with_sandbox(settings)
    unused_key = settings.sandbox and settings.configured
    checks = anyio.run(lambda: diagnose(checked, transport=transport, unused_key=unused_key))
    checks[1:1] = [Check("unused setting", "warn", note) for note in ignored(opts, settings)]
    command = launch_command()
    if command[0] == UVX_PLACEHOLDER:
        checks.append(Check("launch command", "warn", UVX_MISSING))
    listed = {declared.fn.__name__ for declared in TOOLS if declared.listed(settings)}
    _write(out, checks, client_configs(settings, command), as_json=opts.json, listed=listed)
    return 1 if any(c.status == "fail" for c in checks) else 0


def _write(
    out: TextIO, checks: list[Check], clients: dict[str, Any] | None, *, as_json: bool, listed: set[str]
) -> None:
    """The report; its tools are those the server lists with these settings."""
    ok = not any(c.status == "fail" for c in checks)
    tools: dict[str, Status] = {}
    for check in checks:
        for tool in check.tools:
            if tool in listed:
                tools.setdefault(tool, check.status)
    if as_json:
        report = {
            "version": __version__,
            "python": sys.executable,
            "ok": ok,
            "checks": [{k: v for k, v in asdict(c).items() if k != "tools"} for c in checks],
            "tools": tools,
            "clients": clients,
        }
        out.write(json.dumps(report, indent=2) + "\n")
        return
    lines = [f"bimpe-mcp doctor {__version__} (Python {sys.version.split()[0]}, {sys.executable})", ""]
    lines += [f"[{LABELS[c.status]}] {c.name}: {c.detail}" for c in checks]
    lines.append("")
    lines.append(
        "The server will work with this configuration."
        if ok
        else "The server will not work as configured: fix the FAIL lines above."
    )
    if clients is not None:
        desktop = json.dumps(clients["claude_desktop"], indent=2)
        vscode = json.dumps(clients["vscode"], indent=2)
        lines += [
            "",
            "Client configuration (absolute paths, so no PATH lookup can fail):",
            "",
            "Claude Desktop (claude_desktop_config.json) and Cursor (.cursor/mcp.json):",
            desktop,
            "",
            "VS Code (.vscode/mcp.json; VS Code asks for the key once and stores it):",
            vscode,
            "",
            "Claude Code (.mcp.json at the project's root; Claude Code fills ${BIMPE_API_KEY} from the environment "
            "it was started in, so the key is in no file and on no command line):",
            json.dumps(clients["claude_code"], indent=2),
        ]
        if "BIMPE_API_KEY" in clients["claude_desktop"]["mcpServers"]["bimpe"]["env"]:
            lines += [
                "",
                f"In the Claude Desktop and Cursor files, replace {KEY_PLACEHOLDER} with your key; this report never "
                "shows it. Start Claude Code with the key in its environment, typed at a prompt that neither echoes "
                "it nor keeps it in the shell history: read -rs BIMPE_API_KEY && export BIMPE_API_KEY && claude",
            ]
    out.write("\n".join(lines) + "\n")
