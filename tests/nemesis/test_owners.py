"""The ownership-aware partition against a recording cluster: owners come from the system's
preference list (a node is asked), each owner is cut off alone, flapping flips until stopped."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

import nemesis
from nemesis import owners as owners_mod
from nemesis import spec as specs
from nemesis.base import NemesisError
from nemesis.owners import OwnersNemesis, owners_grudge
from nemesis.protocol import NemesisContext
from systems.base import Capabilities

NODES = ["n1", "n2", "n3", "n4", "n5"]


class Result:
    stdout = ""


class FakeRemote:
    def __init__(self, log: list[tuple[str, str]], node: str) -> None:
        self.log, self.node = log, node

    def run_shell(self, command: str, *args: object, **_: Any) -> Result:
        self.log.append((self.node, command))
        return Result()


class FakeCluster:
    nodes = NODES
    control_address = "10.0.0.1"
    addresses = {n: f"10.0.0.{10 + i}" for i, n in enumerate(NODES)}

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def remote(self, node: str) -> FakeRemote:
        return FakeRemote(self.log, node)


class FakeSystem:
    name = "fake"
    capabilities = Capabilities(operations=frozenset(), owners=True)

    def __init__(self, owners: list[str]) -> None:
        self.owners = owners
        self.asked: list[tuple[str, str]] = []

    def endpoint(self, cluster: Any, node: str) -> str:
        return f"{node}:7000"

    async def preference_list(self, address: str, key: str) -> list[str]:
        self.asked.append((address, key))
        return self.owners


def started(owners: list[str], modes: tuple[str, ...]) -> tuple[OwnersNemesis, FakeCluster]:
    cluster = FakeCluster()
    nem = OwnersNemesis(modes)
    nem.setup(NemesisContext(cluster, FakeSystem(owners), random.Random(0)))  # type: ignore[arg-type]
    return nem, cluster


def drops(command: str) -> set[str]:
    return {part.split()[0] for part in command.split("-s ")[1:] if "DROP" in part}


def test_each_owner_is_alone_and_the_others_stay_together() -> None:
    g = owners_grudge(["n1", "n3", "n4"], NODES)
    assert g["n1"] == ["n2", "n3", "n4", "n5"] and g["n3"] == ["n1", "n2", "n4", "n5"]
    assert g["n2"] == ["n1", "n3", "n4"] and g["n5"] == ["n1", "n3", "n4"]


def test_start_asks_a_node_for_the_owners_and_cuts_each_off() -> None:
    nem, cluster = started(["n2", "n4", "n5"], ("steady",))
    op = nem.next_op(random.Random(1))
    assert op is not None and op["f"] == "start-owners"
    done = nem.invoke(op)
    assert done["value"]["nodes"] == ["n2", "n4", "n5"]
    assert nem.context.system.asked == [(f"{op['value']['asked']}:7000", op["value"]["key"])]  # type: ignore[attr-defined]
    last = {node: cmd for node, cmd in cluster.log}
    assert drops(last["n2"]) == {cluster.addresses[n] for n in ("n1", "n3", "n4", "n5")}
    assert drops(last["n1"]) == {cluster.addresses[n] for n in ("n2", "n4", "n5")}
    stop = nem.next_op(random.Random(1))
    assert stop is not None and stop["f"] == "stop-owners"
    nem.invoke(stop)
    assert all(drops(cmd) == set() for node, cmd in cluster.log[-5:])


def flapped(monkeypatch: pytest.MonkeyPatch, mode: str) -> tuple[dict[str, Any], FakeCluster]:
    """Start a ``mode`` cut of n1-n3, let it flip for 0.3 s, stop it: the stop's value."""
    monkeypatch.setattr(owners_mod, "FLAP", (0.01, 0.02))
    nem, cluster = started(["n1", "n2", "n3"], (mode,))
    rng = random.Random(2)
    for _ in range(2):
        op = nem.next_op(rng)
        assert op is not None
        done = nem.invoke(op)
        time.sleep(0.3)
    assert done["f"] == "stop-owners" and done["value"]["nodes"] == ["n1", "n2", "n3"]
    return done["value"], cluster


def test_flapping_heals_and_cuts_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    stopped, cluster = flapped(monkeypatch, "flapping")
    assert stopped["flips"] >= 3
    count = len(cluster.log)
    time.sleep(0.1)
    assert len(cluster.log) == count  # nothing flips after the stop
    assert all(drops(cmd) == set() for _, cmd in cluster.log[-5:])


def test_lossy_alternates_the_cut_with_loss_from_the_others_to_the_owners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped, cluster = flapped(monkeypatch, "lossy")
    assert stopped["flips"] >= 3
    lossy = [(n, c) for n, c in cluster.log if "DH-LOSS" in c and "statistic" in c]
    assert lossy and {n for n, _ in lossy} == {"n4", "n5"}
    owners = {cluster.addresses[n] for n in ("n1", "n2", "n3")}
    assert all(f"-d {a} " in c for _, c in lossy for a in owners)
    last = {n: c for n, c in cluster.log if "DH-LOSS" in c}
    assert all("statistic" not in c for c in last.values())  # the stop heals the loss too


def test_a_node_naming_strangers_is_an_error_and_heal_ops_end_the_cut() -> None:
    nem, _ = started(["n1", "n9"], ("steady",))
    op = nem.next_op(random.Random(3))
    assert op is not None
    with pytest.raises(NemesisError, match="not in this cluster"):
        nem.invoke(op)
    assert [o["f"] for o in nem.heal_ops()] == ["stop-owners"]


def test_owners_is_opt_in_and_never_composed_with_partition() -> None:
    assert "owners" not in [f.kind for f in specs.parse("all").faults]
    assert specs.parse("owners").fault("owners").targets == ("steady", "flapping", "lossy")
    for other in ("partition", "loss"):
        with pytest.raises(ValueError, match="not with partition or loss"):
            nemesis.build(f"owners,{other}")


def test_a_system_that_does_not_declare_owners_is_refused_even_with_a_preference_list() -> None:
    class Undeclared(FakeSystem):
        capabilities = Capabilities(operations=frozenset())

    nem = OwnersNemesis(("stop",))
    with pytest.raises(NemesisError, match="cannot say who owns a key"):
        nem.setup(NemesisContext(FakeCluster(), Undeclared(["n1"]), random.Random(0)))  # type: ignore[arg-type]
