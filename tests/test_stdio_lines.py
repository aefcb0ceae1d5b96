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


def request(id_: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params})


async def test_params_of_the_wrong_shape_are_answered_naming_each_field_and_never_a_key(tmp_path: Path) -> None:
    """The SDK answers such a request -32602 "Invalid request parameters" and nothing more; each wrong field is named
    here, with what it must be. A key the client chose is repeated only when short and not shaped like a secret."""
    chosen = {"sk_live_0123456789abcdef": 1, "line\u2028break": 2, "my key": 3, "plain": 4, "more": 5}
    completion = {"ref": {"type": "ref/prompt", "name": "summarize_call"}, "argument": {"name": "call_id", "value": ""}}
    lines = [json.dumps(INITIALIZE), '{"jsonrpc":"2.0","method":"notifications/initialized"}']
    lines += [
        request(2, "tools/call", {"name": "list_calls", "arguments": [1, 2]}),
        request(3, "tools/call", {"arguments": {}}),
        request(4, "resources/read", {"uri": 5}),
        request(5, "completion/complete", completion | {"context": {"arguments": chosen}}),
        json.dumps(PING | {"id": 6}),
    ]
    seen, logs = await exchange(tmp_path, lines, 6)
    said = {m["id"]: m["error"] for m in seen if "error" in m}
    assert {e["code"] for e in said.values()} == {-32602} and sorted(said) == [2, 3, 4, 5], seen
    assert said[2]["message"] == "Invalid request parameters: params.arguments: Input should be a valid dictionary"
    assert said[3]["message"] == "Invalid request parameters: params.name: Field required"
    assert said[4]["message"] == "Invalid request parameters: params.uri: Input should be a valid string"
    assert said[4]["data"] == {"problems": ["params.uri: Input should be a valid string"]}
    arguments = "params.context.arguments"
    assert said[5]["data"]["problems"] == [
        f"{arguments}[a key of 24 characters]: Input should be a valid string",
        f"{arguments}[a key of 10 characters]: Input should be a valid string",
        f"{arguments}['my key']: Input should be a valid string",
    ]
    assert said[5]["message"].endswith(f"{arguments}['my key']: Input should be a valid string; and 2 more")
    assert "sk_live" not in json.dumps(seen) and "\u2028" not in json.dumps(seen, ensure_ascii=False)
    assert seen[-1] == {"jsonrpc": "2.0", "id": 6, "result": {}}
    assert "Traceback" not in logs
