"""Write the tools and prompts of manifest.json from what the server serves, the bundle's environment and the
README's settings table from the settings' declarations, and the tools' stored schemas from their signatures, so that
none of them drifts apart.

    python scripts/sync_manifest.py           # rewrite manifest.json, the README's table and the stored schemas
    python scripts/sync_manifest.py --check   # exit 1, naming what differs, when any is stale

The server lists each tool with the schemas stored in bimpe_mcp/tools/schemas.json, and builds the SDK's Tool (its
argument model, and the same schemas) on the tool's first call: the file is what that build makes.

The bundle passes each `user_config` entry to the server as the BIMPE_* variable of the setting of the same name.
The README's table, between its settings:begin and settings:end markers, has a row per setting; a per-day limit
shares the row of its per-hour twin when the two say the same.

A bundle's prompt text is a template with ${arguments.NAME} placeholders and no conditionals, so it is the server's
own prompt text with each required argument as a placeholder and each optional argument at its default: an
argument the host leaves empty can never leave a gap in the sentence. The manifest lists the arguments its text
uses, the required ones.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import TextContent

from bimpe_mcp.core.settings import SETTINGS, Settings, env_text
from bimpe_mcp.server.build import build_server
from bimpe_mcp.tools import TOOLS
from bimpe_mcp.tools.runtime import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifest.json"
README = ROOT / "README.md"
TABLE = re.compile(r"(<!-- settings:begin -->\n)(.*?)\n?(<!-- settings:end -->)", re.DOTALL)
HEADER = ["| variable | flag | default | meaning |", "| --- | --- | --- | --- |"]


def first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0]


async def served() -> dict[str, list[dict[str, Any]]]:
    """The manifest's `tools` and `prompts`, as the server serves them."""
    async with Client(build_server(Settings())) as client:
        tools = [{"name": t.name, "description": first_line(t.description)} for t in (await client.list_tools()).tools]
        prompts: list[dict[str, Any]] = []
        for prompt in (await client.list_prompts()).prompts:
            required = [a.name for a in prompt.arguments or [] if a.required]
            # A stand-in that passes the server's own checks of an id, replaced by the placeholder afterwards.
            stand_in = {name: f"ARGUMENT-{name}" for name in required}
            got = await client.get_prompt(prompt.name, stand_in)
            text = "\n\n".join(m.content.text for m in got.messages if isinstance(m.content, TextContent))
            for name, value in stand_in.items():
                text = text.replace(value, f"${{arguments.{name}}}")
            entry = {"name": prompt.name, "description": first_line(prompt.description), "arguments": required}
            prompts.append({**entry, "text": text})
    return {"tools": tools, "prompts": prompts}


def default_words(field: str) -> str:
    """A setting's default as the README writes it: the value as its variable takes it, or the words of no value."""
    value: object = Settings.model_fields[field].default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else env_text(value)
    return f"`{text}`" if text else SETTINGS[field].unset


def settings_table() -> str:
    """The README's table of the settings: variable, flag, default and meaning, in the order of the fields."""
    rows: list[list[str]] = []
    for field, setting in SETTINGS.items():
        row = [f"`{setting.env}`", f"`{setting.flag}`" if setting.flag else "(none)", default_words(field), setting.doc]
        twin = f"`{setting.env.removesuffix('_PER_DAY')}_PER_HOUR`"
        if rows and setting.env.endswith("_PER_DAY") and rows[-1][0] == twin and rows[-1][2:] == row[2:]:
            rows[-1][:2] = [f"{twin}, `_PER_DAY`", f"{rows[-1][1]}, `-per-day`"]
            continue
        rows.append(row)
    return "\n".join([*HEADER, *(f"| {' | '.join(row)} |" for row in rows)])


def bundle_env(user_config: dict[str, Any]) -> dict[str, str]:
    """The bundle's server environment: each `user_config` entry as its setting's BIMPE_* variable."""
    unknown = [name for name in user_config if name not in SETTINGS]
    if unknown:
        raise SystemExit(f"manifest.json: user_config {', '.join(unknown)} is no setting of the server")
    return {setting.env: f"${{user_config.{field}}}" for field, setting in SETTINGS.items() if field in user_config}


def with_table(readme: str) -> str:
    if not TABLE.search(readme):
        raise SystemExit("README.md lacks the settings:begin and settings:end markers")
    return TABLE.sub(lambda m: m.group(1) + settings_table() + "\n" + m.group(3), readme)


def schemas_text() -> str:
    """The stored schemas file: each tool's published schemas, by name, as the SDK and the tool's signature build
    them."""
    return json.dumps({declared.name: declared.schemas() for declared in TOOLS}, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    opts = parser.parse_args()
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    fresh = anyio.run(served)
    stale = [key for key, value in fresh.items() if manifest.get(key) != value]
    config: dict[str, Any] = manifest["server"]["mcp_config"]
    env = bundle_env(manifest["user_config"])
    stale += ["server.mcp_config.env"] if config.get("env") != env else []
    readme = README.read_text(encoding="utf-8")
    fresh_readme = with_table(readme)
    schemas = schemas_text()
    stored = SCHEMAS.read_text(encoding="utf-8") if SCHEMAS.exists() else ""
    if opts.check:
        if schemas != stored:
            sys.stderr.write(f"{SCHEMAS.name}: the stored schemas differ from what the tools build; run {__file__}\n")
        if stale:
            sys.stderr.write(f"manifest.json: {' and '.join(stale)} differ from the server's; run {__file__}\n")
        if fresh_readme != readme:
            sys.stderr.write(f"README.md: the settings table differs from the settings' declarations; run {__file__}\n")
        return 1 if stale or fresh_readme != readme or schemas != stored else 0
    manifest.update(fresh)
    if config.get("env") != env:
        config["env"] = env
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    README.write_text(fresh_readme, encoding="utf-8")
    SCHEMAS.write_text(schemas, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
