"""harness check's analysis: verdicts, exit codes, results.json, reports and plots."""

from __future__ import annotations

import json
import struct

import pytest

from harness.analysis import analyze
from harness.exitcodes import ExitCode
from harness.expect import BoundError
from harness.report import render_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_lost_writes_make_the_run_invalid_and_are_named_in_every_report(make_run):
    run, lost = make_run("register", lose_at=frozenset({5, 20}))
    assert analyze(run) == ExitCode.INVALID
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is False
    assert results["metrics"]["lost"] == 2
    lost_ids = [x["id"] for x in results["checkers"]["register"]["lost"]]
    assert sorted(lost_ids) == sorted(lost)
    text = render_text(run)
    assert "Lost writes" in text
    assert all(i in text for i in lost_ids)
    assert all(i in (run / "report.md").read_text() for i in lost_ids)


def test_plots_are_valid_pngs_inlined_and_linked_from_report_html(make_run):
    run, _ = make_run("set")
    analyze(run)
    page = (run / "report.html").read_text()
    for name in ("latency.png", "rate.png", "availability.png"):
        width, height = png_size(run / name)
        assert (width, height) == (1200, 480)
        assert (run / name).stat().st_size > 10_000
        assert f"href='{name}'" in page
    assert page.count("src='data:image/png;base64,") == 3


def test_checking_a_run_twice_writes_the_same_results(make_run):
    run, _ = make_run("register", lose_at=frozenset({3}))
    analyze(run, ["lost==0"])
    first = (run / "results.json").read_bytes()
    analyze(run, ["lost==0"])
    assert (run / "results.json").read_bytes() == first


def test_a_broken_bound_exits_invalid_and_is_named_in_the_report(make_run):
    run, _ = make_run("register")
    code = analyze(run, ["lost==0", "latency.put.p99<0.000001"])
    assert code == ExitCode.INVALID
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    assert [(e["bound"], e["result"]) for e in results["expect"]] == [
        ("lost==0", "held"),
        ("latency.put.p99<0.000001", "broken"),
    ]
    assert "latency.put.p99<0.000001" in render_text(run)


def test_held_bounds_exit_valid_and_a_bound_without_a_value_exits_unknown(make_run):
    run, _ = make_run("register")
    assert analyze(run, ["lost==0", "availability>=0.5"]) == ExitCode.VALID
    assert analyze(run, ["lost==0", "stable_latency.p99<1"]) == ExitCode.UNKNOWN


def test_a_malformed_bound_is_raised_before_anything_is_written(make_run):
    run, _ = make_run("kv")
    with pytest.raises(BoundError):
        analyze(run, ["lost=0"])
    assert not (run / "results.json").exists()


def test_kv_runs_report_latency_and_availability_without_a_durability_checker(make_run):
    run, _ = make_run("kv")
    (run / "test.json").unlink()  # a missing test.json is tolerated
    assert analyze(run) == ExitCode.VALID
    results = json.loads((run / "results.json").read_text())
    measured = [n for n, r in results["checkers"].items() if r["valid"] != "not measured"]
    assert sorted(measured) == ["availability", "convergence", "latency"]
    assert results["metrics"]["latency.all.p50"] > 0


def test_options_the_harness_nests_under_options_pick_the_checkers(make_run):
    run, _ = make_run("register", lose_at=frozenset({1}))
    (run / "test.json").write_text(
        json.dumps(
            {
                "name": "reg-partition",
                "seed": 3,
                "options": {"workload": "register", "name": None, "n": 3, "mode": "siblings"},
            }
        )
    )
    assert analyze(run) == ExitCode.INVALID
    results = json.loads((run / "results.json").read_text())
    assert results["test"] == {
        "name": "reg-partition",
        "seed": 3,
        "workload": "register",
        "n": 3,
        "mode": "siblings",
    }
    assert "register" in results["checkers"]


def test_node_counters_are_a_table_of_the_report_with_dropped_hints_named(make_run):
    run, _ = make_run("set", counters=True, drop_hints=2)
    assert analyze(run) == ExitCode.INVALID
    text = render_text(run)
    assert "Node counters (hints, repairs, reaping)" in text
    section = text.split("Node counters (hints, repairs, reaping)", 1)[1]
    header = next(line for line in section.splitlines() if line.startswith("node "))
    assert header.split()[:4] == ["node", "loaded", "stored", "delivered"]
    total = next(line for line in section.splitlines() if line.startswith("total"))
    dropped = header.split().index("dropped")
    assert total.split()[dropped] == "2"
