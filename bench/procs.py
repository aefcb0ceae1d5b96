"""What /proc says of a benchmarked process: its descendants, its memory and its CPU time."""

from __future__ import annotations

import os
import re
from pathlib import Path


def family(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's worker processes)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(kid) for kid in children.read_text().split()] if children.exists() else []
    return [pid, *(member for kid in kids for member in family(kid))]


def rss_kib(pid: int) -> int:
    """The resident memory of the process and its descendants, in KiB."""
    total = 0
    for member in family(pid):
        match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{member}/status").read_text())
        total += int(match.group(1)) if match else 0
    return total


def cpu_seconds(members: list[int]) -> float:
    """CPU time (user and system) of these processes so far, in seconds."""
    ticks = 0
    for member in members:
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
