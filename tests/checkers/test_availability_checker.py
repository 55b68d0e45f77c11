"""Availability: shares per group, unavailable windows, and recovery after a heal."""

from __future__ import annotations

import pytest

from checkers import Availability

TEST = {"nodes": ["n1", "n2"]}


@pytest.fixture
def outage(crafted):
    """Writes fail while n2 is killed; later reads fail with no fault at all."""
    h = crafted
    h.call(0, "write", "r1", "w-1", at=0.1, node="n1")  # 0-1 ok
    h.nemesis("kill", ["n2"], at=0.9)  # 2-3
    h.call(1, "write", "r1", "w-2", at=0.999, node="n2", outcome="fail")  # 4-5 done at 1.0
    h.call(2, "write", "r1", "w-3", at=1.499, node="n2", outcome="info")  # 6-7 done at 1.5
    h.call(3, "write", "r1", "w-4", at=2.599, node="n1", outcome="fail")  # 8-9 done at 2.6
    h.nemesis("start", ["n2"], at=2.0 + 0.7)  # 10-11 heal at 2.7
    h.call(3, "write", "r1", "w-5", at=2.999, node="n1")  # 12-13 ok at 3.0
    h.call(3, "read", "r1", at=4.0, node="n1", outcome="fail")  # 14-15 short run: 1 op
    h.call(3, "read", "r1", at=4.5, node="n1", result=["w-5"])  # 16-17
    h.call(3, "read", "r1", at=4.999, node="n2", outcome="fail")  # 18-19 done at 5.0
    h.call(3, "read", "r1", at=6.499, node="n2", outcome="fail")  # 20-21 done at 6.5
    h.call(3, "read", "r1", at=6.999, node="n2", result=["w-5"])  # 22-23 ok at 7.0
    return h.history()


def test_runs_of_failures_of_one_op_lasting_a_second_are_unavailable_windows(outage):
    details = Availability().check(outage, TEST).details
    assert details["unavailable_count"] == 2
    first, second = details["unavailable"]
    assert (first["f"], first["first_index"], first["last_index"], first["ops"]) == (
        "write",
        5,
        9,
        3,
    )
    assert first["duration"] == pytest.approx(1.6)
    assert first["faults"] == ["kill#1"]
    assert first["recovered"] is True
    assert (second["f"], second["first_index"], second["last_index"], second["ops"]) == (
        "read",
        19,
        21,
        2,
    )
    assert second["faults"] == []
    assert details["unavailable_healthy_count"] == 1


def test_availability_is_ok_over_all_outcomes_per_group(outage):
    details = Availability().check(outage, TEST).details
    assert details["overall"] == {"ok": 4, "fail": 5, "info": 1, "availability": 0.4}
    assert details["by_f"]["write"] == {"ok": 2, "fail": 2, "info": 1, "availability": 0.4}
    assert details["by_class"]["get"]["availability"] == pytest.approx(2 / 5)
    assert details["by_node"]["n2"] == {"ok": 1, "fail": 3, "info": 1, "availability": 0.2}
    # invoked inside kill#1 (0.9 .. 2.7): w-2, w-3 and w-4
    assert details["faulty"] == {"ok": 0, "fail": 2, "info": 1, "availability": 0.0}
    assert details["by_fault"] == {"kill": details["faulty"]}
    assert details["by_window"] == {"kill#1": details["faulty"]}
    assert details["healthy"]["availability"] == pytest.approx(4 / 7)


def test_recovery_is_the_time_from_heal_to_each_nodes_first_ok(outage):
    details = Availability().check(outage, TEST).details
    recovery = details["recovery"]["kill#1"]
    assert recovery["n1"] == pytest.approx(0.3)  # ok at 3.0, heal at 2.7
    assert recovery["n2"] == pytest.approx(4.3)  # ok at 7.0


def test_a_node_that_never_answers_after_the_heal_has_no_recovery(crafted):
    crafted.nemesis("kill", ["n2"], at=0.1)
    crafted.nemesis("start", ["n2"], at=0.2)
    crafted.call(0, "read", "r1", at=0.3, node="n1", result=[])
    recovery = Availability().check(crafted.history(), TEST).details["recovery"]
    assert recovery == {"kill#1": {"n1": pytest.approx(0.101), "n2": None}}


def test_availability_without_client_calls_is_unknown(crafted):
    crafted.nemesis("kill", ["n1"], at=0.1)
    assert Availability().check(crafted.history(), {}).valid == "unknown"


def test_calls_that_name_no_node_are_tallied_under_unknown(crafted):
    crafted.invoke(0, "read", 0.1, "r1")
    crafted.op("fail", 0, "read", 0.2, key="r1", value=None)
    crafted.call(1, "read", "r1", at=0.3, node="n1", result=[])
    by_node = Availability().check(crafted.history(), {}).details["by_node"]
    assert sorted(by_node) == ["n1", "unknown"]
    assert by_node["unknown"]["fail"] == 1


def test_recovery_uses_the_history_node_names_when_the_test_lists_addresses(crafted):
    crafted.nemesis("kill", ["n2"], at=0.1)
    crafted.nemesis("start", ["n2"], at=0.2)
    crafted.call(0, "read", "r1", at=0.3, node="n2", result=[])
    test = {"nodes": ["10.77.0.11", "10.77.0.12"]}
    recovery = Availability().check(crafted.history(), test).details["recovery"]
    assert recovery == {"kill#1": {"n2": pytest.approx(0.101)}}
