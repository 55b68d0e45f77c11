"""The pytest plugin, used as a user would: a test file in a directory of its own, run by
pytest inside the control namespace of a cluster made by ``harness cluster up``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
CLUSTER = "plug"

USER_TEST = """
def test_no_acknowledged_write_is_lost_under_partitions(harness):
    outcome = harness.run(workload="set", nemesis="partition", time_limit=12,
                          nemesis_interval=4)
    assert outcome.lost == 0
    assert outcome.valid
    assert outcome.metric("availability") is not None
"""


def harness(*args: str, netns: str | None = None, timeout: float = 240) -> str:
    cmd = [sys.executable, "-m", "harness", *args]
    if netns:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_plugin_runs_a_users_test_against_a_cluster_made_by_cluster_up(tmp_path) -> None:
    up = json.loads(harness("cluster", "up", "--cluster", CLUSTER, "--json"))
    try:
        nodes = ",".join(h["address"] for h in up["hosts"] if h["host"] != "control")
        project = tmp_path / "their-project"
        project.mkdir()
        (project / "test_availability.py").write_text(textwrap.dedent(USER_TEST))
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                up["control_ns"],
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_availability.py",
                "--harness-nodes",
                nodes,
                "--harness-cluster",
                CLUSTER,
                "--harness-ssh-key",
                up["ssh_key"],
                "--harness-ssh-known-hosts",
                up["known_hosts"],
                "--harness-store",
                str(tmp_path / "store"),
                "--harness-option",
                "concurrency=5",
            ],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        assert "1 passed" in proc.stdout
        assert (tmp_path / "store" / "latest" / "results.json").exists()
    finally:
        harness("cluster", "down", "--cluster", CLUSTER)
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"dh-{CLUSTER}-" not in names


def test_without_a_cluster_the_fixture_fails_saying_what_to_give(tmp_path) -> None:
    (tmp_path / "test_x.py").write_text(
        "def test_x(harness):\n    raise AssertionError('must not run')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")},
    )
    assert proc.returncode == 1, proc.stdout
    assert "1 error" in proc.stdout and "must not run" not in proc.stdout, proc.stdout
    assert "no cluster to test: give --harness-nodes" in proc.stdout, proc.stdout
