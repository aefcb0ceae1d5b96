"""Write the tools and prompts of manifest.json from what the server serves, so the two never drift apart.

    python scripts/sync_manifest.py           # rewrite manifest.json
    python scripts/sync_manifest.py --check   # exit 1, naming what differs, when manifest.json is stale

A bundle's prompt text is a template with ${arguments.NAME} placeholders and no conditionals, so it is the server's
own prompt text with each required argument as a placeholder and each optional argument at its default: an
argument the host leaves empty can never leave a gap in the sentence. The manifest lists the arguments its text
uses, the required ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import TextContent

from bimpe_mcp.core.settings import Settings
from bimpe_mcp.server.build import build_server

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.json"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether manifest.json is up to date")
    opts = parser.parse_args()
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    fresh = anyio.run(served)
    stale = [key for key, value in fresh.items() if manifest.get(key) != value]
    if opts.check:
        if stale:
            sys.stderr.write(f"manifest.json: {' and '.join(stale)} differ from the server's; run {__file__}\n")
            return 1
        return 0
    manifest.update(fresh)
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
