"""anti_entropy_convergence: with no client traffic, do the replicas agree within the bound?"""

from __future__ import annotations

from checkers import AntiEntropyConvergence, for_test


def ae(crafted, key, node, value, at, round, type="ok"):
    fields = {"key": key, "node": node, "value": value, "round": round}
    if type != "ok":
        fields["error"] = "timeout"
    crafted.op(type, "anti-entropy", "read-local", at, **fields)


def check(crafted):
    return AntiEntropyConvergence().check(crafted.history(), {})


def test_replicas_that_come_to_agree_converge_and_the_time_is_from_the_phase_start(crafted):
    crafted.op("ok", "anti-entropy", "start", 10.0, value={"bound": 30})
    ae(crafted, "k1", "n1", ["a", "b"], 10.1, 0)
    ae(crafted, "k1", "n2", ["a"], 10.2, 0)  # n2 lacks b
    ae(crafted, "k2", "n1", ["c"], 10.3, 0)
    ae(crafted, "k2", "n3", ["c"], 10.4, 0)
    ae(crafted, "k1", "n1", ["a", "b"], 12.1, 1)
    ae(crafted, "k1", "n2", ["b", "a"], 12.2, 1)
    ae(crafted, "k2", "n1", ["c"], 12.3, 1)
    ae(crafted, "k2", "n3", ["c"], 12.5, 1)
    result = check(crafted)
    assert result.valid is True
    d = result.details
    assert (d["converged"], d["rounds"], d["keys"], d["bound"]) == (True, 2, 2, 30)
    assert abs(d["time"] - 2.5) < 1e-9
    assert d["diverged_at_start"] == 1
    assert d["diverged_count"] == 0


def test_replicas_still_apart_when_the_bound_passed_are_invalid_and_named(crafted):
    crafted.op("ok", "anti-entropy", "start", 10.0, value={"bound": 5})
    for r, at in enumerate((10.0, 13.0, 16.0)):
        ae(crafted, "k1", "n1", ["a", "b"], at + 0.1, r)
        ae(crafted, "k1", "n2", ["a"], at + 0.2, r)
        ae(crafted, "k2", "n1", ["c"], at + 0.3, r)
        ae(crafted, "k2", "n3", ["c"], at + 0.4, r)
    result = check(crafted)
    assert result.valid is False
    assert result.details["diverged"] == ["k1"]
    assert result.details["time"] is None
    assert result.details["rounds"] == 3


def test_a_failed_local_read_is_not_agreement(crafted):
    ae(crafted, "k1", "n1", ["a"], 1.0, 0)
    ae(crafted, "k1", "n2", None, 1.1, 0, type="fail")
    assert check(crafted).valid is False


def test_without_the_phase_nothing_is_measured(crafted):
    crafted.sample("k1", "n1", ["a"], 1.0)  # the later convergence samples are not the phase
    result = check(crafted)
    assert result.valid == "not measured"
    assert "anti_entropy_convergence" in {
        r.name for r in for_test({"workload": "set"}).check(crafted.history(), {}).results
    }
