"""One namespace cluster shared by this module: ``cluster up``, runs on it, the ssh provider.

The cluster is made once (``harness cluster up``), used by every test here, and removed at
the end, where the fixture checks that nothing of it is left.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from checkers.history import load, validate
from harness.exitcodes import ExitCode

pytestmark = pytest.mark.netns

NAME = "pyt"
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def up(
    cli: Cli, find_leftovers: Callable[[str], list[str]], iptables: Callable[[], str]
) -> Iterator[dict[str, Any]]:
    """The module's cluster, as ``harness cluster up --json`` describes it."""
    cli("cluster", "down", "--cluster", NAME)
    rules = iptables()
    r = cli("cluster", "up", "--cluster", NAME, "--json", check_rc=0)
    try:
        yield json.loads(r.stdout)
    finally:
        cli("cluster", "down", "--cluster", NAME, check_rc=0)
    assert find_leftovers(NAME) == []
    assert iptables() == rules


def fuse_here() -> bool:
    """powerfs can mount on these hosts (they share this machine's kernel); required in CI."""
    from nemesis.powerfs import PowerFsError, preflight

    try:
        preflight()
    except PowerFsError as exc:
        if os.environ.get("DYNAMO_HARNESS_REQUIRE_HOSTS"):
            pytest.fail(f"powerfs cannot run here: {exc}", pytrace=False)
        return False
    return True


def ssh_args(up: dict[str, Any]) -> list[str]:
    nodes = ",".join(h["address"] for h in up["hosts"] if h["host"] != "control")
    return [
        "--provider",
        "ssh",
        "--cluster",
        NAME,
        "--nodes",
        nodes,
        "--ssh-key",
        up["ssh_key"],
        "--ssh-known-hosts",
        up["known_hosts"],
    ]


def test_cluster_up_makes_five_hosts_each_with_its_own_sshd(up: dict[str, Any]) -> None:
    hosts = {h["host"]: h for h in up["hosts"]}
    assert set(hosts) == {"control", "n1", "n2", "n3", "n4", "n5"}
    assert all(h["exists"] for h in hosts.values())
    assert all(hosts[f"n{i}"]["sshd"] is True for i in range(1, 6))
    assert len({h["address"] for h in hosts.values()}) == 6


def test_cluster_up_again_changes_nothing(up: dict[str, Any], cli: Cli) -> None:
    def sshd_pids() -> list[str]:
        return sorted(
            Path(f"/var/lib/dynamo-harness/{NAME}/n{i}/sshd/sshd.pid").read_text()
            for i in range(1, 6)
        )

    before = sshd_pids()
    r = cli("cluster", "up", "--cluster", NAME, check_rc=0)
    assert "already up" in r.stderr
    assert sshd_pids() == before


def test_the_root_namespace_cannot_reach_the_cluster(up: dict[str, Any]) -> None:
    """No address or route of the cluster subnet in the root namespace: a packet cannot leave."""
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "10.77." not in addrs
    route = subprocess.run(
        ["ip", "route", "get", "10.77.0.11"], capture_output=True, text=True
    ).stdout
    assert "dh-" not in route
    ctl = up["control_ns"]
    inside = subprocess.run(
        ["ip", "netns", "exec", ctl, "ip", "route"], capture_output=True, text=True
    ).stdout
    assert "default" not in inside  # nor can the control host reach anything but the cluster


def run_into(
    cli: Cli, store: Path, *args: str, time_limit: str = "1", **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``harness run ARGS --time-limit T --store STORE``: a short run into its own store."""
    return cli("run", *args, "--time-limit", time_limit, "--store", str(store), **kwargs)


def test_run_deploys_over_ssh_and_stores_a_history_the_design_accepts(
    up: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    r = run_into(
        cli,
        tmp_path,
        *("--cluster", NAME, "--workload", "set", "--settle", "1"),
        time_limit="4",
        check_rc=ExitCode.VALID,
    )
    run = (tmp_path / "latest").resolve()
    assert run.parent.name == "set-none"
    for name in ("test.json", "history.jsonl", "results.json", "harness.log"):
        assert (run / name).exists(), name
    for i in range(1, 6):
        log = run / "nodes" / f"n{i}" / "node.log"
        assert log.exists() and (run / "nodes" / f"n{i}" / "node.json").exists()
    ops = load(run / "history.jsonl")
    assert validate(ops) == []
    assert any(op.get("final") for op in ops)
    assert "add" in r.stdout  # the report's table

    # harness check reproduces results.json from the stored history alone
    before = json.loads((run / "results.json").read_text())
    (run / "results.json").unlink()
    cli("check", str(run), check_rc=ExitCode.VALID)
    assert _verdict(json.loads((run / "results.json").read_text())) == _verdict(before)
    assert cli("report", str(run), check_rc=0).stdout.strip()


def _verdict(results: dict[str, Any]) -> Any:
    """results.json without anything that depends on when or how fast it was computed."""
    drop = {"elapsed", "elapsed_s", "generated", "generated_at", "seconds_to_check"}
    if isinstance(results, dict):
        return {k: _verdict(v) for k, v in results.items() if k not in drop}
    if isinstance(results, list):
        return [_verdict(v) for v in results]
    return results


def test_a_run_on_an_existing_cluster_leaves_it_up(up: dict[str, Any], cli: Cli) -> None:
    r = cli("cluster", "status", "--cluster", NAME, "--json", check_rc=0)
    assert all(h["exists"] for h in json.loads(r.stdout)["hosts"])


def test_ssh_provider_deploys_to_the_hosts_cluster_up_made(
    up: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    r = run_into(
        cli,
        tmp_path,
        *ssh_args(up),
        *("--workload", "register", "--settle", "1"),
        time_limit="3",
        netns=up["control_ns"],
    )
    assert r.returncode == ExitCode.VALID, r.stderr
    run = (tmp_path / "latest").resolve()
    test = json.loads((run / "test.json").read_text())
    assert test["provider"] == "ssh" and test["options"]["nodes"].startswith("10.77.0.11,")
    assert test["control"] == "10.77.0.1"  # learnt from the hosts: nemeses never cut it off
    assert validate(load(run / "history.jsonl")) == []
    assert (run / "nodes" / "n5" / "node.log").exists()


def ssh_run_with(
    up: dict[str, Any], cli: Cli, tmp_path: Path, flag: str, value: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """A short ssh-provider run from the control namespace with one option changed."""
    args = ssh_args(up)
    args[args.index(flag) + 1] = value
    return run_into(cli, tmp_path, *args, *extra, netns=up["control_ns"], timeout=90)


def test_an_unreachable_host_fails_fast_with_a_clear_error(
    up: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    nodes = "10.77.0.11,10.77.0.99"  # .99: nobody
    r = ssh_run_with(up, cli, tmp_path, "--nodes", nodes, "--connect-timeout", "2")
    assert r.returncode == ExitCode.HARNESS_FAILED
    assert "n2" in r.stderr and "cannot connect to 10.77.0.99:22" in r.stderr


def test_a_host_key_that_does_not_match_is_refused(
    up: dict[str, Any], cli: Cli, tmp_path: Path
) -> None:
    wrong = tmp_path / "known_hosts"
    lines = Path(up["known_hosts"]).read_text().splitlines()
    keys = [ln.split(" ", 1)[1] for ln in lines]
    wrong.write_text("".join(f"{ln.split()[0]} {keys[-1 - i]}\n" for i, ln in enumerate(lines)))
    r = ssh_run_with(up, cli, tmp_path, "--ssh-known-hosts", str(wrong))
    assert r.returncode == ExitCode.HARNESS_FAILED
    assert "cannot connect" in r.stderr


def test_without_known_hosts_keys_are_trusted_on_first_use_and_a_changed_one_is_refused(
    up: dict[str, Any], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    trusted = tmp_path / "state" / "dynamo-harness" / "known_hosts"
    args = ssh_args(up)
    i = args.index("--ssh-known-hosts")
    del args[i : i + 2]
    first = run_into(cli, tmp_path / "a", *args, netns=up["control_ns"], timeout=120)
    assert first.returncode == ExitCode.VALID, first.stderr[-2000:]
    lines = trusted.read_text().splitlines()
    assert sorted(ln.split()[0] for ln in lines) == [f"10.77.0.1{k}" for k in range(1, 6)]
    assert "trusting" in first.stderr
    # every host's recorded key swapped for another host's: each now "changed its key"
    keys = [ln.split(" ", 1)[1] for ln in lines]
    trusted.write_text("".join(f"{ln.split()[0]} {keys[-1 - j]}\n" for j, ln in enumerate(lines)))
    second = run_into(cli, tmp_path / "b", *args, netns=up["control_ns"], timeout=120)
    assert second.returncode == ExitCode.HARNESS_FAILED
    assert "cannot connect" in second.stderr


def test_vagrant_provider_end_to_end_against_a_stand_in_vagrant(
    up: dict[str, Any], cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No VM boots on these machines, so a stand-in ``vagrant`` answers ``ssh-config`` with
    the namespace hosts, as Vagrant would with its VMs: the provider's whole path runs."""
    nodes = {h["host"]: h["address"] for h in up["hosts"] if h["host"] != "control"}
    control = next(h["address"] for h in up["hosts"] if h["host"] == "control")
    vdir = tmp_path / "vagrant"
    vdir.mkdir()
    (vdir / "nodes.json").write_text(
        json.dumps({"box": "stand-in", "control": control, "nodes": nodes})
    )
    config = "".join(
        f"Host {n}\n  HostName {a}\n  User vagrant\n  Port 22\n"
        f"  IdentityFile {up['ssh_key']}\n  StrictHostKeyChecking no\n\n"
        for n, a in nodes.items()
    )
    (vdir / "ssh-config").write_text(config)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "vagrant"
    stand_in.write_text(
        "#!/bin/sh\n"
        '[ "$1" = ssh-config ] || { echo "stand-in vagrant: only ssh-config" >&2; exit 1; }\n'
        f"cat {vdir / 'ssh-config'}\n"
    )
    stand_in.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # the power fault too, where powerfs can mount: its mounts over the provider's SSH
    power = fuse_here()
    faults = ("--nemesis", "power:one", "--nemesis-interval", "1") if power else ()
    r = run_into(
        cli,
        tmp_path / "store",
        *("--provider", "vagrant", "--vagrant-dir", str(vdir), "--cluster", NAME),
        *("--workload", "register", "--settle", "1", *faults),
        time_limit="4" if power else "3",
        netns=up["control_ns"],
        timeout=240,
    )
    assert r.returncode == ExitCode.VALID, r.stderr[-3000:]
    run = (tmp_path / "store" / "latest").resolve()
    assert json.loads((run / "test.json").read_text())["provider"] == "vagrant"
    ops = load(run / "history.jsonl")
    assert validate(ops) == []
    assert (run / "nodes" / "n5" / "node.log").exists()
    if power:
        offs = [op["value"] for op in ops if op.get("f") == "power-off"]
        ons = [op["value"] for op in ops if op.get("f") == "power-on"]
        assert offs and [v["nodes"] for v in ons] == [v["nodes"] for v in offs]
        assert all((run / "nodes" / n / "powerfs.log").exists() for n in nodes)
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        assert not [m for m in mounts if m.startswith("powerfs") and f"/{NAME}/" in m]


def test_the_node_preparation_script_passes_on_a_namespace_host(up: dict[str, Any]) -> None:
    key, ctl = up["ssh_key"], up["control_ns"]
    script = Path(__file__).resolve().parents[2] / "scripts" / "prepare-node.sh"
    r = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ctl,
            "ssh",
            "-i",
            key,
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={up['known_hosts']}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-F",
            "/dev/null",
            "root@10.77.0.13",
            "sh -s",
        ],
        stdin=script.open(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("python=")
