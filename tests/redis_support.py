"""A real Redis for the tests of state shared by replicas: Debian's redis-server (which .ci/run installs) on a
loopback port the test picks, keeping nothing on disk. Missing, the test skips locally but fails under CI."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.served import Served


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Generator[str]:
    """A redis-server on a free loopback port; yields its URL (database 0)."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (run .ci/run, which installs Debian's redis-server)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    served = Served([*argv, "--dir", str(folder)], {}, read="stdout")
    try:
        served.wait_for(r"Ready to accept connections")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        served.stop()
