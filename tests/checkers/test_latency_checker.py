"""Latency summaries of ok calls, healthy and faulty."""

from __future__ import annotations

import pytest

from checkers import Latency


def test_quantiles_are_nearest_rank_over_ok_calls_split_by_fault_windows(crafted):
    for i in range(1, 101):  # healthy writes taking 1..100 ms
        crafted.call(0, "write", "r1", f"w-{i}", at=i * 0.2, took=i / 1000)
    crafted.nemesis("start-partition", {"n1": ["n2"]}, at=30.0)
    crafted.call(0, "read", "r1", at=31.0, took=0.5, result=[])
    crafted.call(0, "read", "r1", at=32.0, took=2.0, outcome="info")  # not ok: left out
    details = Latency().check(crafted.history(), {}).details
    write = details["by_f"]["write"]
    assert write["healthy"]["count"] == 100
    assert write["healthy"]["p50"] == pytest.approx(0.050)
    assert write["healthy"]["p99"] == pytest.approx(0.099)
    assert write["healthy"]["p999"] == pytest.approx(0.100)
    assert write["healthy"]["mean"] == pytest.approx(0.0505)
    assert write["faulty"]["count"] == 0
    assert write["faulty"]["p99"] is None
    assert details["by_class"]["get"]["faulty"]["max"] == pytest.approx(0.5)
    assert details["all"]["all"]["count"] == 101
    assert details["all"]["all"]["max"] == pytest.approx(0.5)
