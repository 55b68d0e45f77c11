"""The store layout and the history writer, as the design fixes them."""

from __future__ import annotations

import json
from pathlib import Path

from checkers.history import load
from harness import history, store
from harness.options import TestOptions


def test_runs_go_to_store_name_timestamp_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    first = store.new_run_dir(tmp_path, "set-none")
    second = store.new_run_dir(tmp_path, "set-none")
    assert first.parent == tmp_path / "set-none"
    assert len(first.name) >= len("YYYYMMDDTHHMMSS") and first.name[8] == "T"
    assert first != second and second.exists()
    latest = tmp_path / "latest"
    assert latest.is_symlink() and latest.resolve() == second.resolve()
    assert not latest.readlink().is_absolute()  # the store can be moved whole


def test_test_json_holds_every_option_the_seed_and_versions(tmp_path: Path) -> None:
    o = TestOptions(seed=42, workload="register")
    store.write_test(tmp_path, o)
    store.write_test(tmp_path, o, interrupted=False)
    data = json.loads((tmp_path / store.TEST).read_text())
    assert data["seed"] == 42 and data["interrupted"] is False
    assert TestOptions.load(tmp_path / store.TEST) == o
    assert {"harness", "python"} <= set(data["versions"])


def test_history_ops_are_indexed_timed_and_flushed_as_written(tmp_path: Path) -> None:
    path = tmp_path / store.HISTORY
    w = history.HistoryWriter(path, history.Clock())
    w.record("invoke", 0, "add", key="s1", value=1, node="n1")
    on_disk = path.read_text()  # before close: a crash keeps it
    w.record("ok", 0, "add", key="s1", value=1, node="n1")
    w.close()
    assert on_disk.count("\n") == 1
    ops = load(path)
    assert [op["index"] for op in ops] == [0, 1]
    assert ops[0]["time"] <= ops[1]["time"]
    assert list(ops[0])[:5] == ["index", "type", "process", "time", "f"]


def test_a_torn_last_line_is_dropped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / store.HISTORY
    path.write_text('{"index":0,"type":"invoke"}\n{"index":1,"ty')
    assert [op["index"] for op in load(path)] == [0]
