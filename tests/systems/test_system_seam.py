"""The system seam: systems chosen by entry point, bad choices refused with 254 before any
host is touched, and our node's options read from one definition."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.options import TestOptions
from harness.run import build_parts
from systems import registry
from systems.dynamo import DynamoSystem, configure

ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).parent / "toy_adapter"


def harness_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["run", "--provider", "ssh", "--nodes", "192.0.2.1", *args])
    return code, capsys.readouterr().err


def test_an_unknown_system_exits_254_with_one_line_naming_the_installed_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = harness_run(capsys, "--system", "nosuch")
    assert code == 254
    assert err.count("\n") == 1 and "unknown system 'nosuch'" in err and "dynamo" in err


def test_a_bad_system_option_exits_254_before_any_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = harness_run(capsys, "--system-option", "partitions=lots")
    assert code == 254 and "partitions" in err and err.count("\n") == 1
    code, err = harness_run(capsys, "--system-option", "no-equals-sign")
    assert code == 254 and "KEY=VALUE" in err
    code, err = harness_run(capsys, "--node-args=--no-such-flag")
    assert code == 254 and "--no-such-flag" in err


def test_node_args_partitions_reach_the_replica_sets() -> None:
    o = TestOptions(node_args="--partitions 128 --strict-quorum")
    system = configure(o, {})
    assert system.config.partitions == 128 and system.config.node["sloppy"] is False
    from dynamo.ring import Ring

    nodes = ["n1", "n2", "n3", "n4", "n5"]
    ring = Ring.balanced(nodes, 128)
    keys = [f"s{i}" for i in range(50)]
    assert all(system.replicas(nodes, k) == ring.preference_list(k, 3) for k in keys)
    wrong = Ring.balanced(nodes, 64)
    assert any(wrong.preference_list(k, 3) != ring.preference_list(k, 3) for k in keys)


def test_system_options_are_node_options_and_agree_with_node_args() -> None:
    a = configure(TestOptions(), {"partitions": "128", "strict_quorum": "true"})
    b = configure(TestOptions(node_args="--partitions 128 --strict-quorum"), {})
    assert a.config.node == b.config.node


def test_no_system_is_dynamo_with_every_capability_declared() -> None:
    parts = build_parts(TestOptions())
    assert isinstance(parts.system, DynamoSystem)
    caps = parts.system.capabilities
    assert caps.local_reads and caps.backlog and caps.replicas and caps.host_env
    assert registry.names()[0] == "dynamo" or "dynamo" in registry.names()


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy adapter pip-installed from its own package, into a directory of its own."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(site),
            str(TOY),
        ],
        check=True,
        capture_output=True,
    )
    return site


def run_with(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    code = "import sys; from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_an_installed_package_adds_a_system_through_the_entry_point(toy_site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{toy_site}{os.pathsep}{ROOT}"}
    probe = (
        "from harness.options import TestOptions; from systems import registry; "
        "s = registry.configure('toy', TestOptions(system='toy', workload='register'), "
        "['lifetime=5']); print(s.name, s.options.lifetime, sorted(s.capabilities.operations))"
    )
    r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["toy", "5", "['delete',", "'read',", "'write']"]


def test_a_workload_the_system_cannot_run_is_refused_with_254(toy_site: Path) -> None:
    base = ("run", "--provider", "ssh", "--nodes", "192.0.2.1", "--system", "toy")
    r = run_with(toy_site, *base, "--workload", "set")
    assert r.returncode == 254
    assert r.stderr.strip().splitlines() == [
        "harness: error: system toy cannot run the set workload: its client lacks add, read_set"
    ]
    r = run_with(toy_site, *base, "--workload", "register", "--system-option", "lifetime=0")
    assert r.returncode == 254 and "lifetime must be >= 1" in r.stderr
    r = run_with(toy_site, *base, "--workload", "register", "--system-option", "colour=red")
    assert r.returncode == 254 and "system toy has no option 'colour'" in r.stderr


def test_redis_and_etcd_are_systems_with_their_options_checked_before_deploy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert {"redis", "etcd"} <= set(registry.names())
    parts = build_parts(TestOptions(system="redis", system_option=("wait=2",)))
    assert parts.system.name == "redis" and parts.system.config.wait == 2  # type: ignore[attr-defined]
    code, err = harness_run(capsys, "--system", "etcd", "--system-option", "heartbeat_ms=1")
    assert code == 254 and "heartbeat_ms must be >= 10" in err
    code, err = harness_run(capsys, "--system", "redis", "--system-option", "appendfsync=maybe")
    assert code == 254 and "appendfsync" in err
