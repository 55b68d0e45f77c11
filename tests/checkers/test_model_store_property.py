"""The law of the durability checkers: they report exactly the writes a store lost.

Histories come from the model store of ``checkers.synth`` — concurrent clients, fault
windows, fail/info outcomes, siblings and deletes — which drops the acknowledged writes
it is told to and nothing else.
"""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from checkers import CausalRegister, SetFull
from checkers.synth import MS, Spec, generate

CHECKERS = {"set": (SetFull, "element"), "register": (CausalRegister, "id")}


def small(workload: str, seed: int, **bugs: object) -> Spec:
    """A short run with fault windows every 20 ms, and the bugs asked for."""
    return Spec(
        workload=workload,
        ops=600,
        keys=6,
        concurrency=5,
        faults=("partition", "kill", "pause"),
        fault_every=20 * MS,
        fault_for=10 * MS,
        seed=seed,
        **bugs,  # type: ignore[arg-type]
    )


@settings(max_examples=30, deadline=None)
@given(
    workload=st.sampled_from(["set", "register"]),
    lose_at=st.frozensets(st.integers(0, 59), max_size=6),
    seed=st.integers(0, 2**16),
)
@example(workload="register", lose_at=frozenset(), seed=0)
@example(workload="set", lose_at=frozenset(), seed=0)
def test_checker_reports_exactly_the_acknowledged_writes_the_store_lost(workload, lose_at, seed):
    synthetic = generate(small(workload, seed, lose_at=lose_at))
    assume(len(synthetic.lost) == len(lose_at))  # the run acknowledged enough writes
    checker, id_field = CHECKERS[workload]
    result = checker().check(synthetic.history, synthetic.test)
    found = [x[id_field] for x in result.details["lost"]]
    assert sorted(found, key=str) == sorted(synthetic.lost, key=str)
    assert result.details["lost_count"] == len(lose_at)
    assert result.valid is (not lose_at)


@settings(max_examples=20, deadline=None)
@given(
    workload=st.sampled_from(["set", "register"]),
    stale_at=st.frozensets(st.integers(0, 59), max_size=6),
    seed=st.integers(0, 2**16),
)
@example(workload="register", stale_at=frozenset(), seed=0)
@example(workload="set", stale_at=frozenset({3}), seed=0)
def test_checker_reports_exactly_the_writes_a_stale_replicas_final_reads_miss(
    workload, stale_at, seed
):
    spec = small(workload, seed, stale_at=stale_at, final_nodes=3)
    synthetic = generate(spec)
    checker, _ = CHECKERS[workload]
    result = checker().check(synthetic.history, synthetic.test)
    missed = [v for r in result.details["stale_final"] for v in r["missing"]]
    assert sorted(missed, key=str) == sorted(synthetic.stale, key=str)
    assert {r["node"] for r in result.details["stale_final"]} <= {spec.nodes[0]}
    assert result.details["lost_count"] == 0
    assert result.valid is (not synthetic.stale)
