"""Tests marked ``slow`` stay out of a run unless its ``-m`` expression names them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

MODULE = """
import pytest

@pytest.mark.slow
def test_long_suite():
    pass

def test_quick():
    pass
"""


def collected(tmp_path: Path, *args: str) -> list[str]:
    (tmp_path / "test_sample.py").write_text(MODULE)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider"),
            *("--collect-only", "-q", "-o", "markers=slow", "--rootdir", str(tmp_path), *args),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line.split("::")[1] for line in proc.stdout.splitlines() if "::" in line]


def test_a_plain_run_leaves_slow_tests_out(tmp_path: Path) -> None:
    assert collected(tmp_path) == ["test_quick"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [("slow", ["test_long_suite"]), ("slow or not slow", ["test_long_suite", "test_quick"])],
)
def test_naming_slow_in_the_marker_expression_runs_them(
    tmp_path: Path, expression: str, expected: list[str]
) -> None:
    assert collected(tmp_path, "-m", expression) == expected
