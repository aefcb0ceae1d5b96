"""The command a client runs to start this server, as an absolute path that survives the shell it was found in."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
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


UVX_PLACEHOLDER = "/absolute/path/to/uvx"
"""The command printed when this server runs from uv's cache and no uvx can be found: never the cache itself."""
# Where uv's installers put uv and uvx when they are not on PATH (the standalone installer, cargo, Homebrew).
UV_HOMES = ("~/.local/bin", "~/.cargo/bin", "/opt/homebrew/bin", "/usr/local/bin")


def launch_command(
    executable: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
    origin: Callable[[], str | None] = install_origin,
    environ: Mapping[str, str] = os.environ,
    homes: Sequence[str] = UV_HOMES,
) -> list[str]:
    """The absolute command a client should run: this interpreter's console script, else `python -m bimpe_mcp`;
    run from uv's cache (uvx), uvx itself."""
    python = os.path.abspath(executable or sys.executable)
    bindir = Path(python).parent
    if any(part.startswith("archive-v") for part in bindir.parts):
        return through_uv(which, origin, environ, homes)
    script = bindir / ("bimpe-mcp.exe" if os.name == "nt" else "bimpe-mcp")
    if script.is_file():
        return [str(script)]
    return [python, "-m", "bimpe_mcp"]


def through_uv(
    which: Callable[[str], str | None],
    origin: Callable[[], str | None],
    environ: Mapping[str, str],
    homes: Sequence[str],
) -> list[str]:
    """uvx, with the folder or wheel it installed from (there is no release to fetch by name yet): uv may clean its
    cache at any time, so the cache is never the command. uvx is looked for on PATH, beside the uv that started this
    process (uv names itself in UV), and where uv's installers put it; failing those, `uv tool run` (the same as
    uvx) through that uv; failing that, a placeholder the doctor tells the user to replace."""
    source = origin()
    tail = [*(["--from", source] if source else []), "bimpe-mcp"]
    uv = environ.get("UV", "")
    beside = [str(Path(uv).parent)] if uv else []
    found = which("uvx") or next(
        (str(p) for p in (Path(d).expanduser() / "uvx" for d in (*beside, *homes)) if _runnable(p)), None
    )
    if found:
        return [os.path.abspath(found), *tail]
    if uv and _runnable(Path(uv)):
        return [os.path.abspath(uv), "tool", "run", *tail]
    return [UVX_PLACEHOLDER, *tail]


def _runnable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
