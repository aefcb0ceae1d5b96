"""HTTP benchmark: concurrent MCP clients against `bimpe-mcp --transport http`, with the same API requests sent
straight to the sandbox as the floor, in one run. The sandbox runs in its own process (no rate limit, clock stopped).

- throughput: MCP tool calls per second against the direct API requests per second (goal: at least 0.6 with the
  lean client, 0.5 with `mcp.Client`)
- server CPU: the server process's CPU time per tool call (goal: at most 1.5 ms)
- the SDK's own floor: a bare `MCPServer` whose two tools send the same API requests with httpx2 and return the
  API's JSON, served the same way (streamable HTTP, stateless unless --stateful, uvicorn): its CPU per call and
  throughput are what any server on this SDK and HTTP stack spends before doing anything of its own
- latency: p50 and p99 of each tool call (goal: p99 under five times p50)
- errors: every call must succeed (goal: zero in 10,000)
- memory: RSS of the server process after a warm-up and after all the calls (goal: within 10%)

Each client alternates list_calls (a page of 20) and get_call (one call with its transcript); the floor sends the
two requests those tools send. Clients, server and sandbox share this machine's cores, as they would on one host.
The calls are sent in rounds, each a floor block then an MCP block, so that a change in the machine's load during
the run weighs on both sides alike; the figures are over all rounds.

Run: python bench/bench_http.py [--calls N] [--rounds N] [--clients N] [--mode legacy|auto] [--stateful]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from procs import cpu_seconds, family, rss_kib

from bimpe_mcp.sandbox import API_PREFIX, SandboxKeys

SANDBOX = (
    "import anyio\n"
    "from bimpe_mcp.sandbox import SandboxConfig, serve\n"
    "anyio.run(lambda: serve(port=0, config=SandboxConfig(speed=0.0, rate_limit=10**9)))\n"
)
# The SDK's floor: the two tools as a bare MCPServer, sending the same requests with one shared httpx2 client, its
# streamable HTTP app served by uvicorn as bimpe-mcp serves its own (warning level, no access log).
BARE = (
    "import os, socket, sys\n"
    "from typing import Any\n"
    "import httpx2, uvicorn\n"
    "from mcp.server.mcpserver import MCPServer\n"
    "base, json_response, stateless = sys.argv[1], sys.argv[2] == '1', sys.argv[3] == '1'\n"
    "key = os.environ['BARE_API_KEY']\n"
    "http = httpx2.AsyncClient(headers={'Authorization': f'Bearer {key}'}, timeout=60)\n"
    "mcp = MCPServer('bare', log_level='WARNING')\n"
    "@mcp.tool()\n"
    "async def list_calls(limit: int = 20) -> dict[str, Any]:\n"
    "    answer = await http.get(base, params={'page': 1, 'limit': limit, 'sort': '-created_on'})\n"
    "    answer.raise_for_status()\n"
    "    return answer.json()\n"
    "@mcp.tool()\n"
    "async def get_call(call_id: str) -> dict[str, Any]:\n"
    "    answer = await http.get(f'{base}/{call_id}')\n"
    "    answer.raise_for_status()\n"
    "    return answer.json()\n"
    "app = mcp.streamable_http_app(stateless_http=stateless, json_response=json_response)\n"
    "sock = socket.socket()\n"
    "sock.bind(('127.0.0.1', 0))\n"
    "sock.listen(2048)\n"
    "print(f'serving on http://127.0.0.1:{sock.getsockname()[1]}', flush=True)\n"
    "config = uvicorn.Config(app, log_config=None, log_level='warning', access_log=False)\n"
    "uvicorn.Server(config).run(sockets=[sock])\n"
)
WARMUP_CALLS = 640
# A client's connections idle through the other side's block of each round: drop them before uvicorn's 5 s
# keep-alive timeout does, so that no request is sent on a connection the server is closing.
LIMITS = httpx2.Limits(keepalive_expiry=4.0)


def started(argv: list[str], env: dict[str, str], pattern: str, stream: str) -> tuple[subprocess.Popen[str], str]:
    """A subprocess, once it printed a line matching `pattern` (group 1 returned)."""
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        argv, env=env, text=True, stdin=subprocess.DEVNULL,
        stdout=pipe if stream == "stdout" else subprocess.DEVNULL,
        stderr=pipe if stream == "stderr" else subprocess.DEVNULL,
    )  # fmt: skip
    out = proc.stdout if stream == "stdout" else proc.stderr
    assert out is not None
    for line in out:
        found = re.search(pattern, line)
        if found:
            # What it prints afterwards is read and dropped, so that a full pipe never stalls it.
            threading.Thread(target=out.read, daemon=True).start()
            return proc, found.group(1)
    raise SystemExit(f"{argv[0]} exited before serving")


async def run_clients(
    sessions: list[Any], calls: int, call: Callable[[Any, int], Awaitable[None]]
) -> tuple[float, list[float], int]:
    """One worker per open session, sharing `calls` calls: (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    left = iter(range(calls))

    async def worker(session: Any) -> None:
        nonlocal errors
        for number in left:
            began = time.perf_counter()
            try:
                await call(session, number)
            except Exception as exc:  # noqa: BLE001 - counted, and the run goes on
                errors += 1
                if errors == 1:
                    print(f"first error: {type(exc).__name__}: {str(exc)[:200]}")
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for session in sessions:
            tg.start_soon(worker, session)
    return time.perf_counter() - began, latencies, errors


def summary(name: str, seconds: float, latencies: list[float], errors: int) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    figures = {
        "rate": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": cuts[98] * 1000,
        "errors": float(errors),
    }
    print(
        f"{name:>6}: {len(latencies)} calls in {seconds:.1f} s = {figures['rate']:.0f}/s, "
        f"p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, errors {errors}"
    )
    return figures


def direct(origin: str, agent: str, call_ids: list[str]) -> tuple[Callable[[], Any], Callable[[Any, int], Any]]:
    """The floor: the API requests the two tools send, straight to the sandbox with httpx2."""
    key = SandboxKeys().full
    base = f"{origin}{API_PREFIX}/agents/{agent}/calls"

    def open_one() -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60, limits=LIMITS)

    async def call(http: httpx2.AsyncClient, number: int) -> None:
        if number % 2:
            answer = await http.get(f"{base}/{call_ids[number % len(call_ids)]}")
        else:
            answer = await http.get(base, params={"page": 1, "limit": 20, "sort": "-created_on"})
        answer.raise_for_status()

    return open_one, call


def mcp_calls(url: str, mode: str, call_ids: list[str]) -> tuple[Callable[[], Any], Callable[[Any, int], Any]]:
    def open_one() -> Any:
        return _Connected(url, mode)

    async def call(client: Client, number: int) -> None:
        if number % 2:
            result = await client.call_tool("get_call", {"call_id": call_ids[number % len(call_ids)]})
        else:
            result = await client.call_tool("list_calls", {"limit": 20})
        if result.is_error:
            raise RuntimeError(str(result.content)[:200])

    return open_one, call


def lean_calls(url: str, call_ids: list[str]) -> tuple[Callable[[], Any], Callable[[Any, int], Any]]:
    """The same tool calls from a lean MCP client: JSON-RPC over httpx2, the floor's own HTTP library, on the
    handshake era (initialize once, then tools/call). It checks each result's isError and structuredContent but not
    the outputSchema, so the difference from the floor is the MCP server's hop alone."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    numbers = iter(range(1, 1 << 62))

    async def rpc(http: httpx2.AsyncClient, method: str, params: dict[str, Any], *, notify: bool = False) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if not notify:
            message["id"] = next(numbers)
        answer = await http.post(url, json=message)
        answer.raise_for_status()
        if session := answer.headers.get("mcp-session-id"):
            http.headers["Mcp-Session-Id"] = session  # stateful: the session the server opened on initialize
        if notify:
            return None
        text = answer.text
        if answer.headers.get("content-type", "").startswith("text/event-stream"):
            text = next(line[5:] for line in reversed(text.splitlines()) if line.startswith("data:"))
        reply = json.loads(text)
        if "error" in reply:
            raise RuntimeError(str(reply["error"])[:200])
        return reply["result"]

    @asynccontextmanager
    async def open_one() -> AsyncGenerator[httpx2.AsyncClient]:
        async with httpx2.AsyncClient(headers=headers, timeout=60, limits=LIMITS) as http:
            hello = {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            }
            version = (await rpc(http, "initialize", hello))["protocolVersion"]
            http.headers["MCP-Protocol-Version"] = version
            await rpc(http, "notifications/initialized", {}, notify=True)
            yield http

    async def call(http: httpx2.AsyncClient, number: int) -> None:
        if number % 2:
            arguments: dict[str, Any] = {"name": "get_call", "arguments": {"call_id": call_ids[number % len(call_ids)]}}
        else:
            arguments = {"name": "list_calls", "arguments": {"limit": 20}}
        result = await rpc(http, "tools/call", arguments)
        if result.get("isError") or "structuredContent" not in result:
            raise RuntimeError(str(result.get("content"))[:200])

    return open_one, call


class _Connected:
    """An MCP client over streamable HTTP with its own connection pool."""

    def __init__(self, url: str, mode: str) -> None:
        self.url, self.mode = url, mode

    async def __aenter__(self) -> Client:
        self.http = httpx2.AsyncClient(timeout=60, limits=LIMITS)
        await self.http.__aenter__()
        self.client = Client(streamable_http_client(self.url, http_client=self.http), mode=self.mode)  # type: ignore[arg-type]
        return await self.client.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(None, None, None)
        await self.http.__aexit__(None, None, None)


async def bench(url: str, origin: str, server_pid: int, opts: argparse.Namespace) -> None:
    agent = os.environ["BENCH_AGENT"]
    async with _Connected(url, opts.mode) as client:
        listed = await client.call_tool("list_calls", {"limit": 50})
        assert listed.structured_content is not None
        call_ids = [row["id"] for row in listed.structured_content["calls"]]
    lean = opts.client == "lean"

    def calls_to(at: str) -> tuple[Callable[[], Any], Callable[[Any, int], Any]]:
        return lean_calls(at, call_ids) if lean else mcp_calls(at, opts.mode, call_ids)

    plans = {"floor": direct(origin, agent, call_ids), "mcp": calls_to(url), "bare": calls_to(opts.bare_url)}
    async with AsyncExitStack() as stack:
        # Every client connects once, before the clock starts: the figures are those of a steady load.
        sessions = {
            phase: [await stack.enter_async_context(open_one()) for _ in range(opts.clients)]
            for phase, (open_one, _) in plans.items()
        }
        for phase in ("mcp", "bare"):
            await run_clients(sessions[phase], WARMUP_CALLS, plans[phase][1])
        before = rss_kib(server_pid)
        pids = {
            "server": family(server_pid),
            "bare": [opts.bare_pid],
            "sandbox": [opts.sandbox_pid],
            "clients": [os.getpid()],
        }
        cpu = {phase: dict.fromkeys(pids, 0.0) for phase in plans}
        runs: dict[str, tuple[float, list[float], int]] = {phase: (0.0, [], 0) for phase in plans}
        for _ in range(opts.rounds):
            for phase, (_, call) in plans.items():
                start = {name: cpu_seconds(pid) for name, pid in pids.items()}
                seconds, latencies, errors = await run_clients(sessions[phase], opts.calls // opts.rounds, call)
                for name, pid in pids.items():
                    cpu[phase][name] += cpu_seconds(pid) - start[name]
                total = runs[phase]
                runs[phase] = (total[0] + seconds, total[1] + latencies, total[2] + errors)
        after = rss_kib(server_pid)
    floor, mcp, bare = (summary(phase, *runs[phase]) for phase in ("floor", "mcp", "bare"))
    for phase, spent in cpu.items():
        print(f"cpu during {phase}: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in spent.items()))
    per_call = cpu["mcp"]["server"] / len(runs["mcp"][1]) * 1000
    bare_call = cpu["bare"]["bare"] / len(runs["bare"][1]) * 1000
    print(
        f"server CPU per tool call: {per_call:.2f} ms (goal <= 1.5 ms); the bare SDK server sending the same "
        f"requests: {bare_call:.2f} ms; ratio {per_call / bare_call:.2f}"
    )
    growth = (after - before) / before
    print(f"memory: server RSS {before / 1024:.1f} MiB after warm-up, {after / 1024:.1f} MiB after ({growth:+.1%})")
    ratio, spread = mcp["rate"] / floor["rate"], mcp["p99"] / mcp["p50"]
    goal = 0.6 if lean else 0.5
    print(
        f"throughput mcp/floor {ratio:.2f} (goal >= {goal:.2f}), "
        f"bare SDK server/floor {bare['rate'] / floor['rate']:.2f}; "
        f"p99/p50 {spread:.1f} (goal < 5); errors {mcp['errors']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="HTTP benchmark: MCP clients against the direct API floor")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="floor and MCP blocks, alternated")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy", help="protocol era of the SDK client")
    parser.add_argument(
        "--client", choices=["sdk", "lean"], default="sdk", help="mcp.Client, or JSON-RPC over httpx2 (handshake era)"
    )
    parser.add_argument("--stateful", action="store_true", help="serve with sessions (default: --stateless)")
    parser.add_argument("--json-response", action="store_true", help="serve JSON responses instead of SSE")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes of the server")
    opts = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMPE_")}
    sandbox, origin = started([sys.executable, "-c", SANDBOX], env, r"Base URL: (\S+)", "stdout")
    info = httpx2.get(f"{origin}/_sandbox/info").json()
    served = {"BIMPE_BASE_URL": origin, "BIMPE_API_KEY": SandboxKeys().full, "BIMPE_AGENT_ID": info["agents"]["live"]}
    argv = [sys.executable, "-m", "bimpe_mcp", "--transport", "http", "--port", "0"]
    argv += ([] if opts.stateful else ["--stateless"]) + (["--json-response"] if opts.json_response else [])
    argv += ["--workers", str(opts.workers)] if opts.workers > 1 else []
    server, url = started(argv, env | served, r"streamable HTTP on (\S+)", "stderr")
    calls_url = f"{origin}{API_PREFIX}/agents/{info['agents']['live']}/calls"
    shaped = ["1" if opts.json_response else "0", "0" if opts.stateful else "1"]
    bare_argv = [sys.executable, "-c", BARE, calls_url, *shaped]
    bare_env = env | {"BARE_API_KEY": SandboxKeys().full}  # the key in the environment, never on a command line
    bare, bare_origin = started(bare_argv, bare_env, r"serving on (\S+)", "stdout")
    opts.bare_url, opts.bare_pid = f"{bare_origin}/mcp", bare.pid
    os.environ["BENCH_AGENT"] = info["agents"]["live"]
    opts.sandbox_pid = sandbox.pid
    shape = ("stateful" if opts.stateful else "stateless") + (", JSON responses" if opts.json_response else ", SSE")
    era = "handshake era, lean client" if opts.client == "lean" else f"{opts.mode} era, mcp.Client"
    # uvicorn serves both MCP servers on uvloop where it is installed (the `uvloop` extra), else on asyncio's loop.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio's event loop"
    print(f"{opts.clients} clients, {opts.calls} calls in {opts.rounds} rounds, {era}, {shape}, {loop}")
    try:
        anyio.run(bench, url, origin, server.pid, opts)
    finally:
        for proc in (server, bare, sandbox):
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
