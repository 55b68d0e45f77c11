"""Whole runs that make and remove their own namespace cluster: the fresh-machine flow,
Ctrl-C at every phase, a killed harness, stale objects. Each must leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checkers.history import load, validate
from harness.exitcodes import ExitCode

pytestmark = pytest.mark.netns

NAME = "pyt"  # the same hosts' directories as test_netns_cluster: the node's venv is reused
REPO = Path(__file__).resolve().parents[2]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def clean(
    cli: Cli, find_leftovers: Callable[[str], list[str]], iptables: Callable[[], str]
) -> Iterator[None]:
    """No cluster before the test; nothing of it and no iptables change after."""
    cli("cluster", "down", "--cluster", NAME)
    rules = iptables()
    yield
    left = find_leftovers(NAME)
    cli("cluster", "down", "--cluster", NAME)  # so one failure does not cascade
    assert left == []
    assert iptables() == rules


def start(store: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    err = store / "stderr.txt"
    store.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--cluster", NAME, "--store", str(store), *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=err.open("wb"),
        env=dict(os.environ, CI="1"),
    )
    return proc, err


def wait_for(err: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in err.read_text(errors="replace"):
        assert proc.poll() is None, err.read_text()
        assert time.monotonic() < deadline, f"no {text!r} in:\n{err.read_text()}"
        time.sleep(0.05)


def test_fresh_machine_flow_makes_hosts_deploys_reports_and_leaves_nothing(
    clean: None, cli: Cli, tmp_path: Path
) -> None:
    r = cli(
        "run",
        "--cluster",
        NAME,
        "--workload",
        "set",
        "--nemesis",
        "none",
        "--time-limit",
        "5",
        "--settle",
        "1",
        "--store",
        str(tmp_path),
    )
    assert r.returncode == ExitCode.VALID, r.stderr
    assert "deploying to n1, n2, n3, n4, n5 over SSH" in r.stderr
    assert "add" in r.stdout and "read" in r.stdout
    log = (tmp_path / "latest" / "harness.log").read_text()
    assert f"cluster {NAME} up: 5 hosts" in log


@pytest.mark.parametrize(
    "moment", ["local: preparing hosts", "deploying to", "workload", "final reads"]
)
def test_ctrl_c_at_any_phase_tears_down_and_keeps_the_partial_history(
    clean: None, tmp_path: Path, moment: str
) -> None:
    # kv at full speed touches most of its 1000 keys: reading each from every node takes seconds
    proc, err = start(
        tmp_path, "--workload", "kv", "--rate", "0", "--time-limit", "4", "--settle", "3"
    )
    wait_for(err, moment, proc)
    if moment == "workload":
        time.sleep(1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=90) == ExitCode.UNKNOWN, err.read_text()
    assert "interrupted" in err.read_text()
    run = (tmp_path / "latest").resolve()
    test = json.loads((run / "test.json").read_text())
    assert test["interrupted"] is True
    ops = load(run / "history.jsonl")
    assert validate(ops) == []
    if moment == "workload":
        assert any(op["type"] == "ok" for op in ops)
        assert not any(op.get("final") for op in ops)
    if moment == "final reads":
        finals = [op for op in ops if op.get("final") and op["type"] == "ok"]
        assert finals and len(finals) < 5 * len({op["key"] for op in ops if "key" in op})


def test_a_second_ctrl_c_does_not_cut_the_clean_up_short(clean: None, tmp_path: Path) -> None:
    proc, err = start(tmp_path, "--time-limit", "4")
    wait_for(err, "workload", proc)
    proc.send_signal(signal.SIGINT)
    wait_for(err, "stopping nodes", proc, timeout=30)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=90) == ExitCode.UNKNOWN
    assert "still cleaning up" in err.read_text()


@pytest.mark.parametrize("then", ["cluster down", "the next run"])
def test_a_killed_harness_leaves_what_cluster_down_or_the_next_run_removes(
    clean: None, cli: Cli, tmp_path: Path, find_leftovers: Callable[[str], list[str]], then: str
) -> None:
    proc, err = start(tmp_path, "--time-limit", "30")
    wait_for(err, "workload", proc)
    proc.kill()  # no clean-up at all: the crash path
    proc.wait(timeout=30)
    left = find_leftovers(NAME)
    assert any(x.startswith("netns") for x in left)
    assert any("dynamo node" in x for x in left)
    assert len((tmp_path / "latest" / "history.jsonl").read_text().splitlines()) > 0
    if then == "cluster down":
        r = cli("cluster", "down", "--cluster", NAME, check_rc=0)
        assert f"dh-{NAME}-n1" in r.stdout
    else:  # the crashed run's cluster is not mistaken for one the user made and kept
        cli(
            "run",
            "--cluster",
            NAME,
            "--time-limit",
            "1",
            "--settle",
            "0",
            "--store",
            str(tmp_path),
            check_rc=ExitCode.VALID,
        )


def test_cluster_down_removes_stale_namespaces_and_orphaned_daemons(
    clean: None, cli: Cli, tmp_path: Path
) -> None:
    stale = f"dh-{NAME}-n9"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    inside = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "300"])
    base = Path(f"/var/lib/dynamo-harness/{NAME}/n9")
    base.mkdir(parents=True, exist_ok=True)
    orphan = subprocess.Popen(["sh", "-c", "sleep 300", f"{base}/run-node.sh"])
    try:
        r = cli("cluster", "down", "--cluster", NAME, check_rc=0)
        assert stale in r.stdout
        assert inside.wait(timeout=10) is not None
        assert orphan.wait(timeout=10) is not None
    finally:
        for p in (inside, orphan):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_node_that_cannot_start_fails_the_run_and_still_leaves_nothing(
    clean: None, cli: Cli, tmp_path: Path
) -> None:
    # Port 22 is the host's own sshd: every node fails to bind and exits.
    r = cli("run", "--cluster", NAME, "--port", "22", "--time-limit", "1", "--store", str(tmp_path))
    assert r.returncode == ExitCode.HARNESS_FAILED
    assert "the node exited" in r.stderr
    assert (tmp_path / "latest" / "nodes" / "n1" / "node.log").exists()


def test_a_second_run_on_a_busy_cluster_fails_at_once_and_leaves_the_first_alone(
    clean: None, cli: Cli, tmp_path: Path
) -> None:
    proc, err = start(tmp_path / "first", "--time-limit", "30")
    try:
        wait_for(err, "workload", proc)
        r = cli("run", "--cluster", NAME, "--time-limit", "1", "--store", str(tmp_path), timeout=60)
        assert r.returncode == ExitCode.HARNESS_FAILED
        assert "in use by another run" in r.stderr
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == ExitCode.UNKNOWN
