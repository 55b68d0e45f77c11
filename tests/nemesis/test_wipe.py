"""The disk-wipe nemesis against a recording system: kill, wipe, start, in that order, and
every wiped node started again by heal ops or teardown."""

from __future__ import annotations

import random
from typing import Any

import pytest

import nemesis
from checkers.faults import CLOSES, OPENS
from nemesis import spec as specs
from nemesis.base import NemesisError
from nemesis.protocol import NemesisContext
from nemesis.wipe import WipeNemesis

NODES = ["n1", "n2", "n3", "n4", "n5"]


class Recorder:
    name = "fake"

    def __init__(self, *, can_wipe: bool = True) -> None:
        self.calls: list[tuple[str, str]] = []
        if can_wipe:
            self.wipe = lambda cluster, node: self.calls.append(("wipe", node))

    def __getattr__(self, verb: str) -> Any:
        if verb in ("kill", "stop", "start", "pause", "resume"):
            return lambda cluster, node: self.calls.append((verb, node))
        raise AttributeError(verb)


class FakeCluster:
    nodes = NODES


def bound(system: Any, nem: WipeNemesis | None = None) -> WipeNemesis:
    nem = nem or WipeNemesis(("one",))
    nem.setup(NemesisContext(FakeCluster(), system, random.Random(0)))  # type: ignore[arg-type]
    return nem


def test_wipe_is_not_in_all_and_defaults_to_one_node() -> None:
    assert "wipe" not in [f.kind for f in specs.parse("all").faults]
    assert specs.parse("wipe").fault("wipe").targets == ("one",)
    assert specs.parse("wipe:majority/all").fault("wipe").targets == ("majority", "all")
    with pytest.raises(ValueError, match="unknown target 'some'"):
        specs.parse("wipe:some")
    assert OPENS["wipe"] == CLOSES["start-wiped"] == "wipe"


def test_a_wipe_kills_deletes_then_start_wiped_starts_the_same_nodes() -> None:
    system = Recorder()
    nem = bound(system, WipeNemesis(("minority",)))
    rng = random.Random(3)
    op = nem.next_op(rng)
    assert op is not None and op["f"] == "wipe" and len(op["value"]) == 2
    nem.invoke(op)
    wiped = op["value"]
    for n in wiped:
        assert [verb for verb, node in system.calls if node == n] == ["kill", "wipe"]
    undo = nem.next_op(rng)
    assert undo == {"f": "start-wiped", "value": wiped}
    system.calls.clear()
    nem.invoke(undo)
    for n in wiped:
        mine = [verb for verb, node in system.calls if node == n]
        assert mine == ["stop", "wipe", "start"]
    system.calls.clear()
    nem.teardown()
    assert system.calls == []


def test_teardown_starts_a_node_left_wiped_and_heal_ops_close_the_window() -> None:
    system = Recorder()
    nem = bound(system)
    op = nem.next_op(random.Random(1))
    assert op is not None
    nem.invoke(op)
    assert nem.heal_ops() == [{"f": "start-wiped", "value": op["value"]}]
    system.calls.clear()
    nem.teardown()  # as after Ctrl-C, before the heal op ran
    assert [v for v, _ in system.calls] == ["stop", "wipe", "start"]


def test_wipe_and_kill_never_hold_the_same_node() -> None:
    n = nemesis.build("wipe:majority,kill:majority")
    n.plan(NODES)
    rng = random.Random(7)
    down: dict[str, set[str]] = {"wipe": set(), "kill": set()}
    for _ in range(200):
        op = n.next_op(rng)
        if op is None:
            continue
        f, nodes = op["f"], set(op["value"])
        if f in ("wipe", "kill"):
            other = "kill" if f == "wipe" else "wipe"
            assert not nodes & down[other]
            down[f] |= nodes
        else:
            down["wipe" if f == "start-wiped" else "kill"] -= nodes


def test_a_system_that_cannot_wipe_is_refused_at_setup() -> None:
    with pytest.raises(NemesisError, match="cannot wipe"):
        bound(Recorder(can_wipe=False))
