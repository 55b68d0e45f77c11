"""Laws of the DVV object model, and the property that matters: no write is ever lost and no
sibling set holds a version beside its ancestor, whatever the interleaving."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamo.versions import (
    Dot,
    VersionedObject,
    decode,
    decode_context,
    descends,
    encode,
    encode_context,
    merge,
    update,
)

vvs = st.dictionaries(st.sampled_from("abcd"), st.integers(min_value=1, max_value=5), max_size=4)


def same(a: VersionedObject, b: VersionedObject) -> bool:
    return a.siblings == b.siblings and a.vv == b.vv


@given(vvs)
def test_descends_is_reflexive(a) -> None:
    assert descends(a, a)


@given(vvs, vvs)
def test_descends_is_antisymmetric(a, b) -> None:
    if descends(a, b) and descends(b, a):
        assert a == b


@given(vvs, vvs, vvs)
def test_descends_is_transitive(a, b, c) -> None:
    if descends(a, b) and descends(b, c):
        assert descends(a, c)


@given(vvs)
def test_context_round_trips(vv) -> None:
    assert decode_context(encode_context(vv)) == vv


@dataclass
class World:
    """Replicas, each writing as its own actor, and the true causal past of every write."""

    replicas: list[VersionedObject]
    ancestors: dict[Dot, set[Dot]] = field(default_factory=dict)
    contexts: list[tuple[dict[str, int], set[Dot]]] = field(default_factory=list)


def run(ops: list[tuple[str, int, int]], replicas: int = 3, lww: bool = False) -> World:
    world = World([VersionedObject() for _ in range(replicas)])
    for clock, (kind, i, j) in enumerate(ops):
        i %= replicas
        if kind == "read":
            obj = world.replicas[i]
            seen = {s.dot for s in obj.siblings}
            past = set(seen).union(*(world.ancestors[d] for d in seen))
            world.contexts.append((dict(obj.vv), past))
        elif kind == "write":
            ctx, past = world.contexts[j % len(world.contexts)] if world.contexts else ({}, set())
            if j % 4 == 0:
                ctx, past = {}, set()  # a blind write
            local = world.replicas[i]
            new = update(local, ctx, f"r{i}", f"v{clock}".encode(), float(clock), lww=lww)
            dot = max((s.dot for s in new.siblings), key=lambda d: (d[0] == f"r{i}", d[1]))
            world.ancestors[dot] = set(past)
            world.replicas[i] = new
        else:
            j %= replicas
            world.replicas[j] = merge(world.replicas[j], world.replicas[i], lww=lww)
    return world


op_lists = st.lists(
    st.tuples(
        st.sampled_from(["read", "write", "write", "sync"]),
        st.integers(min_value=0, max_value=5),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(op_lists)
def test_no_write_is_lost_and_no_sibling_set_holds_an_ancestor(ops) -> None:
    world = run(ops)
    final = VersionedObject()
    for obj in world.replicas:
        final = merge(final, obj)
        for s in obj.siblings:
            for t in obj.siblings:
                assert s.dot not in world.ancestors[t.dot], (s.dot, t.dot)
    kept = {s.dot for s in final.siblings}
    superseded = set().union(*(world.ancestors[d] for d in kept))
    for dot in world.ancestors:
        assert dot in kept or dot in superseded, f"write {dot} was lost"


@settings(max_examples=150)
@given(op_lists, st.data())
def test_merge_is_commutative_associative_and_idempotent(ops, data) -> None:
    world = run(ops, replicas=3)
    a, b, c = world.replicas
    assert same(merge(a, b), merge(b, a))
    assert same(merge(merge(a, b), c), merge(a, merge(b, c)))
    assert same(merge(a, a), a)


@given(op_lists)
def test_objects_survive_encoding(ops) -> None:
    for obj in run(ops).replicas:
        assert same(decode(encode(obj)), obj)


def test_concurrent_writes_with_the_same_context_through_one_coordinator_are_siblings() -> None:
    base = update(VersionedObject(), {}, "n1", b"v0", 0.0)
    ctx = dict(base.vv)
    first = update(base, ctx, "n1", b"a", 1.0)
    second = update(first, ctx, "n1", b"b", 2.0)
    assert second.values == [b"a", b"b"]
    resolved = update(second, second.vv, "n1", b"ab", 3.0)
    assert resolved.values == [b"ab"]


def test_lww_keeps_only_the_newest_timestamp_and_loses_the_other_write() -> None:
    a = update(VersionedObject(), {}, "n1", b"late-clock", 100.0, lww=True)
    b = update(VersionedObject(), {}, "n2", b"true-last", 50.0, lww=True)
    assert merge(a, b, lww=True).values == [b"late-clock"]
    assert merge(b, a, lww=True).values == [b"late-clock"]


def test_a_delete_is_a_tombstone_that_hides_the_value_and_keeps_the_clock() -> None:
    obj = update(VersionedObject(), {}, "n1", b"x", 1.0)
    gone = update(obj, obj.vv, "n1", None, 2.0)
    assert gone.values == [] and len(gone.siblings) == 1 and gone.siblings[0].deleted
    assert merge(obj, gone).values == []
