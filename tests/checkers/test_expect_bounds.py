"""--expect bounds: the grammar, the metric names, and how a bound is judged."""

from __future__ import annotations

import pytest

from harness.expect import Bound, BoundError, evaluate, metrics, parse


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold"),
    [
        ("lost==0", "lost", "==", 0),
        ("availability.write>=0.99", "availability.write", ">=", 0.99),
        ("latency.put.p99<0.05", "latency.put.p99", "<", 0.05),
        (" latency.read.faulty.p999 <= 1e-1 ", "latency.read.faulty.p999", "<=", 0.1),
        ("availability.node.n3>0.5", "availability.node.n3", ">", 0.5),
        ("convergence.diverged!=1", "convergence.diverged", "!=", 1),
        ("unavailable.healthy==0", "unavailable.healthy", "==", 0),
    ],
)
def test_a_bound_is_metric_operator_number(text, metric, op, threshold):
    assert parse(text) == Bound(metric, op, threshold, text.strip())


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("lost=0", "expected METRIC OP NUMBER"),
        ("lost==", "expected METRIC OP NUMBER"),
        ("lost==zero", "expected METRIC OP NUMBER"),
        ("lots==0", "unknown metric 'lots'"),
        ("latency.put.p98<1", "unknown metric"),
        ("lost<=1.2.3", "is not a number"),
        ("lost<1e999", "must be finite"),
    ],
)
def test_a_malformed_bound_is_a_clear_error(text, complaint):
    with pytest.raises(BoundError, match=complaint):
        parse(text)


def test_a_bound_that_does_not_hold_is_broken_and_one_without_a_value_is_unknown():
    table = {"lost": 3, "availability.write": 0.995, "convergence": None}
    bounds = [parse("lost==0"), parse("availability.write>=0.99"), parse("convergence<5")]
    failures = evaluate(bounds, {"metrics": table})
    assert [(f.bound.text, f.actual, f.status) for f in failures] == [
        ("lost==0", 3, "broken"),
        ("convergence<5", None, "unknown"),
    ]
    assert str(failures[0]) == "lost==0: lost is 3"


def test_metrics_flatten_the_checker_results_under_documented_names():
    checkers = {
        "register": {
            "lost_count": 2,
            "resurrected_count": 1,
            "superseded_count": 7,
            "phantom_count": 0,
            "siblings": {"max": 4, "p99": 3, "mean": 1.5},
        },
        "availability": {
            "overall": {"availability": 0.9},
            "healthy": {"availability": 1.0},
            "faulty": {"availability": 0.5},
            "by_f": {"write": {"availability": 0.8}},
            "by_class": {"put": {"availability": 0.8}},
            "by_fault": {"partition": {"availability": 0.5}},
            "by_node": {"n1": {"availability": 0.7}},
            "unavailable": [{"duration": 1.5}, {"duration": 2.5}],
            "unavailable_count": 2,
            "unavailable_healthy_count": 0,
            "recovery": {"kill#1": {"n1": 0.2, "n2": None}},
        },
        "latency": {
            "all": {"all": {"p99": 0.01}, "healthy": {"p99": 0.005}, "faulty": {"p99": 0.02}},
            "by_class": {},
            "by_f": {},
        },
        "convergence": {"time": 3.5, "diverged_count": 0},
    }
    m = metrics(checkers)
    assert (m["lost"], m["resurrected"], m["superseded"], m["anomalies"]) == (2, 1, 7, 3)
    assert m["siblings.max"] == 4
    assert m["availability"] == 0.9
    assert m["availability.write"] == m["availability.put"] == 0.8
    assert m["availability.partition"] == 0.5
    assert m["availability.node.n1"] == 0.7
    assert (m["unavailable"], m["unavailable.healthy"], m["unavailable.max"]) == (2, 0, 2.5)
    assert (m["recovery.max"], m["recovery.never"]) == (0.2, 1)
    assert m["latency.all.p99"] == 0.01
    assert m["latency.all.faulty.p99"] == 0.02
    assert (m["convergence"], m["convergence.diverged"]) == (3.5, 0)
    for name in m:
        parse(f"{name}>=0")  # every metric produced can be bounded
