"""Over stdio, a line the server cannot read is answered (or, when it may not be, logged once) and the server goes on
serving: written as raw bytes to a real `bimpe-mcp --sandbox` process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
import pytest

from tests.dist_support import console_script
from tests.support import INITIALIZE, child_env

pytestmark = pytest.mark.anyio

SURROGATE = (
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_calls","arguments":{"search":"\\ud800"}}}'
)
HUGE = '{"jsonrpc":"2.0","id":"huge","method":"tools/call","params":{"name":"list_calls","arguments":{"limit":%s}}}' % (
    "9" * 5000
)
NOT_JSON = "this is not json"
NOTIFICATION = '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"\\udfff"}}'
BAD_LEVEL = {"jsonrpc": "2.0", "id": 4, "method": "logging/setLevel", "params": {"level": "banana"}}
PING = {"jsonrpc": "2.0", "id": 5, "method": "ping"}


async def answers_until(stdout: IO[bytes], last_id: object) -> list[dict[str, Any]]:
    """The server's messages up to the answer to `last_id` (bounded by a deadline, never a sleep)."""
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(60):
        while not seen or seen[-1].get("id") != last_id:
            line = await anyio.to_thread.run_sync(stdout.readline)
            assert line, f"stdout closed after {seen}"
            seen.append(json.loads(line))
    return seen


async def exchange(tmp_path: Path, lines: list[str], last_id: object) -> tuple[list[dict[str, Any]], str]:
    """Write `lines` to a fresh `bimpe-mcp --sandbox`; its messages up to the answer to `last_id`, and its stderr."""
    with (tmp_path / "stderr.txt").open("w+") as errors:
        proc = subprocess.Popen(  # noqa: ASYNC220 - a quick spawn; reads below go through a worker thread
            [console_script(), "--sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, **child_env()},
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write("".join(line + "\n" for line in lines).encode())
            proc.stdin.flush()
            seen = await answers_until(proc.stdout, last_id)
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()
        errors.seek(0)
        return seen, errors.read()


async def test_unreadable_lines_are_answered_and_the_next_request_still_is(tmp_path: Path) -> None:
    lines = [json.dumps(INITIALIZE), '{"jsonrpc":"2.0","method":"notifications/initialized"}', SURROGATE, HUGE]
    lines += [NOT_JSON, NOTIFICATION, json.dumps(BAD_LEVEL), json.dumps(PING)]
    seen, logs = await exchange(tmp_path, lines, 5)
    by_id = {json.dumps(m.get("id")): m for m in seen}
    assert by_id["1"]["result"]["capabilities"]["logging"] == {}
    assert by_id["2"]["error"]["code"] == -32700 and "Parse error" in by_id["2"]["error"]["message"]
    assert by_id['"huge"']["error"]["code"] == -32700
    assert by_id["null"]["error"]["code"] == -32700, "a line that is not JSON at all is answered with id null"
    assert by_id["4"]["error"]["code"] == -32602, "an unknown log level is invalid params"
    assert by_id["5"]["result"] == {}
    assert len(seen) == 6, "nothing answers the unreadable notification"
    dropped = [line for line in logs.splitlines() if "unreadable notification" in line]
    assert len(dropped) == 1 and "WARNING" in dropped[0]
    assert "Traceback" not in logs


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_json_nested_to_any_depth_is_a_parse_error_and_the_server_goes_on(tmp_path: Path) -> None:
    deep_request = '{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"list_calls","arguments":%s}}'
    lines = [json.dumps(INITIALIZE), '{"jsonrpc":"2.0","method":"notifications/initialized"}']
    lines += [nested(1_000), nested(1_000_000), deep_request % nested(500), deep_request % nested(100_000)]
    lines += [json.dumps(PING)]
    seen, logs = await exchange(tmp_path, lines, 5)
    errors = [m for m in seen if "error" in m]
    assert [m["id"] for m in errors] == [None, None, "deep", None], seen
    assert all(m["error"]["code"] == -32700 and "Parse error" in m["error"]["message"] for m in errors), errors
    assert seen[-1] == {"jsonrpc": "2.0", "id": 5, "result": {}}
    assert "Traceback" not in logs and "RecursionError" not in logs, logs
