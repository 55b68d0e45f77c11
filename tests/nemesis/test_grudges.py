"""Grudges: the laws each partition kind keeps, for any cluster size and node order."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from nemesis import grudges
from nemesis.partition import FEWEST_NODES, MAKERS, plan_grudge


def cluster(lo: int = 1, hi: int = 15) -> st.SearchStrategy[list[str]]:
    """Node names n1…nK in a random order (the order a shuffle would give)."""
    return st.integers(lo, hi).flatmap(
        lambda k: st.permutations([f"n{i}" for i in range(1, k + 1)])
    )


@given(cluster(), st.sampled_from(sorted(MAKERS)))
def test_every_partition_kind_is_symmetric(order: list[str], kind: str) -> None:
    g = MAKERS[kind](order)
    assert grudges.is_symmetric(g)
    assert all(node not in drops for node, drops in g.items())


@given(cluster(lo=2))
def test_halves_cut_into_two_sides_that_see_only_themselves(order: list[str]) -> None:
    views = grudges.views(grudges.halves(order), order)
    sides = {frozenset(v) for v in views.values()}
    assert len(sides) == 2
    assert sorted(len(s) for s in sides) == [len(order) // 2, len(order) - len(order) // 2]


@given(cluster(lo=3))
def test_majority_minority_leaves_exactly_one_side_with_a_majority(order: list[str]) -> None:
    m = grudges.majority(len(order))
    views = grudges.views(grudges.majority_minority(order), order)
    assert sum(len(v) >= m for v in views.values()) == m
    assert {len(v) for v in views.values()} == {m, len(order) - m}


@given(cluster(lo=2))
def test_isolating_one_node_leaves_it_alone_and_the_rest_together(order: list[str]) -> None:
    views = grudges.views(grudges.isolate(order), order)
    assert views[order[0]] == {order[0]}
    assert all(views[n] == set(order[1:]) for n in order[1:])


@given(cluster(lo=4))
def test_a_majorities_ring_gives_every_node_a_majority_no_two_the_same(order: list[str]) -> None:
    m = grudges.majority(len(order))
    views = grudges.views(grudges.majorities_ring(order), order)
    assert all(len(v) >= m for v in views.values())
    assert all(v != set(order) for v in views.values())  # everyone loses someone
    assert len({frozenset(v) for v in views.values()}) == len(order)


@given(cluster(lo=3))
def test_a_bridge_talks_to_both_sides_which_cannot_talk_to_each_other(order: list[str]) -> None:
    g = grudges.bridge(order)
    views = grudges.views(g, order)
    cut = len(order) // 2
    middle = order[cut]
    assert views[middle] == set(order)
    left, right = set(order[:cut]), set(order[cut:]) - {middle}
    assert all(views[a] == left | {middle} for a in left)
    assert all(views[b] == right | {middle} for b in right)
    if len(order) % 2 == 1:  # each side with the bridge is a majority
        assert len(left) + 1 == len(right) + 1 == grudges.majority(len(order))


@given(cluster(lo=2), st.sampled_from(sorted(MAKERS)), st.integers())
def test_a_planned_grudge_is_a_pure_function_of_the_seed(
    order: list[str], kind: str, seed: int
) -> None:
    if len(order) < FEWEST_NODES[kind]:
        return
    a = plan_grudge(kind, order, random.Random(seed))
    b = plan_grudge(kind, list(reversed(order)), random.Random(seed))
    assert a == b  # the order the nodes are listed in does not matter, only the seed
    assert a, f"{kind} cut nothing in {len(order)} nodes"


def test_the_recorded_grudge_is_sorted_lists_without_nodes_that_drop_nobody() -> None:
    g = grudges.bridge(["n1", "n2", "n3", "n4", "n5"])
    assert grudges.as_value(g) == {
        "n1": ["n4", "n5"],
        "n2": ["n4", "n5"],
        "n4": ["n1", "n2"],
        "n5": ["n1", "n2"],
    }
