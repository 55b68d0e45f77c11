"""Node counters in the result, and the check that no hint was dropped undelivered."""

from __future__ import annotations

from dataclasses import replace

from checkers import Hints, NodeCounters, for_test
from checkers.synth import MS, Spec, generate


def counters(stored=0, delivered=0, dropped=0, **more):
    return {
        "hints_stored": stored,
        "hints_delivered": delivered,
        "hints_failed": more.pop("failed", 0),
        "hints_dropped": dropped,
        "read_repairs": more.pop("read_repairs", 0),
        "ae_keys_repaired": 0,
        "tombstones_reaped": 0,
    }


def test_a_hint_dropped_undelivered_makes_hints_invalid(crafted):
    crafted.counters({"n1": counters(5, 5), "n2": counters(4, 1, 3)}, at=1.0)
    result = Hints().check(crafted.history(), {})
    assert result.valid is False
    assert result.details["dropped"] == [{"node": "n2", "hints_dropped": 3, "index": 0}]


def test_a_drop_before_a_restart_still_counts(crafted):
    crafted.counters({"n1": counters(2, 1, 1)}, at=1.0)  # before n1 was wiped
    crafted.counters({"n1": counters()}, at=5.0)  # the new incarnation starts at zero
    assert Hints().check(crafted.history(), {}).valid is False


def test_every_hint_delivered_or_pending_is_valid_and_pending_is_reported(crafted):
    crafted.counters({"n1": counters(5, 5, failed=2), "n2": counters(4, 3)}, at=1.0)
    result = Hints().check(crafted.history(), {})
    assert result.valid is True
    assert result.details["pending"] == {"n1": 0, "n2": 1}


def test_a_node_that_could_not_be_asked_leaves_hints_unknown(crafted):
    crafted.counters({"n1": counters(5, 5), "n2": {"error": "connection refused"}}, at=1.0)
    assert Hints().check(crafted.history(), {}).valid == "unknown"
    nodes = NodeCounters().check(crafted.history(), {})
    assert nodes.details["unreported"] == ["n2"]


def test_node_counters_reports_each_nodes_last_report_and_totals(crafted):
    crafted.counters({"n1": counters(1, 1, read_repairs=7)}, at=1.0)
    crafted.counters({"n1": counters(2, 2, read_repairs=9), "n2": counters(3, 3)}, at=2.0)
    result = NodeCounters().check(crafted.history(), {})
    assert result.valid is True
    assert result.details["nodes"]["n1"]["read_repairs"] == 9
    assert result.details["totals"]["hints_stored"] == 5
    assert result.details["reports"] == 2


def test_without_counters_neither_checker_measures_anything(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    for checker in (Hints(), NodeCounters()):
        assert checker.check(crafted.history(), {}).valid == "not measured"


def test_model_store_that_drops_hints_is_caught_and_the_correct_one_passes():
    for drop, valid in ((0, True), (2, False)):
        spec = Spec(workload="set", ops=1500, fault_every=20 * MS, fault_for=10 * MS)
        synthetic = generate(replace(spec, counters=True, drop_hints=drop))
        result = for_test(synthetic.test).check(synthetic.history, synthetic.test)
        assert result.find("hints").valid is valid
        assert result.find("node_counters").details["totals"]["hints_stored"] > 0
        assert result.find("set").valid is True


def closing(loaded=0, stored=0, delivered=0, rerouted=0, pending=0, dropped=0):
    return counters(stored, delivered, dropped) | {
        "hints_loaded": loaded,
        "hints_rerouted": rerouted,
        "hints_pending": pending,
    }


def test_hints_that_close_are_valid_and_pending_is_the_nodes_own_figure(crafted):
    crafted.counters({"n1": closing(2, 5, 4, 1, 2), "n2": closing(0, 3, 3)}, at=1.0)
    result = Hints().check(crafted.history(), {})
    assert result.valid is True, result.details
    assert result.details["pending"] == {"n1": 2, "n2": 0}


def test_a_hint_that_vanished_without_delivery_makes_hints_invalid(crafted):
    """The silent drop: the node counts no drop, yet a stored hint is neither delivered,
    rerouted nor pending."""
    crafted.counters({"n1": closing(0, 5, 4, 0, 0), "n2": closing(1, 3, 4)}, at=1.0)
    result = Hints().check(crafted.history(), {})
    assert result.valid is False
    assert result.details["vanished"] == [{"node": "n1", "hints": 1}]


def test_a_report_without_the_accounting_fields_is_judged_on_drops_alone(crafted):
    crafted.counters({"n1": counters(5, 4)}, at=1.0)  # no loaded/rerouted/pending
    result = Hints().check(crafted.history(), {})
    assert result.valid is True
    assert result.details["vanished"] == []
