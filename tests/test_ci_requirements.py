"""Under CI (CI=true) a test whose system package is missing fails the run instead of skipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

CONFIG = REPO / "pyproject.toml"

NEEDS_CHROMIUM = """
from tests.support.chromium import chromium_binary


def test_needs_chromium() -> None:
    assert chromium_binary()
"""


def run_without_chromium(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_needs_chromium.py"
    test_file.write_text(NEEDS_CHROMIUM)
    # A PATH with python only: no chromium on it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {"PATH": str(bin_dir), "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-c",
            str(CONFIG),
            str(test_file),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("ci", "skipped"), [(None, True), ("false", True), ("true", False)])
def test_missing_chromium_skips_locally_and_fails_under_ci(
    tmp_path: Path, ci: str | None, skipped: bool
) -> None:
    result = run_without_chromium(tmp_path, ci)
    output = result.stdout + result.stderr
    assert "chromium is not installed" in output, output
    if skipped:
        assert result.returncode == 0, output
        assert "1 skipped" in output, output
    else:
        assert result.returncode == 1, output
        assert "1 failed" in output, output
        assert "CI=true runs every test" in output, output
