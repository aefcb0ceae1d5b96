"""Server benchmarks, measured side by side in one run; prints ratios (no pass/fail: machines here are noisy).

- cold start: spawn to `tools/list` answered, bimpe-mcp against a bare mcp server with one tool (goal <= 1.10), and
  the CPU time each spent until then (the same comparison, less shaken by other work on the machine)
- idle memory: RSS after `tools/list`, same pair (goal <= 1.15)
- compact text: characters of a 100-call page's text against the raw API JSON of that page (goal <= 0.40)
- tools/list size: characters per tool with outputSchema included (goal < 1,500)
- first confirmation preview: a fresh server's first place_call preview against its second, and its RSS after both
  (country names and time zones come without loading libphonenumber's geocoder)

Run: python bench/bench_server.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
import httpx2
from mcp import Client
from procs import cpu_seconds, rss_kib
from pydantic import SecretStr

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from bimpe_mcp.server.log_setup import configure_logging

BARE_SERVER = textwrap.dedent(
    """
    from mcp.server.mcpserver import MCPServer

    mcp = MCPServer("bare")

    @mcp.tool()
    def echo(text: str) -> str:
        \"\"\"Echo the text.\"\"\"
        return text

    mcp.run()
    """
)

HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


# Two numbers of different countries: the second preview shows what a preview costs once everything is loaded.
PREVIEWED = ("+447400900123", "+2348031234567")


def spawn_once(argv: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Seconds from spawn to the tools/list answer, the RSS right after it, and the CPU seconds spent until then."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in HANDSHAKE))
    proc.stdin.flush()
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{argv} exited before answering tools/list")
        message = json.loads(line)
        if message.get("id") == 2:
            break
    elapsed = time.perf_counter() - start
    rss, cpu = rss_kib(proc.pid), cpu_seconds([proc.pid])
    proc.stdin.close()
    proc.wait(timeout=10)
    return elapsed, rss, cpu


def previews_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Seconds to answer a fresh server's first place_call preview and its second, and the RSS after them."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def ask(message: Mapping[str, object]) -> float:
        start = time.perf_counter()
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        while True:
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"{argv} exited before answering {message['id']}")
            if json.loads(line).get("id") == message["id"]:
                return time.perf_counter() - start

    for message in HANDSHAKE[:2]:
        stdin.write(json.dumps(message) + "\n")
    ask(HANDSHAKE[2])
    seconds = [
        ask(
            {
                "jsonrpc": "2.0",
                "id": 3 + n,
                "method": "tools/call",
                "params": {"name": "place_call", "arguments": {"destination": number}},
            }
        )
        for n, number in enumerate(PREVIEWED)
    ]
    rss = rss_kib(proc.pid)
    stdin.close()
    proc.wait(timeout=10)
    return seconds[0], seconds[1], rss


async def text_ratio() -> tuple[int, int]:
    box = Sandbox(SandboxConfig(speed=0.0))
    async with httpx2.AsyncClient(transport=box.transport(), base_url=box.origin) as http:
        raw = await http.get(
            f"/api/v1/console/agents/{box.agents.live}/calls",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {box.keys.full}"},
        )
    settings = Settings(api_key=SecretStr(box.keys.full), base_url=box.origin, agent_id=box.agents.live)
    async with Client(build_server(settings, transport=box.transport())) as client:
        result = await client.call_tool("list_calls", {"limit": 100})
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert result.structured_content is not None and len(result.structured_content["calls"]) == 100
    return len(text), len(raw.text)


async def tools_size() -> list[tuple[str, int]]:
    async with Client(build_server(Settings())) as client:
        tools = (await client.list_tools()).tools
    return [
        (t.name, len(json.dumps(t.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":"))))
        for t in tools
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    configure_logging("WARNING")  # as the server logs: the in-process servers below print no request lines
    exe = str(Path(sys.executable).parent / "bimpe-mcp")
    # PYTHONDONTWRITEBYTECODE would leave this checkout's modules without .pyc files, so that every spawn compiled
    # them from source while the SDK's come compiled from its wheel: an installed server has its bytecode.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMPE_") and k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare_server.py"
        bare.write_text(BARE_SERVER)
        subjects = {
            "bare mcp server": [sys.executable, str(bare)],
            "bimpe-mcp --sandbox": [exe, "--sandbox"],
            "bimpe-mcp (API key)": [exe],
        }
        env_for = {name: dict(env) for name in subjects}
        env_for["bimpe-mcp (API key)"]["BIMPE_API_KEY"] = "sk_bench_not_used"
        for name, argv in subjects.items():  # warm the .pyc caches once
            spawn_once(argv, env_for[name])
        times: dict[str, list[float]] = {n: [] for n in subjects}
        rss: dict[str, list[int]] = {n: [] for n in subjects}
        cpu: dict[str, list[float]] = {n: [] for n in subjects}
        for _ in range(runs):  # interleaved, so drift on a shared machine hits every subject alike
            for name, argv in subjects.items():
                t, r, c = spawn_once(argv, env_for[name])
                times[name].append(t)
                rss[name].append(r)
                cpu[name].append(c)
    base_t = statistics.median(times["bare mcp server"])
    base_r = statistics.median(rss["bare mcp server"])
    print(f"cold start, spawn to tools/list answered (median of {runs}, interleaved):")
    for name in subjects:
        t = statistics.median(times[name])
        print(f"  {name:22s} {t * 1000:7.0f} ms   ratio {t / base_t:.3f}")
    base_c = statistics.mean(cpu["bare mcp server"])
    print(f"CPU spent until tools/list answered (mean of {runs}, clock ticks of 10 ms):")
    for name in subjects:
        c = statistics.mean(cpu[name])
        print(f"  {name:22s} {c * 1000:7.0f} ms   ratio {c / base_c:.3f}")
    print("idle memory, RSS after tools/list (median):")
    for name in subjects:
        r = statistics.median(rss[name])
        print(f"  {name:22s} {r / 1024:7.1f} MiB  ratio {r / base_r:.3f}")
    preview_env = env | {"BIMPE_CONFIRM_TEST_CALLS": "true"}
    firsts: list[float] = []
    seconds: list[float] = []
    after: list[int] = []
    for _ in range(runs):
        first, second, rss_after = previews_once([exe, "--sandbox"], preview_env)
        firsts.append(first)
        seconds.append(second)
        after.append(rss_after)
    print(
        f"first confirmation preview of a fresh server (median of {runs}): {statistics.median(firsts) * 1000:.1f} ms, "
        f"second {statistics.median(seconds) * 1000:.1f} ms; RSS after them {statistics.median(after) / 1024:.1f} MiB"
    )
    text_chars, raw_chars = anyio.run(text_ratio)
    ratio = text_chars / raw_chars
    print(f"compact text of a 100-call page: {text_chars} chars, raw API JSON {raw_chars}: ratio {ratio:.3f}")
    sizes = anyio.run(tools_size)
    average = sum(n for _, n in sizes) / len(sizes)
    print(f"tools/list: {len(sizes)} tools, {average:.0f} characters per tool on average (outputSchema included)")
    for name, n in sizes:
        print(f"  {name:16s} {n}")


if __name__ == "__main__":
    main()
