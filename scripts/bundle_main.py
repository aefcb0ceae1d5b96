"""Entry point of the .mcpb bundle (server/main.py there): put the libraries vendored for this Python first on
sys.path, then run the server with the arguments the host passed.

The host starts whichever `python3` (`python` on Windows) it finds on its own PATH, which on a Mac is often Apple's
older /usr/bin/python3. When that Python is not one the bundle carries libraries for, this launcher looks for one
that is (python3.X on PATH and in the usual install folders, or the `py` launcher on Windows) and runs itself
again with it. Kept to Python 3.8 syntax, so that even an old interpreter gets this far.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRUE = {"1", "true", "yes", "on"}


def running() -> str:
    return "{}.{}".format(*sys.version_info[:2])


def search_dirs(minor: str) -> list[str]:
    """PATH first, then where the python.org, Homebrew, uv and distribution installers put interpreters."""
    home = Path.home()
    extra = [
        f"/Library/Frameworks/Python.framework/Versions/{minor}/bin",
        "/opt/homebrew/bin",
        "/usr/local/bin",
        "/usr/bin",
        str(home / ".local" / "bin"),
    ]
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA", str(home / "AppData" / "Local"))
        extra = [str(Path(local) / "Programs" / "Python" / f"Python{minor.replace('.', '')}")]
    return [*os.environ.get("PATH", "").split(os.pathsep), *extra]


def version_of(command: list[str]) -> str | None:
    try:
        run = subprocess.run(
            [*command, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def find_python(minors: list[str]) -> list[str] | None:
    """A command that starts one of `minors` (newest first), checked by asking the interpreter itself."""
    for minor in sorted(minors, key=lambda m: int(m.split(".")[1]), reverse=True):
        candidates: list[list[str]] = []
        if sys.platform == "win32" and shutil.which("py"):
            candidates.append([str(shutil.which("py")), f"-{minor}"])
        name = "python.exe" if sys.platform == "win32" else f"python{minor}"
        for folder in search_dirs(minor):
            path = shutil.which(name, path=folder) if folder else None
            if path:
                candidates.append([path])
        for command in candidates:
            if version_of(command) == minor:
                return command
    return None


def relaunch(command: list[str]) -> int:
    sys.stderr.write(
        f"bimpe-mcp: the host started Python {running()} ({sys.executable}), which this bundle "
        f"carries no libraries for; running on {' '.join(command)} instead\n"
    )
    sys.stderr.flush()
    args = [*command, str(Path(__file__).resolve()), *sys.argv[1:]]
    if sys.platform == "win32":
        # Windows has no exec that keeps the process: run it with the same stdin and stdout, and pass its exit on.
        return subprocess.run(args, check=False).returncode
    os.execv(args[0], args)  # noqa: S606 - the interpreter found above, with this launcher's own arguments


def no_python(build: dict[str, object], pythons: list[str]) -> int:
    sys.stderr.write(
        f"bimpe-mcp: this bundle carries libraries for Python {', '.join(pythons)} on {build['platform']}, but the "
        f"host started Python {running()} ({sys.executable}), and no Python {' or '.join(pythons)} "
        "was found on PATH or in the usual install folders. Install one (python.org or your package manager), "
        "or install the server from its repository with pipx (see the README) and give the client the absolute "
        "path `bimpe-mcp doctor` prints.\n"
    )
    return 1


def sandbox_toggle(argv: list[str]) -> list[str]:
    """The bundle's Sandbox option is the operator's explicit choice, like the --sandbox flag: pass it as that flag,
    so that it wins over a key entered too (the server says so on stderr)."""
    if os.environ.pop("BIMPE_SANDBOX", "").strip().lower() in TRUE and "--sandbox" not in argv:
        return [*argv, "--sandbox"]
    return argv


def main() -> int:
    build = json.loads((HERE / "build.json").read_text(encoding="utf-8"))
    pythons = [str(p) for p in build["pythons"]]
    if running() not in pythons:
        command = find_python(pythons)
        return relaunch(command) if command else no_python(build, pythons)
    tag = "cp" + running().replace(".", "")
    sys.path[:0] = [str(HERE / "lib" / tag), str(HERE / "lib" / "common")]
    # A host may pass an optional setting the user left empty as its unsubstituted placeholder.
    for var in [v for v, value in os.environ.items() if v.startswith("BIMPE_") and value.startswith("${")]:
        del os.environ[var]
    try:
        from bimpe_mcp.cli.start import main as serve
    except ImportError as exc:
        sys.stderr.write(
            f"bimpe-mcp: the bundled libraries do not load ({exc}). This bundle was built for {build['platform']}; "
            f"this machine is {sys.platform}-{platform.machine().lower()}. Install the bundle built for it.\n"
        )
        return 1
    return serve(sandbox_toggle(sys.argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main())
