"""The power-loss nemesis on a real namespace cluster (``pwt``), made and removed by the run.

The real node passes ``power`` (exit 0); every ``power-off`` names its target and nodes (a
``replicas`` target exactly the owners the ring gives its probe key), every powered-off node
started again (one more ``listening`` line in its log per power-off), and once the run is
over nothing is left: no namespace, no node, no powerfs server, no mount. The same preset
catches the ``log-skips-fdatasync`` mutant of the default engine (exit 1, acknowledged adds
lost); ``test_powerfs_node.py`` has SQLite's (``sync-off``).

    flock /tmp/dh-cluster.lock .venv/bin/pytest -m netns tests/nemesis/test_power_netns.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dynamo.ring import Ring
from tests.mutants.run import HERE as MUTANTS
from tests.mutants.run import apply, copy_tree
from tests.nemesis.test_nemesis_netns import harness

pytestmark = pytest.mark.netns

NAME = "pwt"
SUBNET = "10.77.63.0/24"
ROOT = f"/var/lib/dynamo-harness/{NAME}/"
NODES = [f"n{i}" for i in range(1, 6)]
PRESET = (
    *("--cluster", NAME, "--subnet", SUBNET, "--progress", "none", "--settle", "2"),
    *("--workload", "set", "--keys", "60", "--rate", "150", "--seed", "7"),
    *("--nemesis", "power:replicas/one", "--time-limit", "14", "--nemesis-interval", "3"),
)


def left_behind() -> list[str]:
    """Our namespaces, processes naming our hosts' directory, and powerfs mounts anywhere."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found = [ln.split()[0] for ln in out.splitlines() if ln.startswith(f"dh-{NAME}-")]
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            mounts = (proc / "mounts").read_text()
        except OSError:
            continue
        if ROOT in cmdline:
            found.append(f"pid {proc.name}: {cmdline[:120]}")
        found += [f"pid {proc.name} sees {ln}" for ln in mounts.splitlines() if "powerfs" in ln]
    return sorted(set(found))


def run(store: Path, cwd: Path | None = None) -> tuple[int, Path, list[dict[str, Any]]]:
    if cwd is None:
        r = harness("run", "--store", str(store), *PRESET)
    else:  # a patched copy of the tree: its harness deploys the patched node
        r = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--store", str(store), *PRESET],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=cwd,
            env=dict(os.environ, PYTHONPATH=str(cwd), CI="1"),
        )
    runs = sorted(p for p in store.glob("*/2*") if p.is_dir())
    assert runs, r.stderr
    history = [json.loads(ln) for ln in (runs[-1] / "history.jsonl").read_text().splitlines()]
    nemesis = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    return r.returncode, runs[-1], nemesis


def lost(run_dir: Path) -> int:
    results = json.loads((run_dir / "results.json").read_text())
    return int(results["checkers"]["set"]["lost_count"])


@pytest.fixture(autouse=True)
def nothing_of_ours() -> None:
    subprocess.run(
        [sys.executable, "-m", "harness", "cluster", "down", "--cluster", NAME],
        capture_output=True,
        timeout=120,
    )
    assert left_behind() == []


def test_the_real_node_survives_power_loss_and_nothing_is_left(tmp_path: Path) -> None:
    rc, run_dir, ops = run(tmp_path)
    assert rc == 0, (run_dir / "report.md").read_text()[:3000]
    assert lost(run_dir) == 0
    assert not any(o.get("error") for o in ops), ops
    offs = [o["value"] for o in ops if o["f"] == "power-off"]
    ons = [o["value"] for o in ops if o["f"] == "power-on"]
    assert offs and [v["nodes"] for v in ons] == [v["nodes"] for v in offs]
    ring = Ring.balanced(NODES, 64)
    for value in offs:
        assert value["target"] in ("replicas", "one")
        if value["target"] == "replicas":
            assert value["nodes"] == sorted(ring.preference_list(value["key"], 3))
        else:
            assert len(value["nodes"]) == 1
    powered = Counter(n for v in offs for n in v["nodes"])
    for node in NODES:
        log = (run_dir / "nodes" / node / "node.log").read_text()
        assert log.count("listening on") == 1 + powered[node], (node, powered)
        assert (run_dir / "nodes" / node / "powerfs.log").exists()
    assert left_behind() == []


def test_ctrl_c_while_nodes_are_powered_off_leaves_nothing(tmp_path: Path) -> None:
    args = [a if a != "power:replicas/one" else "power:all" for a in PRESET]
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--store", str(tmp_path), *args],
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ, CI="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(tmp_path.glob("*/2*/history.jsonl"))
            if found and '"info","process":"nemesis","time"' in found[0].read_text():
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGINT)  # every node is powered off now
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err
    assert left_behind() == []


def test_the_same_preset_catches_a_node_that_acks_before_fdatasync(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    copy_tree(tree)
    apply(MUTANTS / "log-skips-fdatasync.patch", tree)
    rc, run_dir, ops = run(tmp_path / "store", cwd=tree)
    assert rc == 1, (run_dir / "report.md").read_text()[:3000]
    assert any(o["f"] == "power-off" for o in ops)
    assert lost(run_dir) > 0
    assert left_behind() == []
