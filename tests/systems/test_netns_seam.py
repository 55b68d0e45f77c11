"""Other stores through the seam, end to end on namespace hosts: ``harness run --system``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

ROOT = Path(__file__).resolve().parents[2]


def harness_run(tmp_path: Path, system: str) -> tuple[int, dict[str, object]]:
    store = tmp_path / "store"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--system",
            system,
            "--workload",
            "set",
            "--nemesis",
            "partition",
            "--seed",
            "20261202",
            "--cluster",
            f"sm{system[:2]}",
            "--store",
            str(store),
            "--progress",
            "none",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = next(store.glob("*/*/results.json"), None)
    assert results is not None, r.stderr[-2000:]
    return r.returncode, json.loads(results.read_text())["metrics"]


def test_redis_with_sentinel_loses_acknowledged_adds_under_partitions(tmp_path: Path) -> None:
    code, metrics = harness_run(tmp_path, "redis")
    assert code == 1
    assert isinstance(metrics["lost"], int) and metrics["lost"] > 0


def test_etcd_loses_no_acknowledged_add_under_partitions(tmp_path: Path) -> None:
    code, metrics = harness_run(tmp_path, "etcd")
    assert metrics["lost"] == 0
    assert code == 0
