"""The wipe and owners nemeses on a real namespace cluster (``flt``), the real node passing both.

A wiped node comes back as a new incarnation (its log says so at each start) and the run
stays valid; an owners cut isolates exactly the nodes a node names as the probe key's
owners, flapping flips, and nothing of either fault is left on the hosts.

    flock /tmp/dh-cluster.lock .venv/bin/pytest -m netns tests/nemesis/test_wipe_owners_netns.py
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamo.ring import Ring
from tests.nemesis.test_nemesis_netns import harness

pytestmark = pytest.mark.netns

NAME = "flt"
SUBNET = "10.77.61.0/24"
NODES = [f"n{i}" for i in range(1, 6)]
CLUSTER = ("--cluster", NAME, "--subnet", SUBNET)
INCARNATION = re.compile(r"listening on .* incarnation (\w+)\)")


def namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith(f"dh-{NAME}-")]


def our_rules() -> list[str]:
    found = []
    for ns in namespaces():
        r = subprocess.run(["ip", "netns", "exec", ns, "iptables-save"], capture_output=True)
        found += [f"{ns}: {ln}" for ln in r.stdout.decode().splitlines() if "DH-" in ln]
    return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    harness("cluster", "down", *CLUSTER)
    r = harness("cluster", "up", *CLUSTER)
    assert r.returncode == 0, r.stderr
    try:
        yield
    finally:
        r = harness("cluster", "down", *CLUSTER)
    assert r.returncode == 0, r.stderr
    assert namespaces() == []


def run(store: Path, *args: str) -> tuple[int, Path, list[dict[str, Any]]]:
    r = harness(
        "run",
        *CLUSTER,
        *("--store", str(store), "--progress", "none", "--settle", "2", "--rate", "100"),
        *args,
    )
    runs = sorted(p for p in store.glob("*/2*") if p.is_dir())
    assert runs, r.stderr
    history = [json.loads(ln) for ln in (runs[-1] / "history.jsonl").read_text().splitlines()]
    nemesis = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    return r.returncode, runs[-1], nemesis


def test_a_wiped_node_comes_back_as_a_new_incarnation_and_the_run_is_valid(
    cluster: None, tmp_path: Path
) -> None:
    rc, run_dir, ops = run(
        tmp_path, "--nemesis", "wipe", "--time-limit", "12", "--nemesis-interval", "3"
    )
    assert rc == 0, (run_dir / "report.md").read_text()[:3000]
    assert [o["f"] for o in ops][:2] == ["wipe", "start-wiped"]
    assert not any(o.get("error") for o in ops)
    wipes = Counter(n for o in ops if o["f"] == "wipe" for n in o["value"])
    assert wipes
    for node in NODES:  # each wipe starts a new incarnation; a node may be wiped twice
        log = (run_dir / "nodes" / node / "node.log").read_text()
        incarnations = INCARNATION.findall(log)
        assert len(set(incarnations)) == 1 + wipes[node], (node, incarnations, wipes)
    assert our_rules() == []


def test_owners_cut_off_the_owners_a_node_names_and_flapping_flips(
    cluster: None, tmp_path: Path
) -> None:
    rc, run_dir, ops = run(
        tmp_path,
        *("--nemesis", "owners:flapping", "--time-limit", "14", "--nemesis-interval", "5"),
    )
    assert rc == 0, (run_dir / "report.md").read_text()[:3000]
    starts = [o for o in ops if o["f"] == "start-owners"]
    stops = [o for o in ops if o["f"] == "stop-owners"]
    assert starts and len(stops) == len(starts)
    ring = Ring.balanced(NODES, 64)  # no joins here, so the node's answer must be this
    for start in starts:
        value = start["value"]
        assert value["nodes"] == ring.preference_list(value["key"], 3)
        for owner in value["nodes"]:
            assert sorted(value["grudge"][owner]) == [n for n in NODES if n != owner]
    assert all(stop["value"]["flips"] >= 2 for stop in stops)
    assert our_rules() == []
