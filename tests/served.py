"""Servers the client tests start as subprocesses: the standalone sandbox and `bimpe-mcp --transport http`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from typing import Any

import httpx2

from tests.dist_support import console_script
from tests.support import assert_no_secret, child_env

STARTUP_SECONDS = 120.0


class Served:
    """A subprocess whose output lines a thread collects, so that a test can wait for a line (bounded) without
    the pipe ever filling up; on stop, nothing it wrote may hold an API key."""

    def __init__(self, argv: list[str], env: dict[str, str], *, read: str, keys_expected: bool = False) -> None:
        self.keys_expected = keys_expected
        out = subprocess.PIPE if read == "stdout" else subprocess.DEVNULL
        err = subprocess.PIPE if read == "stderr" else subprocess.DEVNULL
        # Settings come only from `env`: none of the developer's own BIMPE_* variables.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("BIMPE_")}
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True, env=inherited | env
        )
        stream = self.proc.stdout if read == "stdout" else self.proc.stderr
        assert stream is not None
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, pattern: str) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found[:] = [m for m in (re.search(pattern, line) for line in self.lines) if m][:1]
            return bool(found) or self._closed

        with self._changed:
            self._changed.wait_for(seen, timeout=STARTUP_SECONDS)
        assert found, f"no line matching {pattern!r}: {''.join(self.lines)}"
        return found[0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        if not self.keys_expected:
            assert_no_secret("".join(self.lines))


class StandaloneSandbox:
    """`bimpe-mcp sandbox` on a free loopback port; faults are set through its control route."""

    def __init__(self) -> None:
        # Its banner lists the public demo keys.
        argv = [console_script(), "sandbox", "--port", "0"]
        self.served = Served(argv, child_env(), read="stdout", keys_expected=True)
        self.origin = self.served.wait_for(r"Base URL: (http://127\.0\.0\.1:\d+)").group(1)
        self.served.wait_for(r"other_team")
        self.control = self.origin + "/_sandbox"
        info: dict[str, Any] = httpx2.get(self.control + "/info").json()
        self.keys: dict[str, str] = info["keys"]
        self.agents: dict[str, str] = info["agents"]

    def set_fault(self, fault: dict[str, Any] | None) -> None:
        """Clear every fault, then set this one (if any)."""
        httpx2.delete(self.control + "/faults").raise_for_status()
        if fault is not None:
            httpx2.post(self.control + "/faults", json=fault).raise_for_status()

    def stop(self) -> None:
        self.served.stop()


class HttpServer:
    """`bimpe-mcp --transport http` on a free loopback port, configured by environment variables; `args` may add
    any other option (--path, --auth, --stateless, --workers...)."""

    def __init__(self, env: dict[str, str], *args: str, log_level: str = "INFO") -> None:
        argv = [console_script(), *args, "--transport", "http", "--port", "0", "--log-level", log_level]
        self.served = Served(argv, child_env(**env), read="stderr")
        found = self.served.wait_for(r"streamable HTTP on ((http://127\.0\.0\.1:\d+)/\S*) \(Ctrl\+C")
        self.url, self.origin = found.group(1), found.group(2)

    def log(self) -> str:
        """What the server wrote on stderr so far."""
        return "".join(self.served.lines)

    def stop(self) -> None:
        self.served.stop()
