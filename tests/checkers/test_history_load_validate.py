"""Reading history.jsonl, and checking a history against the design's format."""

from __future__ import annotations

import json

import pytest

from checkers import HistoryError, load, validate
from checkers import history as history_module
from checkers.synth import Spec, generate


def write_lines(path, lines):
    path.write_text("".join(lines))
    return path


def test_load_reads_every_op_across_chunks_and_skips_blank_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(history_module, "_CHUNK", 3)
    ops = [{"index": i, "type": "invoke", "process": 0, "time": i, "f": "read"} for i in range(8)]
    lines = [json.dumps(op) + "\n" for op in ops]
    lines.insert(4, "\n")
    assert load(write_lines(tmp_path / "h.jsonl", lines)) == ops


def test_load_drops_a_last_line_torn_by_a_crash(tmp_path):
    lines = ['{"index": 0, "type": "invoke"}\n', '{"index": 1, "ty']
    assert load(write_lines(tmp_path / "h.jsonl", lines)) == [{"index": 0, "type": "invoke"}]


def test_load_names_the_line_of_a_corrupt_op_inside_the_file(tmp_path):
    lines = ['{"index": 0}\n', "{nope\n", '{"index": 2}\n']
    with pytest.raises(HistoryError, match="line 2"):
        load(write_lines(tmp_path / "h.jsonl", lines))


def test_a_model_store_history_is_valid():
    synthetic = generate(Spec(workload="register", ops=2000, seed=4))
    assert validate(synthetic.history) == []


def op(i, type, process, t, f="write", **fields):
    return {"index": i, "type": type, "process": process, "time": t, "f": f, **fields}


@pytest.mark.parametrize(
    ("ops", "problem"),
    [
        ([op(1, "invoke", 0, 0)], "op 0: index is 1, expected 0"),
        ([op(0, "begin", 0, 0)], "op 0: type 'begin' is not one of invoke/ok/fail/info"),
        ([op(0, "ok", 0, 0, value="w-1")], "op 0: ok for process 0 follows no invoke"),
        (
            [op(0, "invoke", 0, 5, value="w-1"), op(1, "ok", 0, 4, value="w-1")],
            "op 1: time 4 goes back from 5",
        ),
        (
            [op(0, "invoke", 0, 0, value="w-1"), op(1, "invoke", 0, 1, value="w-2")],
            "op 1: process 0 invokes while op 0 is pending",
        ),
        (
            [
                op(0, "invoke", 0, 0, value="w-1"),
                op(1, "info", 0, 1, value="w-1", error="timeout"),
                op(2, "invoke", 0, 2, value="w-2"),
            ],
            "op 2: process 0 invokes again after an info",
        ),
        (
            [op(0, "invoke", 0, 0, value="w-1"), op(1, "fail", 0, 1, value="w-1")],
            "op 1: fail without an error string",
        ),
        (
            [op(0, "invoke", 0, 0, value="w-1"), op(1, "ok", 0, 1, f="read", value=[])],
            "op 1: completion f/key read/None differs from invoke's",
        ),
        ([op(0, "invoke", 0, 0, f="add", value="x")], "op 0: add value 'x' is not an int element"),
        ([op(0, "invoke", "worker", 0)], "op 0: process 'worker' is neither an int nor"),
    ],
)
def test_validate_names_each_broken_rule(ops, problem):
    problems = validate(ops)
    assert any(p.startswith(problem) for p in problems), problems


def test_nemesis_and_convergence_ops_follow_their_own_rules():
    ops = [
        op(0, "invoke", "nemesis", 0, f="kill", value=["n1"]),
        op(1, "info", "nemesis", 1, f="kill", value=["n1"]),
        op(2, "ok", "convergence", 2, f="read-local", key="r1", node="n1", value=[]),
    ]
    assert validate(ops) == []


def test_validate_lists_at_most_limit_problems_then_counts_the_rest():
    ops = [op(i + 1, "invoke", i, i, value=f"w-{i}") for i in range(5)]
    problems = validate(ops, limit=2)
    assert len(problems) == 3
    assert problems[-1] == "... and 3 more problems"
