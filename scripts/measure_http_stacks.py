"""Measure what the second HTTP stack costs: mcp 2.3 depends on httpx2 (with httpcore2 and truststore), while the
API client uses httpx (with httpcore and certifi). Run it with the interpreter of an installed server:

    .venv/bin/python scripts/measure_http_stacks.py [--runs 7]

It prints the installed size of each stack's own distributions (files listed in their RECORD, bytecode caches
left out) and the import times, each the median of fresh interpreters: the server's start-up (which loads httpx2,
through mcp) and what importing httpx adds at the first API request. docs/distribution.md records the results.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

STACKS = {"httpx": ("httpx", "httpcore", "certifi"), "httpx2": ("httpx2", "httpcore2", "truststore")}
SHARED = ("h11", "idna", "anyio")

STARTUP = """
import sys, time
t = time.perf_counter()
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
build_server(Settings())
print(time.perf_counter() - t, "httpx2" in sys.modules, "httpx" in sys.modules)
"""
FIRST_REQUEST = """
import sys, time
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server
build_server(Settings())
t = time.perf_counter()
import httpx
print(time.perf_counter() - t)
"""


def installed_bytes(name: str) -> int:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return 0
    total = 0
    for file in dist.files or []:
        if "__pycache__" in file.parts:
            continue
        path = Path(str(file.locate()))
        total += path.stat().st_size if path.is_file() else 0
    return total


def timed(code: str, runs: int) -> tuple[float, list[str]]:
    seconds: list[float] = []
    rest: list[str] = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
        seconds.append(float(out[0]))
        rest = out[1:]
    return statistics.median(seconds), rest


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per measurement (default 7)")
    runs = parser.parse_args().runs
    for stack, names in STACKS.items():
        sizes = {name: installed_bytes(name) for name in names}
        parts = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items())
        sys.stdout.write(f"{stack} stack: {sum(sizes.values()) / 1024:.0f} KiB ({parts})\n")
    shared = ", ".join(f"{name} {installed_bytes(name) / 1024:.0f} KiB" for name in SHARED)
    sys.stdout.write(f"shared by both: {shared}\n")
    start, flags = timed(STARTUP, runs)
    sys.stdout.write(
        f"server start-up (import and build): {start * 1000:.0f} ms; httpx2 loaded: {flags[0]}, httpx loaded: "
        f"{flags[1]}\n"
    )
    first, _ = timed(FIRST_REQUEST, runs)
    sys.stdout.write(f"import httpx at the first API request, httpx2 already loaded: {first * 1000:.0f} ms\n")


if __name__ == "__main__":
    main()
