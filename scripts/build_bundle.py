"""Build dist/bimpe-mcp-<version>-<platform>.mcpb: the server and its dependencies, vendored for this OS and CPU.

    python scripts/build_bundle.py [--python 3.11 --python 3.12 ...] [--out-dir dist]

pydantic-core, rpds-py and cffi are compiled, so vendored libraries fit one OS, one CPU and one Python minor. The
bundle carries them for every minor in PYTHONS (or for the --python minors given instead); the wheels of a minor
other than the running one come from the package index, for this platform. Entries identical for every minor go to
server/lib/common once. Why vendoring and not the `uv` server type: docs/distribution.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packaging import tags

ROOT = Path(__file__).resolve().parent.parent
# Fixed timestamps: the same inputs give the same bundle bytes.
EPOCH = (1980, 1, 1, 0, 0, 0)
# The Python minors a bundle carries by default; manifest.json's compatibility states the same range.
PYTHONS = ("3.11", "3.12", "3.13")
# What the server never imports, left out: libphonenumber's geocoder and carrier names, with their data (about 20 MB
# unpacked, 2 MB packed); country names come from bimpe_mcp/policy/country_names.py.
UNUSED = (
    "phonenumbers/geodata",
    "phonenumbers/carrierdata",
    "phonenumbers/geocoder.py*",
    "phonenumbers/carrier.py*",
)


def version() -> str:
    text = (ROOT / "bimpe_mcp" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not found:
        raise SystemExit("bimpe_mcp/__init__.py has no __version__")
    return found.group(1)


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine().lower()}"


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def vendor(wheel: Path, lib: Path, python: str) -> None:
    """Install the server wheel and its dependencies into `lib` for one Python minor of this platform."""
    args = ["install", "--quiet", "--no-compile", "--target", str(lib), str(wheel)]
    if python != running_python():
        args += ["--only-binary=:all:", "--implementation", "cp", "--python-version", python]
        args += [f"--platform={t}" for t in tags.platform_tags()]
    pip(*args)
    # Console scripts carry this machine's interpreter path; direct_url.json this machine's build folder.
    shutil.rmtree(lib / "bin", ignore_errors=True)
    for stray in [*lib.glob("*.dist-info/direct_url.json"), *lib.rglob("__pycache__")]:
        shutil.rmtree(stray) if stray.is_dir() else stray.unlink()
    for unused in UNUSED:
        for path in lib.glob(unused):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def digest(entry: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    for path in files:
        h.update(path.relative_to(entry.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def share_identical(libs: list[Path], common: Path) -> None:
    """Move each top-level entry that is byte-identical in every library folder into `common`, once.

    Whole entries only: a package split over two sys.path folders would import from the first one alone.
    """
    common.mkdir()
    first, *others = libs
    for entry in sorted(first.iterdir()):
        copies = [lib / entry.name for lib in others]
        if all(c.exists() for c in copies) and all(digest(c) == digest(entry) for c in copies):
            shutil.move(str(entry), str(common / entry.name))
            for copy in copies:
                shutil.rmtree(copy) if copy.is_dir() else copy.unlink()


def python_range(pythons: list[str]) -> str:
    minors = sorted(int(p.split(".")[1]) for p in pythons)
    if minors != list(range(minors[0], minors[-1] + 1)):
        raise SystemExit(f"give consecutive Python minors (got {', '.join(pythons)})")
    return f">=3.{minors[0]},<3.{minors[-1] + 1}"


def stage(dest: Path, pythons: list[str], work: Path) -> None:
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    manifest["compatibility"] = {"platforms": [sys.platform], "runtimes": {"python": python_range(pythons)}}
    server = dest / "server"
    server.mkdir(parents=True)
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for name in ("icon.png", "LICENSE", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copy2(ROOT / "scripts" / "bundle_main.py", server / "main.py")
    build = {"version": manifest["version"], "platform": platform_tag(), "pythons": pythons}
    (server / "build.json").write_text(json.dumps(build, indent=2) + "\n", encoding="utf-8")

    pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(work), str(ROOT))
    wheel = next(work.glob("bimpe_mcp-*.whl"))
    libs = [server / "lib" / ("cp" + p.replace(".", "")) for p in pythons]
    for lib, python in zip(libs, pythons, strict=True):
        vendor(wheel, lib, python)
    if len(libs) > 1:
        share_identical(libs, server / "lib" / "common")


def pack(source: Path, bundle: Path) -> None:
    bundle.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def build(out_dir: Path, chosen: list[str]) -> Path:
    pythons = sorted(set(chosen or PYTHONS), key=lambda p: int(p.split(".")[1]))
    bundle = out_dir / f"bimpe-mcp-{version()}-{platform_tag()}.mcpb"
    with tempfile.TemporaryDirectory(prefix="bimpe-mcpb-") as tmp:
        staged = Path(tmp) / "bundle"
        work = Path(tmp) / "work"
        stage(staged, pythons, work)
        pack(staged, bundle)
    return bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="3.X",
        help=f"vendor for this Python minor (repeatable; default {', '.join(PYTHONS)})",
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist", help="where the .mcpb goes (default dist/)")
    args = parser.parse_args()
    for python in args.python:
        if not re.fullmatch(r"3\.\d+", python):
            parser.error(f"--python takes a minor version such as 3.12, not {python!r}")
    bundle = build(args.out_dir.resolve(), args.python)
    sys.stdout.write(f"{bundle}\n")


if __name__ == "__main__":
    main()
