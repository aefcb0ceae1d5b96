"""The command a client runs to start this server, as an absolute path that survives the shell it was found in."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse


def install_origin() -> str | None:
    """The local folder or wheel this package was installed from (PEP 610 direct_url.json), if any."""
    try:
        raw = metadata.distribution("bimpe-mcp").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    url = urlparse(str(json.loads(raw).get("url", ""))) if raw else None
    if url is None or url.scheme != "file":
        return None
    return unquote(url.path)


def launch_command(
    executable: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    origin: Callable[[], str | None] = install_origin,
) -> list[str]:
    """The absolute command a client should run: this interpreter's console script, else `python -m bimpe_mcp`."""
    python = os.path.abspath(executable or sys.executable)
    bindir = Path(python).parent
    if any(part.startswith("archive-v") for part in bindir.parts):
        # uvx runs from a cache folder that uv may clean at any time: point the client at uvx itself, and at the
        # folder or wheel it installed from (there is no release to fetch by name yet).
        uvx = which("uvx")
        if uvx:
            source = origin()
            return [os.path.abspath(uvx), *(["--from", source] if source else []), "bimpe-mcp"]
    script = bindir / ("bimpe-mcp.exe" if os.name == "nt" else "bimpe-mcp")
    if script.is_file():
        return [str(script)]
    return [python, "-m", "bimpe_mcp"]
