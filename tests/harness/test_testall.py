"""test-all's pure parts: the matrix, the worst verdict, the summary and JUnit output."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import junit, testall
from harness.exitcodes import ExitCode
from harness.options import TestOptions


def results(valid: object, lost: int, bound: str = "held") -> dict:
    return {
        "test": {"name": "set-partition"},
        "valid": valid,
        "ops": {"client_calls": 1234},
        "checkers": {
            "set": {"valid": valid, "lost_count": lost},
            "availability": {"valid": True, "overall": {"availability": 0.97}},
        },
        "expect": [{"bound": "lost==0", "actual": lost, "result": bound}],
        "metrics": {"lost": lost, "availability": 0.97, "latency.all.p99": 0.0123},
    }


def test_the_worst_verdict_wins_with_a_crash_worst_of_all() -> None:
    v, i, u, f = ExitCode.VALID, ExitCode.INVALID, ExitCode.UNKNOWN, ExitCode.HARNESS_FAILED
    assert testall.worst([v, u, v]) == u
    assert testall.worst([u, i, v]) == i
    assert testall.worst([i, f]) == f
    assert testall.worst([]) == v


def test_the_matrix_names_each_cell_once() -> None:
    ns = argparse.Namespace(
        workloads="set,register", nemeses="none,partition+kill", modes="siblings,lww", test_count=2
    )
    cells = testall.cells_from(ns)
    assert len(cells) == 2 * 2 * 2 * 2
    assert len({c.name for c in cells}) == len(cells)
    assert testall.Cell("set", "partition,kill", "lww", 1).name == "set-partition+kill-lww-2"
    assert {c.nemesis for c in cells} == {"none", "partition,kill"}


def test_the_summary_row_shows_lost_writes_availability_and_verdict() -> None:
    row = testall.Row(
        testall.Cell("set", "partition", "lww"), ExitCode.INVALID, 30.0, None, results(False, 3)
    )
    assert row.cells() == [
        *("set", "partition", "lww", 1234, 3, "0.970", "0.012", None, "invalid", "lost")
    ]
    crashed = testall.Row(
        testall.Cell("set", "kill", "siblings"), ExitCode.HARNESS_FAILED, 1.0, None, None
    )
    assert crashed.cells()[-2:] == ["crashed", "valid — NOT MET"]


def test_an_lww_cell_that_loses_writes_is_as_expected_and_a_siblings_cell_that_loses_is_not():
    def row(mode: str, code: ExitCode, lost: int) -> testall.Row:
        valid = code == ExitCode.VALID
        return testall.Row(
            testall.Cell("set", "partition", mode), code, 1.0, None, results(valid, lost)
        )

    lww_lost, lww_kept = row("lww", ExitCode.INVALID, 3), row("lww", ExitCode.VALID, 0)
    sib_ok, sib_lost = row("siblings", ExitCode.VALID, 0), row("siblings", ExitCode.INVALID, 2)
    assert (lww_lost.as_expected, lww_kept.as_expected) == (True, False)
    assert (sib_ok.as_expected, sib_lost.as_expected) == (True, False)
    assert testall.worst(r.verdict for r in (lww_lost, sib_ok)) == ExitCode.VALID
    assert testall.worst(r.verdict for r in (lww_lost, sib_lost)) == ExitCode.INVALID
    assert testall.worst(r.verdict for r in (lww_kept, sib_ok)) == ExitCode.INVALID
    crashed = testall.Row(
        testall.Cell("set", "kill", "lww"), ExitCode.HARNESS_FAILED, 1, None, None
    )
    assert crashed.verdict == ExitCode.HARNESS_FAILED
    assert lww_kept.cells()[-1] == "lost — NOT MET"


def test_without_a_matrix_test_all_runs_the_preset_each_cell_with_a_purpose() -> None:
    ns = argparse.Namespace(workloads=None, nemeses=None, modes=None, test_count=1)
    cells = testall.cells_from(ns)
    assert cells == list(testall.PRESET)
    assert all(c.purpose for c in cells)
    assert {c.expectation for c in cells if c.mode == "lww"} == {"lost"}
    assert {c.expectation for c in cells if c.mode == "siblings"} == {"valid"}
    assert len({c.name for c in cells}) == len(cells)
    twice = testall.cells_from(argparse.Namespace(**{**vars(ns), "test_count": 2}))
    assert len({c.name for c in twice}) == 2 * len(cells)
    only_kill = argparse.Namespace(workloads=None, nemeses="kill", modes=None, test_count=1)
    assert {(c.workload, c.mode) for c in testall.cells_from(only_kill)} == {
        ("set", "siblings"),
        ("set", "lww"),
        ("register", "siblings"),
        ("register", "lww"),
    }


def test_junit_marks_invalid_checkers_and_broken_bounds_as_failures(tmp_path: Path) -> None:
    suites = [
        junit.suite("good", results(True, 0)),
        junit.suite("bad", results(False, 2, bound="broken")),
        junit.suite("unknown", results("unknown", 0)),
        junit.suite("crashed", None),
    ]
    path = junit.write(suites, tmp_path / "junit.xml")
    root = ET.parse(path).getroot()
    by_name = {s.get("name"): s for s in root.findall("testsuite")}
    assert by_name["good"].get("failures") == "0" and by_name["good"].get("tests") == "3"
    assert by_name["bad"].get("failures") == "2"
    assert by_name["unknown"].get("skipped") == "1"
    assert by_name["crashed"].get("errors") == "1"
    assert root.get("failures") == "2" and root.get("errors") == "1"


def test_every_preset_cell_is_a_run_the_harness_accepts() -> None:
    """Each cell's nemesis spec, options and system options pass the checks a run makes
    before it touches a host (so the preset cannot fail on a typo after ten minutes)."""
    from harness.run import build_parts

    for cell in testall.PRESET:
        parts = build_parts(testall.cell_options(TestOptions(), cell))
        assert parts.nemesis is not None, cell.name
