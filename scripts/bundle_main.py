"""Entry point of the .mcpb bundle (server/main.py there): put the libraries vendored for this Python first on
sys.path, then run the server with the arguments the host passed."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    build = json.loads((HERE / "build.json").read_text(encoding="utf-8"))
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running not in build["pythons"]:
        sys.stderr.write(
            f"bimpe-mcp: this bundle carries libraries for Python {', '.join(build['pythons'])} on "
            f"{build['platform']}, but the host started Python {platform.python_version()} ({sys.executable}). "
            "Install one of those Python versions, or install the server with `pipx install bimpe-mcp` and give "
            "the client the absolute path `bimpe-mcp doctor` prints.\n"
        )
        return 1
    tag = "cp" + running.replace(".", "")
    sys.path[:0] = [str(HERE / "lib" / tag), str(HERE / "lib" / "common")]
    # A host may pass an optional setting the user left empty as its unsubstituted placeholder.
    for var in [v for v, value in os.environ.items() if v.startswith("BIMPE_") and value.startswith("${")]:
        del os.environ[var]
    try:
        from bimpe_mcp.cli import main as serve
    except ImportError as exc:
        sys.stderr.write(
            f"bimpe-mcp: the bundled libraries do not load ({exc}). This bundle was built for {build['platform']}; "
            f"this machine is {sys.platform}-{platform.machine().lower()}. Install the bundle built for it.\n"
        )
        return 1
    return serve()


if __name__ == "__main__":
    raise SystemExit(main())
