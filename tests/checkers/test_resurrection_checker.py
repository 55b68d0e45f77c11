"""Resurrection: what an acknowledged delete superseded is never read again after its ack."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from checkers import Resurrection, for_test
from checkers.synth import MS, Spec, generate

S = 1_000_000_000


def check(h):
    return Resurrection().check(h.history(), {})


def test_a_version_a_final_read_returns_after_the_delete_that_superseded_it_is_resurrected(
    crafted,
):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2)  # ack index 3 at 0.201
    crafted.call(1, "read", "r1", at=0.5, result=["w-1"], node="n2", final=True)  # index 5
    result = check(crafted)
    assert result.valid is False
    assert result.details["resurrected"] == [
        {
            "key": "r1",
            "versions": ["w-1"],
            "delete_index": 3,
            "read_index": 5,
            "node": "n2",
            "final": True,
            "after": pytest.approx(0.5 - 0.201),
        }
    ]


def test_a_dead_version_read_during_the_run_is_a_stale_read_not_a_resurrection(crafted):
    # a sloppy quorum may acknowledge a delete on fallbacks: a read of other replicas
    # during the run does not see it yet, as it need not see an acknowledged write
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2)
    crafted.call(1, "read", "r1", at=0.5, result=["w-1"], node="n2")
    crafted.call(1, "read", "r1", at=2.0, result=[], node="n2", final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["resurrected_count"] == 0
    assert [(r["versions"], r["final"]) for r in result.details["stale_after_delete"]] == [
        (["w-1"], False)
    ]


def test_a_delete_followed_only_by_reads_during_the_run_is_unknown(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2)
    crafted.call(1, "read", "r1", at=0.5, result=[], node="n2")
    assert check(crafted).valid == "unknown"


def test_an_ancestor_of_a_deleted_version_is_dead_too(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "write", "r1", "w-2", context=["w-1"], at=0.2)
    crafted.call(0, "delete", "r1", context=["w-2"], at=0.3)
    crafted.call(1, "read", "r1", at=2.0, result=["w-1"], final=True)
    result = check(crafted)
    assert result.valid is False
    assert [(r["versions"], r["final"]) for r in result.details["resurrected"]] == [(["w-1"], True)]


def test_concurrent_and_later_writes_and_reads_begun_before_the_ack_are_fine(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-2", context=[], at=0.15)  # concurrent: not named
    crafted.invoke(2, "read", 0.19, "r1", node="n1")  # begun before the delete's ack
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2)
    crafted.op("ok", 2, "read", 0.3, key="r1", value=["w-1", "w-2"], node="n1")
    crafted.call(0, "write", "r1", "w-3", context=[], at=0.4)  # a new value after the delete
    crafted.call(1, "read", "r1", at=1.0, result=["w-2", "w-3"], final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["deletes_read_after"] == 1
    assert result.details["resurrected_count"] == 0


def test_without_an_acknowledged_delete_nothing_is_measured(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2, outcome="fail")
    crafted.call(1, "read", "r1", at=0.5, result=["w-1"])
    result = check(crafted)
    assert result.valid == "not measured"
    assert for_test({"workload": "register"}).check(crafted.history(), {}).valid is True


def test_a_delete_no_read_followed_is_unknown(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "delete", "r1", context=["w-1"], at=0.2)
    assert check(crafted).valid == "unknown"


@settings(max_examples=20, deadline=None)
@given(resurrect_at=st.frozensets(st.integers(0, 9), max_size=3), seed=st.integers(0, 2**16))
@example(resurrect_at=frozenset(), seed=0)
@example(resurrect_at=frozenset({0, 1, 2}), seed=0)
def test_checker_finds_exactly_the_versions_a_lost_tombstone_let_reads_return(resurrect_at, seed):
    spec = Spec(
        workload="register",
        ops=800,
        keys=4,
        concurrency=5,
        faults=("partition",),
        fault_every=20 * MS,
        fault_for=10 * MS,
        delete_share=0.3,
        resurrect_at=resurrect_at,
        final_nodes=3,
        seed=seed,
    )
    synthetic = generate(spec)
    result = Resurrection().check(synthetic.history, synthetic.test)
    found = {v for r in result.details["resurrected"] for v in r["versions"]}
    assert found == set(synthetic.resurrected)
    assert (result.valid is False) is bool(synthetic.resurrected)
