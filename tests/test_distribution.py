"""manifest.json, server.json and the icon against what the package and the server really are."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from bimpe_mcp import __version__
from bimpe_mcp.core.settings import ENV_VARS, Settings
from tests.conftest import ServerFactory
from tests.dist_support import ROOT, node_tool, readme_block

MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
PLACEHOLDER = re.compile(r"\$\{user_config\.([A-Za-z0-9_]+)\}")


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0]


def test_manifest_server_json_and_package_carry_one_version() -> None:
    assert MANIFEST["version"] == __version__
    assert SERVER_JSON["version"] == __version__
    assert [p["version"] for p in SERVER_JSON["packages"]] == [__version__]


@pytest.mark.anyio
async def test_manifest_lists_exactly_the_tools_and_prompts_the_server_serves(make_server: ServerFactory) -> None:
    async with Client(make_server()) as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
    assert MANIFEST["tools"] == [{"name": t.name, "description": first_line(t.description)} for t in tools]
    served = [
        {
            "name": p.name,
            "description": first_line(p.description),
            "arguments": [a.name for a in p.arguments or [] if a.required],
        }
        for p in prompts
    ]
    assert [{k: v for k, v in p.items() if k != "text"} for p in MANIFEST["prompts"]] == served


@pytest.mark.anyio
async def test_each_manifest_prompt_text_filled_in_by_a_host_is_the_servers_own_text(
    make_server: ServerFactory,
) -> None:
    async with Client(make_server()) as client:
        for prompt in MANIFEST["prompts"]:
            values = {name: f"call_{i}x7" for i, name in enumerate(prompt["arguments"])}
            filled = prompt["text"]
            for name, value in values.items():
                filled = filled.replace(f"${{arguments.{name}}}", value)
            got = await client.get_prompt(prompt["name"], values)
            assert [getattr(m.content, "text", None) for m in got.messages] == [filled]
            assert "${" not in filled and "  " not in filled, "no argument the host may leave empty leaves a gap"


def test_the_manifest_is_what_the_sync_script_writes() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_manifest.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr


def test_every_user_config_placeholder_is_defined_and_every_setting_is_used() -> None:
    config = MANIFEST["server"]["mcp_config"]
    used = set(PLACEHOLDER.findall(json.dumps(config)))
    assert used == set(MANIFEST["user_config"])
    assert all(isinstance(v, str) for v in config["env"].values()), "hosts take env values as strings only"


def test_user_config_keys_reach_the_bimpe_variables_of_the_settings_of_the_same_name() -> None:
    env = MANIFEST["server"]["mcp_config"]["env"]
    assert env == {var: f"${{user_config.{ENV_VARS[var]}}}" for var in env}
    assert set(env) == {
        "BIMPE_API_KEY",
        "BIMPE_AGENT_ID",
        "BIMPE_BASE_URL",
        "BIMPE_ALLOW_LIVE_CALLS",
        "BIMPE_READ_ONLY",
        "BIMPE_SANDBOX",
        "BIMPE_SANDBOX_SPEED",
        "BIMPE_ALLOWED_DESTINATIONS",
        "BIMPE_BLOCKED_DESTINATIONS",
        "BIMPE_MAX_LIVE_CALLS_PER_HOUR",
        "BIMPE_MAX_LIVE_CALLS_PER_DAY",
        "BIMPE_QUIET_HOURS",
        "BIMPE_CONFIRM",
        "BIMPE_AUDIT_LOG",
        "BIMPE_REDACT",
    }
    user = MANIFEST["user_config"]
    assert user["api_key"]["sensitive"] is True
    assert not any(spec.get("sensitive") for name, spec in user.items() if name != "api_key")
    defaults = Settings()
    for name, spec in user.items():
        default: object = getattr(defaults, name)
        if "default" in spec and spec["default"] != "":
            assert spec["default"] == default, f"user_config.{name} default matches the server's"
        kind = "boolean" if isinstance(default, bool) else "number" if isinstance(default, float | int) else "string"
        assert spec["type"] == kind, name


def test_a_bundle_user_can_try_the_server_without_a_key() -> None:
    user = MANIFEST["user_config"]
    assert user["api_key"]["required"] is False
    assert not any(spec.get("required") for spec in user.values()), "the sandbox needs nothing filled in"
    assert user["sandbox"]["type"] == "boolean" and user["sandbox"]["default"] is False
    assert user["sandbox_speed"]["min"] > 0 and user["sandbox_speed"]["max"] == 1000


def test_the_python_range_is_stated_the_same_everywhere() -> None:
    script = (ROOT / "scripts" / "build_bundle.py").read_text(encoding="utf-8")
    found = re.search(r"^PYTHONS = \(([^)]*)\)", script, re.MULTILINE)
    assert found
    minors = re.findall(r'"(3\.\d+)"', found.group(1))
    last = int(minors[-1].split(".")[1])
    assert MANIFEST["compatibility"]["runtimes"]["python"] == f">={minors[0]},<3.{last + 1}"
    in_words = f"Python {', '.join(minors[:-1])} and {minors[-1]}"
    for doc in ("README.md", "docs/distribution.md"):
        assert in_words in (ROOT / doc).read_text(encoding="utf-8"), doc
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == f">={minors[0]}"
    listed = [c.rsplit(" :: ", 1)[1] for c in project["classifiers"] if re.fullmatch(r".*Python :: 3\.\d+", c)]
    assert listed == minors
    assert "Python 3.11 or newer" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_manifest_runs_the_bundle_launcher_with_python() -> None:
    server = MANIFEST["server"]
    assert server["type"] == "python" and server["entry_point"] == "server/main.py"
    assert server["mcp_config"]["args"] == ["${__dirname}/server/main.py"]


def test_server_json_describes_the_pypi_package_with_a_secret_key() -> None:
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", SERVER_JSON["name"])
    assert SERVER_JSON["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert 0 < len(SERVER_JSON["description"]) <= 100
    (package,) = SERVER_JSON["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == "bimpe-mcp"
    assert package["transport"] == {"type": "stdio"}
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert set(variables) == set(MANIFEST["server"]["mcp_config"]["env"])
    assert variables["BIMPE_API_KEY"]["isSecret"] is True
    assert not any(v.get("isSecret") for name, v in variables.items() if name != "BIMPE_API_KEY")
    assert not any(v["isRequired"] for v in variables.values()), "BIMPE_SANDBOX works without a key"


def test_the_readme_marks_registry_installs_as_for_after_the_first_release() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in [ln for ln in readme.splitlines() if "pipx install bimpe-mcp" in ln or "uvx bimpe-mcp" in ln]:
        assert "first release" in line, line
    assert f"bimpe_mcp-{__version__}-py3-none-any.whl" in readme_block("install: wheel")


def test_the_run_command_installs_only_what_running_needs_and_ci_finds_the_test_command() -> None:
    run = readme_block("run-command")
    assert "pip install -e . " in run and "[test]" not in run
    test = readme_block("test-command")
    assert test.startswith(".venv/bin/pip install -q -e '.[test]' && ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    extract = re.search(r"test_command=\$\(awk '(.*?)' README\.md\)", ci, re.DOTALL)
    assert extract, ".ci/run extracts the test command with awk"
    awk_exe = shutil.which("awk")
    assert awk_exe, ".ci/run needs awk"
    awk = subprocess.run(
        [awk_exe, extract.group(1), str(ROOT / "README.md")], capture_output=True, text=True, check=True
    )
    assert awk.stdout.strip() == test


def test_the_readme_carries_the_registry_ownership_line_for_server_json() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"<!-- mcp-name: {SERVER_JSON['name']} -->" in readme


def test_the_icon_is_a_512_pixel_png_that_the_script_reproduces(tmp_path: Path) -> None:
    icon = (ROOT / MANIFEST["icon"]).read_bytes()
    assert icon[:8] == b"\x89PNG\r\n\x1a\n" and icon[12:16] == b"IHDR"
    assert struct.unpack(">II", icon[16:24]) == (512, 512)
    out = tmp_path / "icon.png"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_icon.py"), "--out", str(out)], check=True)
    assert out.read_bytes() == icon, "icon.png is what scripts/make_icon.py draws; rerun it after a change"


def test_mcpb_validates_the_manifest() -> None:
    run = subprocess.run(
        [node_tool("mcpb"), "validate", str(ROOT / "manifest.json")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Manifest schema validation passes" in run.stdout
