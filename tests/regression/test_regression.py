"""The availability regression suite: short real runs on a local namespace cluster that pin
what the reference node promises — and a deliberately broken node to show the suite bites.

Each test is one ``harness run`` as a user types it (a subprocess, its own store), checked
through results.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "reg"
COMMON = (
    "--cluster",
    CLUSTER,
    "--time-limit",
    "20",
    "--nemesis-interval",
    "4",
    "--concurrency",
    "10",
    "--rate",
    "100",
    "--progress",
    "plain",
    "--seed",
    "20261125",
)
CONVERGENCE_BOUND = 30.0


def harness_run(store: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--store", str(store), *COMMON, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=420,
    )
    results_path = store / "latest" / "results.json"
    assert results_path.exists(), f"no results (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc.returncode, json.loads(results_path.read_text())


def metric(results: dict[str, Any], name: str) -> Any:
    return results["metrics"].get(name)


@pytest.mark.parametrize("nemesis", ["partition", "kill", "pause", "clock", "loss", "all"])
def test_siblings_mode_loses_no_acknowledged_write_and_converges(nemesis, tmp_path) -> None:
    rc, results = harness_run(tmp_path, "--workload", "set", "--nemesis", nemesis)
    assert metric(results, "lost") == 0, results["checkers"]["set"]
    assert rc == 0, f"verdict {results['valid']}"
    convergence = metric(results, "convergence")
    assert convergence is not None and convergence <= CONVERGENCE_BOUND
    assert metric(results, "convergence.diverged") == 0


def test_random_halves_keep_reads_and_writes_available(tmp_path) -> None:
    rc, results = harness_run(
        tmp_path, "--workload", "register", "--nemesis", "partition-random-halves"
    )
    assert metric(results, "availability.get") >= 0.95
    assert metric(results, "availability.put") >= 0.95
    assert rc == 0


def test_lww_under_clock_skew_loses_acknowledged_writes_and_the_harness_says_so(tmp_path) -> None:
    rc, results = harness_run(
        tmp_path, "--workload", "register", "--nemesis", "clock", "--mode", "lww"
    )
    assert metric(results, "lost") > 0
    assert rc == 1


def test_a_node_that_acks_before_writing_fails_the_suite(tmp_path) -> None:
    """The suite has teeth: the node with the test-only write-behind bug loses writes."""
    rc, results = harness_run(
        tmp_path, "--workload", "set", "--nemesis", "kill", "--node-args=--unsafe-early-ack"
    )
    assert metric(results, "lost") > 0
    assert rc == 1
