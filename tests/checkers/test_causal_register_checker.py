"""Causal durability and sibling handling (register workload) on hand-written histories."""

from __future__ import annotations

from checkers import CausalRegister

S = 1_000_000_000


def check(h):
    return CausalRegister().check(h.history(), {})


def test_write_superseded_by_a_later_write_in_the_final_read_is_not_lost(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "write", "r1", "w-2", context=["w-1"], at=0.2)
    crafted.call(0, "read", "r1", at=1.0, result=["w-2"], final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["superseded"] == ["w-1"]
    assert result.details["lost_count"] == 0


def test_supersession_is_transitive_through_a_visible_info_write(crafted):
    crafted.call(0, "write", "r1", "w-3", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-4", context=["w-3"], at=0.2, outcome="info")
    crafted.call(2, "write", "r1", "w-5", context=["w-4"], at=0.3)
    crafted.call(2, "read", "r1", at=1.0, result=["w-5"], final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["superseded"] == ["w-3"]
    assert result.details["recovered"] == ["w-4"]


def test_write_superseded_only_by_an_invisible_info_write_is_lost_in_its_window(crafted):
    crafted.nemesis("kill", ["n2"], at=0.05)
    crafted.call(0, "write", "r3", "w-6", context=[], at=0.1, node="n1")  # ok: index 3
    crafted.call(1, "write", "r3", "w-7", context=["w-6"], at=0.2, outcome="info")
    crafted.nemesis("start", ["n2"], at=0.5)
    crafted.call(2, "read", "r3", at=1.0, result=[], final=True)
    result = check(crafted)
    assert result.valid is False
    assert result.details["lost_count"] == 1
    assert result.details["lost"] == [
        {
            "id": "w-6",
            "key": "r3",
            "index": 3,
            "invoke_time": round(0.1 * S),
            "ack_time": round(0.101 * S),
            "node": "n1",
            "windows": [
                {
                    "name": "kill#1",
                    "kind": "kill",
                    "nodes": ["n2"],
                    "start": round(0.05 * S),
                    "end": round(0.5 * S),
                    "healed": True,
                }
            ],
            "superseded_by": ["w-7"],
        }
    ]


def test_a_failed_write_supersedes_nothing(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-2", context=["w-1"], at=0.2, outcome="fail")
    crafted.call(2, "read", "r1", at=1.0, result=[], final=True)
    result = check(crafted)
    assert [x["id"] for x in result.details["lost"]] == ["w-1"]
    assert result.details["lost"][0]["superseded_by"] == []


def test_write_removed_by_an_acknowledged_delete_is_superseded(crafted):
    crafted.call(0, "write", "r4", "w-8", context=[], at=0.1)
    crafted.call(0, "write", "r4", "w-9", context=["w-8"], at=0.2)
    crafted.call(0, "delete", "r4", context=["w-9"], at=0.3)
    crafted.call(0, "read", "r4", at=1.0, result=[], final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["superseded"] == ["w-8", "w-9"]


def test_version_a_delete_removed_coming_back_is_resurrected(crafted):
    crafted.call(0, "write", "r5", "w-10", context=[], at=0.1)
    crafted.call(0, "write", "r5", "w-11", context=["w-10"], at=0.2)
    crafted.call(0, "delete", "r5", context=["w-11"], at=0.3)  # ok: index 5
    crafted.call(0, "read", "r5", at=1.0, result=["w-10"], final=True)
    result = check(crafted)
    assert result.valid is False
    assert result.details["resurrected"] == [{"key": "r5", "delete_index": 5, "versions": ["w-10"]}]
    assert result.details["lost_count"] == 0  # w-11 was deleted, not lost


def test_versions_no_one_wrote_to_that_key_before_the_read_are_phantoms(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "read", "r6", at=0.2, result=["w-1", "w-99"])  # index 3
    crafted.call(0, "read", "r7", at=0.3, result=["w-12"])  # index 5
    crafted.call(0, "write", "r7", "w-12", context=[], at=0.4)
    crafted.call(0, "read", "r7", at=1.0, result=["w-12"], final=True)
    result = check(crafted)
    assert result.valid is False
    assert result.details["phantom"] == [
        {"id": "w-1", "key": "r6", "index": 3, "reason": "written to another key"},
        {"id": "w-99", "key": "r6", "index": 3, "reason": "never written"},
        {"id": "w-12", "key": "r7", "index": 5, "reason": "written after the read returned"},
    ]


def test_version_of_a_failed_write_that_is_read_is_failed_present(crafted):
    crafted.call(0, "write", "r8", "w-13", context=[], at=0.1, outcome="fail")
    crafted.call(1, "read", "r8", at=1.0, result=["w-13"], final=True)
    result = check(crafted)
    assert result.valid is False
    assert result.details["failed_present"] == [{"id": "w-13", "key": "r8", "index": 3}]


def test_siblings_holding_a_version_and_its_ancestor_are_a_false_conflict(crafted):
    crafted.call(0, "write", "r9", "w-14", context=[], at=0.1)
    crafted.call(0, "write", "r9", "w-15", context=["w-14"], at=0.2)
    crafted.call(1, "write", "r9", "w-16", context=["w-15"], at=0.3)
    crafted.call(1, "read", "r9", at=0.4, result=["w-14", "w-16"])  # index 7
    crafted.call(1, "read", "r9", at=1.0, result=["w-16"], final=True)
    result = check(crafted)
    assert result.valid is False
    assert result.details["false_conflicts_count"] == 1
    assert result.details["false_conflicts"] == [
        {"key": "r9", "index": 7, "pairs": [{"version": "w-16", "ancestor": "w-14"}]}
    ]


def test_concurrent_siblings_are_not_a_false_conflict(crafted):
    crafted.call(0, "write", "r9", "w-1", context=[], at=0.1)
    crafted.call(1, "write", "r9", "w-2", context=[], at=0.2)
    crafted.call(1, "read", "r9", at=1.0, result=["w-1", "w-2"], final=True)
    result = check(crafted)
    assert result.valid is True
    assert result.details["false_conflicts_count"] == 0


def test_sibling_counts_report_max_p99_and_the_papers_shares(crafted):
    versions = [f"w-{i}" for i in range(1, 6)]
    for i, v in enumerate(versions):
        crafted.call(i, "write", "r1", v, context=[], at=0.1 + i * 0.01)
    reads = [[], versions[:1], versions[:1], versions[:2], versions[:3], versions]
    for i, seen in enumerate(reads):
        crafted.call(10, "read", "r1", at=1.0 + i * 0.01, result=seen, final=i == 5)
    siblings = check(crafted).details["siblings"]
    assert siblings == {
        "reads": 6,
        "empty": 1,
        "max": 5,
        "p99": 5,
        "mean": (1 + 1 + 2 + 3 + 5) / 5,
        "share": {"1": 0.4, "2": 0.2, "3": 0.2, "4+": 0.2},
    }


def test_write_acknowledged_after_the_final_reads_began_is_unchecked(crafted):
    crafted.invoke(0, "write", 0.1, "r1", "w-1", context=[])
    crafted.invoke(1, "read", 0.2, "r1", final=True)
    crafted.op("ok", 0, "write", 0.3, key="r1", value="w-1", context=[])
    crafted.op("ok", 1, "read", 0.4, key="r1", value=[], context=[], final=True)
    result = check(crafted)
    assert result.valid == "unknown"
    assert result.details["unchecked"] == ["w-1"]


def test_final_read_holding_neither_a_write_nor_its_descendant_is_stale_final(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "write", "r1", "w-2", context=["w-1"], at=0.2)
    crafted.call(1, "read", "r1", at=1.0, result=["w-1"], final=True, node="n1")  # index 5
    crafted.call(2, "read", "r1", at=1.1, result=["w-2"], final=True, node="n2")
    result = check(crafted)
    assert result.valid is False
    assert result.details["lost_count"] == 0  # the union holds w-2, which covers w-1
    assert result.details["stale_final"] == [
        {"key": "r1", "node": "n1", "index": 5, "time": 1 * S, "missing": ["w-2"]}
        | {"missing_count": 1}
    ]


def test_final_reads_holding_a_descendant_or_a_deleted_write_are_not_stale(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(0, "write", "r1", "w-2", context=["w-1"], at=0.2, outcome="info")
    crafted.call(0, "write", "r2", "w-3", context=[], at=0.3)
    crafted.call(0, "delete", "r2", context=["w-3"], at=0.4)
    for i, node in enumerate(("n1", "n2")):
        crafted.call(1 + i, "read", "r1", at=1.0 + i, result=["w-2"], final=True, node=node)
        crafted.call(1 + i, "read", "r2", at=1.5 + i, result=[], final=True, node=node)
    result = check(crafted)
    assert result.valid is True
    assert result.details["stale_final_count"] == 0


def check_single(h):
    return CausalRegister().check(h.history(), {"single_value": True})


def test_on_a_single_value_store_a_later_blind_write_supersedes_an_earlier_one(crafted):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-2", context=[], at=0.2)
    crafted.call(0, "read", "r1", at=1.0, result=["w-2"], final=True)
    assert check(crafted).details["lost"][0]["id"] == "w-1"  # siblings were owed
    result = check_single(crafted)
    assert result.valid is True
    assert result.details["superseded"] == ["w-1"] and result.details["lost_count"] == 0


def test_on_a_single_value_store_a_final_value_written_before_the_write_began_loses_it(
    crafted,
):
    crafted.call(0, "write", "r1", "w-1", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-2", context=[], at=0.2)
    crafted.call(0, "read", "r1", at=1.0, result=["w-1"], final=True)
    result = check_single(crafted)
    assert result.valid is False
    assert [r["id"] for r in result.details["lost"]] == ["w-2"]


def test_on_a_single_value_store_a_concurrent_write_may_be_ordered_last(crafted):
    crafted.invoke(0, "write", 0.1, "r1", "w-1", context=[])
    crafted.call(1, "write", "r1", "w-2", context=[], at=0.2)
    crafted.op("ok", 0, "write", 0.6, key="r1", value="w-1", context=[])
    crafted.call(0, "read", "r1", at=1.0, result=["w-1"], final=True)
    result = check_single(crafted)
    assert result.valid is True and result.details["superseded"] == ["w-2"]


def test_on_a_single_value_store_only_a_delete_after_the_write_explains_an_absent_key(
    crafted,
):
    crafted.call(0, "delete", "r1", context=[], at=0.1)
    crafted.call(1, "write", "r1", "w-1", context=[], at=0.2)
    crafted.call(0, "write", "r2", "w-2", context=[], at=0.3)
    crafted.call(1, "delete", "r2", context=[], at=0.4)
    crafted.call(0, "read", "r1", at=1.0, result=[], final=True)
    crafted.call(0, "read", "r2", at=1.1, result=[], final=True)
    result = check_single(crafted)
    assert [r["id"] for r in result.details["lost"]] == ["w-1"]
    assert result.details["superseded"] == ["w-2"]
