"""etcd under the power-loss fault on namespace hosts (``ept``): a system with no Python of
its own gets powerfs from the virtualenv ``nemesis.power`` installs beside it, the run
reaches a verdict, every power-off is followed by its power-on, and nothing is left after
it: no namespace, no member, no powerfs server, no mount.

    flock /tmp/dh-cluster.lock .venv/bin/pytest -m netns tests/systems/test_etcd_power_netns.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.nemesis.test_nemesis_netns import harness
from tests.nemesis.test_power_netns import left_behind

pytestmark = pytest.mark.netns

NAME = "ept"
SUBNET = "10.77.64.0/24"
PRESET = (
    *("--system", "etcd", "--cluster", NAME, "--subnet", SUBNET, "--node-count", "3"),
    *("--workload", "set", "--keys", "20", "--rate", "100", "--seed", "11"),
    *("--nemesis", "power:one/all", "--time-limit", "8", "--nemesis-interval", "2"),
    *("--settle", "2", "--progress", "none"),
)


def ours() -> list[str]:
    return [x for x in left_behind() if f"dh-{NAME}-" in x or f"/{NAME}/" in x or "powerfs" in x]


@pytest.fixture(autouse=True)
def nothing_of_ours() -> None:
    harness("cluster", "down", "--cluster", NAME, timeout=120)
    assert ours() == []


def test_etcd_runs_under_power_loss_from_a_powerfs_venv_of_ours(tmp_path: Path) -> None:
    r = harness("run", "--store", str(tmp_path), *PRESET, timeout=180)
    runs = sorted(p for p in tmp_path.glob("etcd-set-power*/2*") if p.is_dir())
    assert runs, r.stderr[-3000:]
    run = runs[-1]
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-3000:])
    results = json.loads((run / "results.json").read_text())
    assert results["checkers"]["set"]["acknowledged"] > 0
    history = [json.loads(ln) for ln in (run / "history.jsonl").read_text().splitlines()]
    nemesis = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    offs = [o["value"]["nodes"] for o in nemesis if o["f"] == "power-off"]
    ons = [o["value"]["nodes"] for o in nemesis if o["f"] == "power-on"]
    assert offs and ons == offs and not any(o.get("error") for o in nemesis), nemesis
    for node in ("n1", "n2", "n3"):
        assert (run / "nodes" / node / "powerfs.log").exists()  # the server ran there
    assert ours() == []
