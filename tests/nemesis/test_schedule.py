"""Schedules: the ``--nemesis`` grammar, target sizes, seeds, and that heal ops end every fault."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nemesis
from checkers.faults import CLOSES, OPENS  # the op shapes the checkers read
from nemesis import spec as specs
from nemesis import targets
from nemesis.base import NemesisError
from nemesis.compose import Compose

NODES = ["n1", "n2", "n3", "n4", "n5"]
SPEC_TEXTS = st.sampled_from(
    [
        "partition",
        "kill",
        "pause",
        "clock",
        "loss",
        "all",
        "kill,pause",
        "partition-majorities-ring,clock:one,loss:minority/all,p=0.5",
        "bridge,kill:majority",
    ]
)


def schedule(text: str, seed: int, count: int, nodes: list[str] = NODES) -> list[dict[str, Any]]:
    n = nemesis.build(text)
    n.plan(nodes)
    rng = random.Random(f"{seed}/nemesis")
    return [op for op in (n.next_op(rng) for _ in range(count)) if op is not None]


def test_names_and_aliases_parse_to_faults_with_their_targets() -> None:
    s = specs.parse("partition-majorities-ring,kill:one/all,clock,p=0.5,skew=4")
    assert [(f.kind, f.targets) for f in s.faults] == [
        ("partition", ("ring",)),
        ("kill", ("one", "all")),
        ("clock", targets.SPECS),
    ]
    assert (s.probability, s.skew) == (0.5, 4.0)
    assert [f.kind for f in specs.parse("all").faults] == list(specs.FAULTS)
    assert specs.parse("none").faults == ()
    assert specs.parse("bridge,partition:one").fault("partition").targets == ("bridge", "one")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("partitions", "unknown nemesis 'partitions'"),
        ("kill:some", "unknown target 'some'"),
        ("partition:minority", "unknown target 'minority'"),
        ("bridge:one", "takes no targets"),
        ("loss,p=1.5", "(0, 1]"),
        ("clock,skew=0", "must be > 0"),
        ("clock,drift=3", "unknown nemesis parameter"),
        ("loss,p=lots", "not a number"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace("]", r"\]")):
        specs.parse(text)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (1, (1, 0, 1, 1)),
        (2, (1, 0, 2, 2)),
        (3, (1, 1, 2, 3)),
        (5, (1, 2, 3, 5)),
        (6, (1, 2, 4, 6)),
        (0, (0, 0, 0, 0)),
    ],
)
def test_target_sizes(n: int, sizes: tuple[int, ...]) -> None:
    assert tuple(targets.size(s, n) for s in targets.SPECS) == sizes


@given(st.integers(0, 12), st.sampled_from(targets.SPECS), st.integers())
def test_a_minority_is_never_a_majority_and_picks_are_distinct_nodes(
    n: int, spec: str, seed: int
) -> None:
    nodes = [f"n{i}" for i in range(1, n + 1)]
    chosen = targets.pick(spec, nodes, random.Random(seed))
    assert len(set(chosen)) == len(chosen) == targets.size(spec, n)
    assert set(chosen) <= set(nodes) and chosen == sorted(chosen)
    assert targets.size("minority", n) * 2 < max(n, 1)
    assert n <= targets.size("majority", n) * 2


@given(SPEC_TEXTS, st.integers(0, 2**32))
def test_the_same_seed_gives_the_same_schedule(text: str, seed: int) -> None:
    assert schedule(text, seed, 30) == schedule(text, seed, 30)


def test_different_seeds_give_different_schedules() -> None:
    assert len({str(schedule("all", seed, 20)) for seed in range(10)}) == 10


@given(SPEC_TEXTS, st.integers(0, 2**32), st.integers(0, 40))
def test_heal_ops_end_every_fault_the_schedule_started(text: str, seed: int, k: int) -> None:
    n = nemesis.build(text)
    n.plan(NODES)
    rng = random.Random(seed)
    open_: set[str] = set()
    for op in [n.next_op(rng) for _ in range(k)] + [None, *n.heal_ops()]:
        if op is None:
            continue
        f = op["f"]
        if f in OPENS:
            assert OPENS[f] not in open_, f"{f} while {OPENS[f]} already in force"
            open_.add(OPENS[f])
        else:
            assert CLOSES[f] in open_, f"{f} without a fault to end"
            open_.discard(CLOSES[f])
    assert open_ == set()
    assert n.heal_ops() == []


@given(st.integers(0, 2**32))
def test_kill_and_pause_never_hold_the_same_node(seed: int) -> None:
    killed: set[str] = set()
    paused: set[str] = set()
    for op in schedule("kill,pause", seed, 40):
        held = {"kill": killed, "pause": paused}.get(op["f"])
        if held is not None:
            assert not set(op["value"]) & (killed | paused)
            held.update(op["value"])
        else:
            ({"start": killed, "resume": paused}[op["f"]]).difference_update(op["value"])


@given(st.integers(0, 2**32))
def test_every_op_value_says_what_it_does_in_the_shape_checkers_read(seed: int) -> None:
    for op in schedule("all,p=0.25,skew=10", seed, 40):
        f, v = op["f"], op["value"]
        if f.endswith("-partition"):
            assert v and all(set(d) <= set(NODES) - {a} for a, d in v.items())
        elif f in ("kill", "start", "pause", "resume"):
            assert v and set(v) <= set(NODES)
        elif f.endswith("-clock"):
            assert v and set(v) <= set(NODES)
            bound = (0, 0) if f == "reset-clock" else (1.0, 10.0)
            assert all(bound[0] <= abs(x) <= bound[1] for x in v.values())
        else:
            assert v["probability"] == 0.25 and set(v["nodes"]) <= set(NODES)


class Part:
    """A stand-in part that records what it was asked and can fail its teardown."""

    def __init__(self, name: str, fails: bool = False) -> None:
        self.name, self.fails = name, fails
        self.fs = frozenset({f"start-{name}", f"stop-{name}"})
        self.torn = False

    def plan(self, nodes: list[str]) -> None:
        pass

    def setup(self, ctx: object) -> None:
        pass

    def next_op(self, rng: random.Random) -> dict[str, Any] | None:
        return {"f": f"start-{self.name}", "value": None}

    def invoke(self, op: dict[str, Any]) -> dict[str, Any]:
        return {**op, "value": self.name}

    def heal_ops(self) -> list[dict[str, Any]]:
        return [{"f": f"stop-{self.name}", "value": None}]

    def teardown(self) -> None:
        self.torn = True
        if self.fails:
            raise NemesisError(f"{self.name} could not heal")


def test_compose_routes_each_op_to_its_part_and_tears_down_all_even_after_a_failure() -> None:
    a, b, c = Part("a"), Part("b", fails=True), Part("c")
    both = Compose([a, b, c])  # type: ignore[list-item]
    assert both.invoke({"f": "stop-c", "value": None})["value"] == "c"
    assert [op["f"] for op in both.heal_ops()] == ["stop-a", "stop-b", "stop-c"]
    with pytest.raises(NemesisError, match="b could not heal"):
        both.teardown()
    assert a.torn and b.torn and c.torn
    with pytest.raises(NemesisError, match="no nemesis here"):
        both.invoke({"f": "start-partition", "value": {}})


def test_two_parts_that_handle_the_same_op_cannot_be_composed() -> None:
    with pytest.raises(ValueError, match="both handle"):
        Compose([Part("a"), Part("a")])  # type: ignore[list-item]


def test_the_harness_builds_every_listed_name() -> None:
    from harness import faults

    assert set(nemesis.NAMES) <= set(faults.names())
    for name in faults.names():
        assert faults.build(name).name
    assert faults.build("kill,pause").name == "kill+pause"
