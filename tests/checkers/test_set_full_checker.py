"""The set workload's durability checker on hand-written histories: one per anomaly class."""

from __future__ import annotations

import pytest

from checkers import SetFull

S = 1_000_000_000


@pytest.fixture
def partitioned(crafted):
    """Adds of every outcome; element 2 is acknowledged during a partition, then lost."""
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)  # ok, kept
    h.nemesis("start-partition", {"n1": ["n2"], "n2": ["n1"]}, at=0.5)
    h.call(1, "add", "s1", 2, at=1.0)  # ok, lost (index 5)
    h.call(2, "add", "s1", 3, at=1.1, outcome="info")  # info, turns up: recovered
    h.call(3, "add", "s1", 4, at=1.2, outcome="info")  # info, never seen: fine
    h.call(4, "add", "s1", 5, at=1.3, outcome="fail")  # fail, never seen: fine
    h.call(5, "add", "s1", 6, at=1.4, outcome="fail")  # fail, yet in the final read
    h.call(0, "read", "s1", at=1.5, result=[1, 2, 99])  # 99 was never added (index 15)
    h.nemesis("stop-partition", None, at=2.0)
    h.call(0, "read", "s1", at=3.0, result=[1, 3, 6], final=True)  # index 19
    return h.history()


def test_acknowledged_add_missing_from_final_read_is_lost_with_its_fault_window(partitioned):
    result = SetFull().check(partitioned, {})
    assert result.valid is False
    assert result.details["lost_count"] == 1
    assert result.details["lost"] == [
        {
            "element": 2,
            "key": "s1",
            "index": 5,
            "invoke_time": 1 * S,
            "ack_time": round(1.001 * S),
            "last_seen": round(1.501 * S),
            "windows": [
                {
                    "name": "partition#1",
                    "kind": "partition",
                    "nodes": ["n1", "n2"],
                    "start": round(0.5 * S),
                    "end": round(2.0 * S),
                    "healed": True,
                }
            ],
        }
    ]


def test_info_add_in_final_read_is_recovered_not_an_anomaly(partitioned):
    result = SetFull().check(partitioned, {})
    assert result.details["recovered"] == [3]
    assert result.details["recovered_count"] == 1


def test_element_never_added_is_unexpected(partitioned):
    result = SetFull().check(partitioned, {})
    assert result.details["unexpected"] == [
        {"element": 99, "key": "s1", "index": 15, "time": round(1.501 * S)}
    ]


def test_element_of_a_failed_add_that_turns_up_is_failed_present(partitioned):
    result = SetFull().check(partitioned, {})
    assert result.details["failed_present"] == [
        {"element": 6, "key": "s1", "index": 19, "time": round(3.001 * S)}
    ]


def test_stable_and_lost_latencies_run_from_the_ack(partitioned):
    details = SetFull().check(partitioned, {}).details
    # element 1: acked at 0.101, shown by every read from the one begun at 1.5
    assert details["stable_elements"] == 1
    assert details["stable_latency"]["max"] == pytest.approx(1.5 - 0.101)
    # element 2: acked at 1.001, last seen by the read that returned at 1.501
    assert details["lost_latency"]["max"] == pytest.approx(0.5)


def test_element_added_to_another_key_is_unexpected_in_this_one(crafted):
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)
    h.call(0, "read", "s2", at=0.2, result=[1], final=True)
    h.call(0, "read", "s1", at=0.3, result=[1], final=True)
    details = SetFull().check(h.history(), {}).details
    assert [(u["element"], u["key"]) for u in details["unexpected"]] == [(1, "s2")]
    assert details["lost_count"] == 0


def test_add_acknowledged_after_the_final_read_began_is_unchecked_and_unknown(crafted):
    h = crafted
    h.invoke(1, "add", 1.0, "s1", 7)
    h.invoke(0, "read", 1.1, "s1", final=True)
    h.op("ok", 1, "add", 1.2, key="s1", value=7)
    h.op("ok", 0, "read", 1.3, key="s1", value=[], final=True)
    result = SetFull().check(h.history(), {})
    assert result.valid == "unknown"
    assert result.details["unchecked"] == [7]
    assert result.details["lost_count"] == 0


def test_final_read_missing_an_acknowledged_add_another_holds_is_stale_final(crafted):
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)
    h.call(0, "add", "s1", 2, at=0.2)
    h.call(1, "read", "s1", at=1.0, result=[1], final=True, node="n1")  # index 5
    h.call(2, "read", "s1", at=1.1, result=[1, 2], final=True, node="n2")
    result = SetFull().check(h.history(), {})
    assert result.valid is False
    assert result.details["lost_count"] == 0  # the final state (the union) holds 2
    assert result.details["final_disagreements"] == 1
    assert result.details["stale_final"] == [
        {"key": "s1", "node": "n1", "index": 5, "time": 1 * S, "missing": [2], "missing_count": 1}
    ]


def test_final_reads_that_all_hold_every_acknowledged_add_are_valid(crafted):
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)
    h.call(0, "add", "s1", 2, at=0.2)
    h.call(0, "add", "s1", 3, at=0.3, outcome="info")  # not acknowledged: not required
    h.call(1, "read", "s1", at=1.0, result=[1, 2], final=True, node="n1")
    h.call(2, "read", "s1", at=1.1, result=[1, 2, 3], final=True, node="n2")
    result = SetFull().check(h.history(), {})
    assert result.valid is True
    assert result.details["stale_final_count"] == 0


def test_final_read_begun_before_an_add_was_acknowledged_need_not_hold_it(crafted):
    h = crafted
    h.invoke(1, "add", 1.0, "s1", 7)
    h.invoke(0, "read", 1.1, "s1", final=True, node="n1")
    h.op("ok", 1, "add", 1.2, key="s1", value=7)
    h.op("ok", 0, "read", 1.3, key="s1", value=[], final=True, node="n1")
    h.call(2, "read", "s1", at=1.4, result=[7], final=True, node="n2")
    result = SetFull().check(h.history(), {})
    assert result.valid is True
    assert result.details["stale_final_count"] == 0


def test_without_final_marks_the_last_ok_read_is_the_final_one(crafted):
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)
    h.call(0, "read", "s1", at=0.2, result=[1])
    h.call(0, "read", "s1", at=0.3, result=[])
    h.call(0, "read", "s1", at=0.4, outcome="fail")
    details = SetFull().check(h.history(), {}).details
    assert [x["element"] for x in details["lost"]] == [1]


def test_key_with_acknowledged_adds_and_no_read_is_unknown(crafted):
    h = crafted
    h.call(0, "add", "s1", 1, at=0.1)
    result = SetFull().check(h.history(), {})
    assert result.valid == "unknown"
    assert result.details["unchecked"] == [1]
