"""Convergence: time from the last heal until every replica of every key agreed."""

from __future__ import annotations

import pytest

from checkers import Convergence


def healed_at_ten(h):
    h.nemesis("start-partition", {"n1": ["n2"]}, at=5.0)
    h.nemesis("stop-partition", None, at=10.0)


def test_convergence_time_is_from_the_heal_to_the_sample_that_made_all_agree(crafted):
    healed_at_ten(crafted)
    crafted.sample("r1", "n1", ["w-1"], at=11.0)
    crafted.sample("r2", "n1", ["w-2"], at=11.1)
    crafted.sample("r1", "n2", [], at=11.5)
    crafted.sample("r2", "n3", ["w-2"], at=11.6)
    crafted.sample("r1", "n2", ["w-1"], at=12.0)
    result = Convergence().check(crafted.history(), {})
    assert result.valid is True
    assert result.details["converged"] is True
    assert result.details["time"] == pytest.approx(2.0)
    assert result.details["keys"] == 2


def test_samples_before_the_heal_do_not_count(crafted):
    crafted.nemesis("start-partition", {"n1": ["n2"]}, at=1.0)
    crafted.sample("r1", "n1", ["w-1"], at=2.0)
    crafted.sample("r1", "n2", ["w-0"], at=2.5)
    crafted.nemesis("stop-partition", None, at=3.0)
    crafted.sample("r1", "n1", ["w-1"], at=3.5)
    crafted.sample("r1", "n2", ["w-1"], at=4.0)
    details = Convergence().check(crafted.history(), {}).details
    assert details["samples"] == 2
    assert details["time"] == pytest.approx(1.0)


def test_replicas_still_disagreeing_at_the_end_leave_the_verdict_unknown(crafted):
    healed_at_ten(crafted)
    crafted.sample("r1", "n1", ["w-1"], at=11.0)
    crafted.sample("r1", "n2", ["w-1", "w-2"], at=11.5)
    crafted.sample("r2", "n1", ["w-3"], at=11.6)
    crafted.sample("r2", "n2", [], at=11.7, type="fail")
    result = Convergence().check(crafted.history(), {})
    assert result.valid == "unknown"
    assert result.details["converged"] is False
    assert result.details["time"] is None
    assert result.details["diverged"] == ["r1", "r2"]


def test_without_samples_the_time_is_unknown_and_nothing_is_wrong(crafted):
    healed_at_ten(crafted)
    result = Convergence().check(crafted.history(), {})
    assert result.valid is True
    assert result.details["converged"] == "unknown"
    assert result.details["time"] is None
