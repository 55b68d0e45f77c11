"""Checkers compose: one result each, and an overall verdict where false beats unknown."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from checkers import Checker, Result, compose, for_test, merge_validity

verdicts = st.sampled_from([True, False, "unknown"])


@dataclass(frozen=True)
class Fixed:
    name: str
    valid: object

    def check(self, history, test):
        return Result(self.name, self.valid, {"ops": len(history)})


class Broken:
    name = "broken"

    def check(self, history, test):
        raise RuntimeError("boom")


@given(st.lists(verdicts))
def test_false_beats_unknown_beats_true_in_any_order(vs):
    expected = False if False in vs else "unknown" if "unknown" in vs else True
    assert merge_validity(vs) == expected
    assert merge_validity(reversed(vs)) == expected


def test_compose_is_a_checker_with_one_nested_result_per_checker():
    both = compose(Fixed("a", True), Fixed("b", "unknown"))
    assert isinstance(both, Checker)
    result = both.check([{}], {})
    assert result.valid == "unknown"
    assert [r.name for r in result.results] == ["a", "b"]
    assert result.to_dict()["results"]["a"] == {"name": "a", "valid": True, "ops": 1}


def test_a_checker_that_raises_gives_unknown_and_keeps_the_others():
    result = compose(Fixed("a", False), Broken()).check([], {})
    assert result.valid is False
    broken = result.find("broken")
    assert broken is not None
    assert broken.valid == "unknown"
    assert broken.details == {"error": "RuntimeError: boom"}


def test_for_test_picks_the_durability_checker_of_the_workload():
    def names(workload):
        return [c.name for c in for_test({"workload": workload}).checkers]

    measures = ["availability", "latency", "convergence", "anti_entropy_convergence"]
    measures += ["resurrection"]
    measures += ["node_counters", "hints"]
    assert names("set") == ["set", *measures]
    assert names("register") == ["register", *measures]
    assert names("kv") == measures
    assert [c.name for c in for_test({}).checkers] == measures


def test_a_checker_that_measured_nothing_leaves_the_verdict_alone():
    assert merge_validity([True, "not measured"]) is True
    assert merge_validity(["not measured", False]) is False
    result = compose(Fixed("a", True), Fixed("b", "not measured")).check([], {})
    assert result.valid is True
    assert result.find("b").valid == "not measured"
