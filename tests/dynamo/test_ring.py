from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dynamo.ring import Ring

partitions = st.sampled_from([16, 32, 64, 128, 256])
names = st.integers(min_value=1, max_value=12).map(lambda s: [f"n{i}" for i in range(1, s + 1)])


def spread(ring: Ring) -> int:
    load = ring.load()
    return max(load.values()) - min(load.values())


@given(names, partitions)
def test_balanced_ring_loads_differ_by_at_most_one(nodes: list[str], q: int) -> None:
    assert spread(Ring.balanced(nodes, q)) <= 1


@given(names, partitions, st.lists(st.booleans(), max_size=8), st.randoms())
def test_joins_and_leaves_keep_loads_within_one(
    nodes: list[str], q: int, joins: list[bool], rnd
) -> None:
    ring = Ring.balanced(nodes, q)
    fresh = 100
    for join in joins:
        if join and len(ring.nodes) < q:
            ring = ring.with_node(f"x{fresh}")
            fresh += 1
        elif not join and len(ring.nodes) > 1:
            ring = ring.without_node(rnd.choice(ring.nodes))
        assert spread(ring) <= 1


@given(names, partitions, st.text(min_size=1), st.integers(min_value=1, max_value=12))
def test_preference_list_has_n_distinct_nodes(nodes: list[str], q: int, key: str, n: int) -> None:
    ring = Ring.balanced(nodes, q)
    n = min(n, len(nodes))
    prefs = ring.preference_list(key, n)
    assert len(prefs) == n == len(set(prefs))
    extended = ring.preference_list(key)
    assert extended[:n] == prefs and sorted(extended) == sorted(nodes)


@given(names, partitions)
def test_a_joining_node_takes_only_what_it_ends_up_owning(nodes: list[str], q: int) -> None:
    before = Ring.balanced(nodes, q)
    if len(nodes) >= q:
        return
    after = before.with_node("new")
    moved = before.moved(after)
    assert all(after.owners[p] == "new" for p in moved)
    assert len(moved) == after.load()["new"] <= -(-q // (len(nodes) + 1))


@given(names, partitions, st.data())
def test_a_leaving_node_gives_away_only_its_own_partitions(nodes, q: int, data) -> None:
    before = Ring.balanced(nodes, q)
    if len(nodes) < 2:
        return
    leaving = data.draw(st.sampled_from(nodes))
    after = before.without_node(leaving)
    assert set(before.moved(after)) == set(before.owned(leaving))
    assert leaving not in after.nodes


def test_keys_spread_over_all_partitions() -> None:
    ring = Ring.balanced(["n1", "n2", "n3"], 16)
    seen = {ring.partition_of(f"key-{i}") for i in range(2000)}
    assert seen == set(range(16))


def test_partition_count_must_be_a_power_of_two() -> None:
    import pytest

    with pytest.raises(ValueError, match="power of two"):
        Ring.balanced(["n1"], 12)
