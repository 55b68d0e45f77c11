"""The power-loss nemesis: its spec, its schedule against a recording system (every target
killed before any drop, a drop again before each start, teardown starts what it left off),
and its mount and unmount shell run for real on this machine's FUSE."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import nemesis
from checkers.faults import CLOSES, OPENS, fault_windows
from harness.run import build_parts
from nemesis import power
from nemesis import spec as specs
from nemesis.base import NemesisError
from nemesis.power import PowerNemesis
from nemesis.powerfs import is_mounted
from nemesis.protocol import NemesisContext
from systems.base import Capabilities
from tests.nemesis.test_wipe import NODES, Recorder

OWNERS = ["n2", "n3", "n4"]


class PowerRecorder(Recorder):
    """A system whose verbs, drops and owner lookups are recorded in one sequence."""

    capabilities = Capabilities(
        operations=frozenset(), data_dir=True, host_python=True, owners=True
    )

    def __init__(self, *, owners: Sequence[str] = OWNERS) -> None:
        super().__init__(can_wipe=False)
        self.owners = list(owners)

    def data_dir(self, cluster: Any, node: str) -> str:
        return f"/d/{node}/data"

    def host_python(self, cluster: Any, node: str) -> str:
        return f"/d/{node}/venv/bin/python"

    def endpoint(self, cluster: Any, node: str) -> str:
        return node

    async def preference_list(self, address: str, key: str) -> list[str]:
        self.calls.append(("preflist", address))
        return self.owners


class Commands:
    def __init__(self, system: PowerRecorder, node: str) -> None:
        self.system, self.node = system, node

    def run(self, argv: list[str], **kw: Any) -> None:
        dropping = argv[1:4] == ["-m", "nemesis.powerfs", "drop"] and argv[4].startswith("/d/")
        self.system.calls.append(("drop" if dropping else " ".join(argv), self.node))


class FakeCluster:
    nodes = NODES

    def __init__(self, system: PowerRecorder) -> None:
        self.system = system

    def remote(self, node: str) -> Commands:
        return Commands(self.system, node)


def bound(system: PowerRecorder, targets: Sequence[str] = ("one",)) -> PowerNemesis:
    nem = PowerNemesis(targets)
    ctx = NemesisContext(FakeCluster(system), system, random.Random(0))  # type: ignore[arg-type]
    nem.setup(ctx)
    return nem


def test_the_spec_power_is_opt_in_with_five_targets_and_alone_among_process_faults() -> None:
    assert "power" not in [f.kind for f in specs.parse("all").faults]
    assert specs.parse("power").fault("power").targets == (*specs.SPECS, "replicas")
    assert specs.parse("power:replicas").fault("power").targets == ("replicas",)
    with pytest.raises(ValueError, match="unknown target 'some'"):
        specs.parse("power:some")
    for other in ("kill", "pause", "wipe"):
        with pytest.raises(ValueError, match="not with kill, pause or wipe"):
            nemesis.build(f"power,{other}")
    both = nemesis.build("power,partition")
    assert both.powerfs and not nemesis.build("kill").powerfs
    assert OPENS["power-off"] == CLOSES["power-on"] == "power"


def test_power_off_kills_every_target_before_any_drop_and_power_on_drops_then_starts() -> None:
    system = PowerRecorder()
    nem = bound(system, ("majority",))
    rng = random.Random(5)
    op = nem.next_op(rng)
    assert op is not None and op["f"] == "power-off"
    chosen = op["value"]["nodes"]
    assert len(chosen) == 3 and op["value"]["target"] == "majority"
    done = nem.invoke(op)
    assert done["value"]["nodes"] == chosen
    verbs = [verb for verb, _ in system.calls]
    assert sorted(system.calls[:3]) == [("kill", n) for n in chosen]
    assert verbs[3:] == ["drop"] * 3
    undo = nem.next_op(rng)
    assert undo is not None and undo["f"] == "power-on" and undo["value"]["nodes"] == chosen
    system.calls.clear()
    nem.invoke(undo)
    for n in chosen:
        assert [verb for verb, node in system.calls if node == n] == ["stop", "drop", "start"]
    system.calls.clear()
    nem.teardown()
    assert system.calls == []


def test_replicas_asks_a_node_for_the_owners_and_powers_them_all_off_at_once() -> None:
    system = PowerRecorder()
    nem = bound(system, ("replicas",))
    rng = random.Random(1)
    op = nem.next_op(rng)
    assert op is not None and "nodes" not in op["value"]
    asked = op["value"]["asked"]
    done = nem.invoke(op)
    assert done["value"]["nodes"] == OWNERS and done["value"]["key"].startswith("power-probe-")
    assert system.calls[0] == ("preflist", asked)
    assert sorted(system.calls[1:4]) == [("kill", n) for n in OWNERS]
    assert nem.heal_ops() == [{"f": "power-on", "value": done["value"]}]
    history = [
        {"index": 0, "time": 1, "type": "invoke", "process": "nemesis", **op},
        {"index": 1, "time": 2, "type": "info", "process": "nemesis", **done},
    ]
    (window,) = fault_windows(history)
    assert window.kind == "power" and window.nodes == tuple(OWNERS) and not window.healed


def test_replicas_on_a_system_that_names_no_owners_powers_off_every_node() -> None:
    class FullyReplicated(PowerRecorder):
        # etcd, Redis: every node holds every key, and no node is asked
        capabilities = Capabilities(operations=frozenset(), data_dir=True, host_python=True)

    system = FullyReplicated()
    nem = bound(system, ("replicas",))
    op = nem.next_op(random.Random(1))
    assert op == {"f": "power-off", "value": {"target": "replicas", "nodes": sorted(NODES)}}
    nem.invoke(op)
    assert "preflist" not in [verb for verb, _ in system.calls]
    assert sorted(system.calls[: len(NODES)]) == [("kill", n) for n in sorted(NODES)]


def test_replicas_refuses_owners_that_are_not_in_the_cluster() -> None:
    system = PowerRecorder(owners=["n2", "n9"])
    nem = bound(system, ("replicas",))
    op = nem.next_op(random.Random(1))
    assert op is not None
    with pytest.raises(NemesisError, match=r"not in this cluster: \['n9'\]"):
        nem.invoke(op)


def test_teardown_starts_every_node_it_left_off_after_dropping_again() -> None:
    system = PowerRecorder()
    nem = bound(system, ("all",))
    op = nem.next_op(random.Random(2))
    assert op is not None
    nem.invoke(op)
    system.calls.clear()
    nem.teardown()
    for n in NODES:
        assert [verb for verb, node in system.calls if node == n] == ["stop", "drop", "start"]


def test_the_same_seed_gives_the_same_schedule() -> None:
    def schedule(seed: int) -> list[Any]:
        nem = PowerNemesis()
        nem.plan(NODES)
        rng = random.Random(seed)
        return [nem.next_op(rng) for _ in range(8)]

    assert schedule(4) == schedule(4)
    assert {op["value"]["target"] for op in schedule(4) if op} <= set(specs.POWER_TARGETS)


def test_a_system_that_names_no_data_directory_is_refused_before_any_host() -> None:
    from harness.options import TestOptions

    class Plain:
        name = "plain"
        capabilities = Capabilities(operations=frozenset())

    with pytest.raises(ValueError, match="system plain does not name its data directory"):
        power.check_system(Plain())  # type: ignore[arg-type]
    for system in ("dynamo", "etcd", "redis"):
        parts = build_parts(TestOptions(system=system, nemesis="power:one"))
        assert parts.nemesis.powerfs and parts.system.capabilities.data_dir


def _servers(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "nemesis.powerfs serve" in cmdline and str(path) in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.cluster
def test_the_mount_and_unmount_shell_leave_nothing(fuse: None, tmp_path: Path) -> None:
    data = tmp_path / "node" / "data"
    mount = power.mount_command(sys.executable, str(data), str(tmp_path / "node"))
    try:
        subprocess.run(["sh", "-c", mount], check=True, timeout=60, capture_output=True)
        assert is_mounted(data) and (tmp_path / "node" / "data.disk").is_dir()
        (data / "f").write_bytes(b"x")
        again = subprocess.run(["sh", "-c", mount], timeout=60, capture_output=True)
        assert again.returncode == 0 and is_mounted(data)  # a leftover mount is replaced
        assert not (data / "f").exists()
    finally:
        unmount = power.unmount_command(str(tmp_path / "node"))
        subprocess.run(["sh", "-c", unmount], check=True, timeout=60)
    assert not is_mounted(data)
    for _ in range(50):
        if not _servers(data):
            break
        time.sleep(0.1)
    assert _servers(data) == []


class LocalShell:
    """A host that is this machine: the command runs under ``sh -c`` with ``env``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run_shell(self, command: str, *, timeout: float, check: bool = True) -> Any:
        from harness.remote import Result

        r = subprocess.run(
            ["/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        return Result("local", command, r.returncode, r.stdout, r.stderr)


def test_a_host_without_fusermount3_fails_the_mount_at_once_saying_so(tmp_path: Path) -> None:
    tools = tmp_path / "bin"  # the shell's tools, and no fusermount3
    tools.mkdir()
    for tool in ("awk", "sort", "rm", "mkdir"):
        found = shutil.which(tool)
        assert found is not None
        (tools / tool).symlink_to(found)
    system = PowerRecorder()
    system.data_dir = lambda cluster, node: str(tmp_path / node / "data")  # type: ignore[method-assign]
    system.host_python = lambda cluster, node: sys.executable  # type: ignore[method-assign]

    class Host:
        nodes = NODES

        def remote(self, node: str) -> LocalShell:
            return LocalShell({**os.environ, "PATH": str(tools)})

        def remote_dir(self, node: str) -> str:
            return str(tmp_path / node)

    started = time.monotonic()
    with pytest.raises(
        NemesisError, match=r"n1: cannot mount powerfs at .*(fusermount3|/dev/fuse)"
    ):
        power.mount_data(Host(), system, "n1")  # type: ignore[arg-type]
    assert time.monotonic() - started < 30
    assert not is_mounted(tmp_path / "n1" / "data")
