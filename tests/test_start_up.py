"""What start-up loads: a fresh interpreter builds the server and answers `tools/list` without the phone-number
geocoder, a second HTTP stack, the retry machinery, the sandbox's request handlers or any tool's argument model (tools
are listed from their stored schemas), and a confirmation preview names the number's country without loading the
geocoder either. The names come from a table (bimpe_mcp/policy/country_names.py), which must say what
the geocoder says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

from bimpe_mcp.policy.numbers import country_name

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter, so that nothing the test session imported counts.
PROBE = """
import json, sys
import anyio
from mcp import Client
from pydantic import SecretStr
from bimpe_mcp.cli import main as cli  # what the command loads before it serves, too
from bimpe_mcp.core.settings import Settings
from bimpe_mcp.sandbox import Sandbox, SandboxConfig
from bimpe_mcp.server.build import build_server
from bimpe_mcp.server.log_setup import configure_logging
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase

HEAVY = ("phonenumbers.geocoder", "phonenumbers.geodata", "httpx", "httpcore", "aiohttp", "httpx_aiohttp")
# Loaded with the API client, on the first request: never at start-up.
RETRIES = ("stamina", "tenacity")
# Loaded where a number is first read, statistics first counted or a mistyped word corrected: never at start-up.
FIRST_USE = ("phonenumbers", "statistics", "difflib")
# The sandbox's app and request pipeline: built on its first request.
SANDBOX_APP = ("bimpe_mcp.sandbox.app", "bimpe_mcp.sandbox.pipeline", "bimpe_mcp.sandbox.handlers")

# The tools' argument models built so far: the SDK names each `<tool>Arguments`.
def argument_models(tools):
    found, todo = set(), [ArgModelBase]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            found.add(sub.__name__)
    return sorted(name for name in found if name.removesuffix("Arguments") in tools)

def loaded(names=HEAVY):
    return [name for name in names if name in sys.modules]

async def main():
    configure_logging("WARNING")
    box = Sandbox(SandboxConfig(seed=7, speed=0.0))
    settings = Settings(
        api_key=SecretStr(box.keys.full), base_url=box.origin, agent_id=box.agents.live, allow_live_calls=True,
        quiet_hours=None, confirm="token",
    )
    async with Client(build_server(settings, transport=box.transport())) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        at_start = loaded(HEAVY + RETRIES + FIRST_USE + SANDBOX_APP)
        models_at_start = argument_models(tools)
        preview = await client.call_tool("place_call", {"destination": sys.argv[1], "is_test_call": False})
    shown = "".join(getattr(block, "text", "") for block in preview.content)
    print(json.dumps({"tools": tools, "at_start": at_start, "after_preview": loaded(), "text": shown,
                      "models_at_start": models_at_start, "models_after": argument_models(tools)}))

anyio.run(main)
"""


def probe(destination: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, destination], capture_output=True, text=True, timeout=60, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_start_up_and_the_first_preview_load_neither_the_geocoder_nor_a_second_http_stack() -> None:
    seen = probe("+2348031234567")
    assert "place_call" in seen["tools"]
    assert seen["at_start"] == []
    assert seen["after_preview"] == []
    assert seen["models_at_start"] == [], "tools/list is answered from the stored schemas"
    assert seen["models_after"] == ["place_callArguments"], "a tool's model is built on its first call, alone"
    assert "+234 803 123 4567 (Nigeria) from agent " in str(seen["text"])
    assert "confirmation_token" in str(seen["text"])


def example_numbers() -> list[phonenumbers.PhoneNumber]:
    """Each region's example numbers of the common kinds, and a number of its country code valid nowhere."""
    kinds = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP)
    found: list[phonenumbers.PhoneNumber] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        found += [n for n in (phonenumbers.example_number_for_type(region, kind) for kind in kinds) if n is not None]
        found.append(phonenumbers.parse(f"+{phonenumbers.country_code_for_region(region)}1111", None))
    return found


def test_every_country_is_named_as_the_geocoder_names_it() -> None:
    numbers = example_numbers()
    assert len(numbers) > 800
    named = [(phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164), country_name(n)) for n in numbers]
    expected = [(e164, geocoder.country_name_for_number(n, "en")) for (e164, _), n in zip(named, numbers, strict=True)]
    assert named == expected
    assert ("+12015550123", "United States") in named and ("+441212345678", "United Kingdom") in named


def test_the_committed_table_is_the_one_the_script_writes() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/make_country_names.py", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
