"""Fault windows read off the nemesis ops."""

from __future__ import annotations

from checkers import fault_windows
from checkers.faults import Timeline, final_heal

S = 1_000_000_000


def test_each_fault_kind_opens_at_its_start_and_closes_at_its_heal(crafted):
    crafted.nemesis("start-partition", {"n1": ["n3"], "n3": ["n1"]}, at=1.0)
    crafted.nemesis("stop-partition", None, at=2.0)
    crafted.nemesis("kill", ["n1"], at=3.0)
    crafted.nemesis("kill", ["n2"], at=4.0)
    crafted.nemesis("start", ["n1"], at=5.0)  # n2 still down: the window stays open
    crafted.nemesis("start", ["n2"], at=6.0)
    crafted.nemesis("bump-clock", {"n4": 0.25}, at=7.0)
    crafted.nemesis("reset-clock", None, at=8.0)
    crafted.nemesis("start-loss", {"nodes": ["n5"], "probability": 0.2}, at=9.0)
    crafted.nemesis("stop-loss", None, at=10.0)
    crafted.nemesis("pause", ["n3"], at=11.0)
    crafted.call(0, "read", "r1", at=12.0, result=[])
    windows = fault_windows(crafted.history())
    assert [(w.name, w.start / S, w.end / S, w.healed, w.nodes) for w in windows] == [
        ("partition#1", 1.0, 2.0, True, ("n1", "n3")),
        ("kill#1", 3.0, 6.0, True, ("n1", "n2")),
        ("clock#1", 7.0, 8.0, True, ("n4",)),
        ("loss#1", 9.0, 10.0, True, ("n5",)),
        ("pause#1", 11.0, 12.001, False, ("n3",)),
    ]
    assert final_heal(windows) == round(12.001 * S)


def test_a_failed_nemesis_op_opens_no_window(crafted):
    crafted.op("invoke", "nemesis", "start-partition", 1.0, value={"n1": ["n2"]})
    crafted.op("fail", "nemesis", "start-partition", 1.0, value=None, error="ssh down")
    assert fault_windows(crafted.history()) == []


def test_timeline_names_the_windows_active_at_a_time(crafted):
    crafted.nemesis("start-partition", {"n1": ["n2"]}, at=1.0)
    crafted.nemesis("kill", ["n3"], at=2.0)
    crafted.nemesis("stop-partition", None, at=3.0)
    crafted.nemesis("start", ["n3"], at=4.0)
    timeline = Timeline(fault_windows(crafted.history()))
    names = [[w.name for w in timeline.active(round(t * S))] for t in (0.5, 1.0, 2.5, 3.0, 4.0)]
    assert names == [[], ["partition#1"], ["partition#1", "kill#1"], ["kill#1"], []]
