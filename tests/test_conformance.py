"""The official MCP conformance suite (@modelcontextprotocol/conformance, server mode) against the server over
streamable HTTP: every scenario passes but those in tests/conformance_expected_failures.yml."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.dist_support import node_env, node_tool
from tests.served import HttpServer

EXPECTED_FAILURES = Path(__file__).with_name("conformance_expected_failures.yml")
RESULT_DIR = re.compile(r"^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def expected_failures() -> set[str]:
    listed = re.findall(r"^\s*-\s*([\w-]+)", EXPECTED_FAILURES.read_text(encoding="utf-8"), re.MULTILINE)
    return set(listed)


def outcomes(results: Path) -> dict[str, bool]:
    """Each scenario the suite ran, and whether every one of its checks passed (warnings and notes count as no
    failure)."""
    ran: dict[str, bool] = {}
    for folder in results.iterdir():
        found = RESULT_DIR.match(folder.name)
        assert found, folder.name
        checks = json.loads((folder / "checks.json").read_text(encoding="utf-8"))
        ran[found.group(1)] = all(check["status"] != "FAILURE" for check in checks)
    return ran


def test_the_server_passes_every_conformance_scenario_that_needs_no_fixture_of_the_suite(tmp_path: Path) -> None:
    node, suite = node_tool("node"), node_tool("conformance")
    results = tmp_path / "results"
    server = HttpServer({}, "--sandbox")
    options = ["--expected-failures", str(EXPECTED_FAILURES), "--output-dir", str(results)]
    try:
        run = subprocess.run(
            [node, suite, "server", "--url", server.url, *options],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=node_env(HOME=str(tmp_path)),
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
    finally:
        server.stop()
    summary = run.stdout[run.stdout.find("=== SUMMARY ===") :]
    assert run.returncode == 0, summary + run.stderr[-3000:]
    ran = outcomes(results)
    assert {"server-initialize", "tools-list", "tools-call-error", "ping"} <= set(ran), summary
    assert {name for name, passed in ran.items() if not passed} == expected_failures(), summary
