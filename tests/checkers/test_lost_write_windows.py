"""Each lost write is listed with the fault windows its invoke→ack interval overlapped
(or none), by both durability checkers and in every report format."""

from __future__ import annotations

import json

from checkers import CausalRegister, SetFull
from checkers.faults import Timeline, fault_windows
from harness.analysis import analyze
from harness.report import lost_table, render_markdown, render_text

S = 1_000_000_000


def names(record):
    return [w["name"] for w in record["windows"]]


def test_timeline_overlapping_counts_a_window_met_anywhere_in_the_interval(crafted):
    crafted.nemesis("start-partition", {"n1": ["n2"]}, at=1.0)
    crafted.nemesis("stop-partition", None, at=2.0)
    crafted.nemesis("pause", ["n3"], at=3.0)
    crafted.nemesis("resume", ["n3"], at=4.0)
    timeline = Timeline(fault_windows(crafted.history()))

    def over(a, b):
        return [w.name for w in timeline.overlapping(round(a * S), round(b * S))]

    assert over(0.1, 0.9) == []  # before any fault
    assert over(0.5, 1.0) == ["partition#1"]  # ends as the partition begins
    assert over(1.5, 3.5) == ["partition#1", "pause#1"]  # spans two windows and the gap
    assert over(2.0, 2.9) == []  # the partition healed at 2.0: a half-open window
    assert over(0.0, 9.0) == ["partition#1", "pause#1"]
    assert over(3.2, 3.3) == ["pause#1"]  # wholly inside


def test_set_lost_add_invoked_before_a_kill_and_acked_inside_it_names_the_kill(crafted):
    h = crafted
    h.invoke(0, "add", 0.9, "s1", 1, node="n1")
    h.nemesis("kill", ["n2"], at=1.0)
    h.nemesis("start", ["n2"], at=1.1)  # healed before the ack: active-at-ack would miss it
    h.op("ok", 0, "add", 1.2, key="s1", value=1, node="n1")
    h.call(1, "add", "s1", 2, at=1.5)  # lost, but in no fault
    h.call(0, "read", "s1", at=3.0, result=[], final=True)
    lost = SetFull().check(h.history(), {}).details["lost"]
    assert [(x["element"], names(x)) for x in lost] == [(1, ["kill#1"]), (2, [])]
    assert lost[0]["windows"][0] == {
        "name": "kill#1",
        "kind": "kill",
        "nodes": ["n2"],
        "start": round(1.0 * S),
        "end": round(1.1 * S),
        "healed": True,
    }


def test_register_lost_write_lists_every_overlapping_window_and_an_unhealed_one(crafted):
    h = crafted
    h.call(1, "write", "r2", "w-2", context=[], at=0.1)  # before any fault
    h.nemesis("start-partition", {"n1": ["n3"], "n3": ["n1"]}, at=0.5)
    h.invoke(0, "write", 0.8, "r1", "w-1", node="n1", context=[])
    h.nemesis("stop-partition", None, at=1.0)
    h.nemesis("pause", ["n2"], at=1.2)  # never resumed
    h.op("ok", 0, "write", 1.3, key="r1", value="w-1", node="n1", context=[])
    h.call(0, "read", "r1", at=3.0, result=[], final=True)
    h.call(0, "read", "r2", at=3.1, result=[], final=True)
    lost = CausalRegister().check(h.history(), {}).details["lost"]
    by_id = {x["id"]: x for x in lost}
    assert names(by_id["w-1"]) == ["partition#1", "pause#1"]
    pause = by_id["w-1"]["windows"][1]
    assert (pause["nodes"], pause["healed"], pause["end"]) == (["n2"], False, round(3.101 * S))
    assert by_id["w-2"]["windows"] == []


def test_a_kept_write_during_a_fault_is_not_listed(crafted):
    h = crafted
    h.nemesis("start-partition", {"n1": ["n2"]}, at=0.5)
    h.call(0, "add", "s1", 1, at=0.6)
    h.nemesis("stop-partition", None, at=1.0)
    h.call(0, "read", "s1", at=2.0, result=[1], final=True)
    result = SetFull().check(h.history(), {})
    assert result.valid is True
    assert result.details["lost_count"] == 0


def window(name, start, end, nodes=("n1",), healed=True):
    kind = name.split("#")[0]
    return {"name": name, "kind": kind, "nodes": list(nodes), "start": start, "end": end,
            "healed": healed}  # fmt: skip


def test_lost_table_has_one_shape_for_set_and_register():
    span = window("partition#1", 1 * S, 2 * S, ("n1", "n2"))
    set_rec = {"element": 7, "key": "s1", "index": 4, "invoke_time": S, "ack_time": 2 * S,
               "windows": [span]}  # fmt: skip
    reg_rec = {"id": "w-7", "key": "r1", "index": 9, "invoke_time": S, "ack_time": 2 * S,
               "windows": []}  # fmt: skip
    a, b = lost_table([set_rec], 1, "element"), lost_table([reg_rec], 1, "id")
    assert a.headers[1:] == b.headers[1:]
    assert (a.headers[0], b.headers[0]) == ("element", "id")
    assert a.rows[0][-1] == "partition#1 on n1,n2 1.000-2.000 s"
    assert b.rows[0][-1] == "no fault"


def test_an_unhealed_window_says_so_in_the_report():
    rec = {"id": "w-1", "key": "r1", "index": 1, "invoke_time": 0, "ack_time": S,
           "windows": [window("kill#2", S // 2, 3 * S, ("n3",), healed=False)]}  # fmt: skip
    assert lost_table([rec], 1, "id").rows[0][-1] == "kill#2 on n3 0.500-3.000 s (unhealed)"


def test_reports_name_each_lost_write_with_its_windows_or_no_fault(make_run):
    run, lost = make_run("set", lose_at=frozenset({5, 20}))
    analyze(run)
    results = json.loads((run / "results.json").read_text())
    records = results["checkers"]["set"]["lost"]
    assert len(records) == len(lost) == 2
    text, md = render_text(run), render_markdown(results)
    rows = lost_table(records, len(records), "element").rows
    assert len(rows) == 2
    for row, record in zip(rows, records, strict=True):
        assert all(w["name"] in row[-1] for w in record["windows"])
        assert row[-1] in text and row[-1] in md
    assert "fault windows (invoke→ack)" in md
