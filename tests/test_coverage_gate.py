"""The coverage gate measures the whole suite: a run of part of it passes or fails on its own tests, and a gate given
on the command line still applies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def run_part(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """pytest on one quick file, with coverage on, as a developer runs part of the suite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COVERAGE_", "COV_CORE_", "PYTEST_"))}
    env["COVERAGE_FILE"] = str(tmp_path / ".coverage")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_structure.py", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_part_of_the_suite_passes_on_its_own_tests_and_says_the_gate_was_not_applied(tmp_path: Path) -> None:
    run = run_part(tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "part of the suite ran, so its fail-under gate was not applied" in run.stdout


def test_a_gate_given_on_the_command_line_applies_to_part_of_the_suite(tmp_path: Path) -> None:
    run = run_part(tmp_path, "--cov-fail-under=98")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "FAIL Required test coverage of 98" in run.stdout
