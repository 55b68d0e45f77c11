"""Analysis of a stored run: history in, verdicts, reports and plots out.

``analyze(run_dir)`` reads ``history.jsonl`` and ``test.json``, runs the checkers the
workload calls for, applies the ``--expect`` bounds and writes ``results.json``,
``report.md``, ``report.html`` and the plots. ``results.json`` holds nothing that
depends on when or where the analysis ran, so checking a run twice gives the same
file. The cyclic garbage collector is paused throughout: the history is a million
acyclic dicts that it would otherwise walk again and again for nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from checkers import Result, fault_windows, for_test, load
from checkers.calls import calls
from checkers.history import collector_paused
from harness import plots, report
from harness.exitcodes import ExitCode
from harness.expect import Bound, evaluate, metrics, parse_all

log = logging.getLogger(__name__)

TEST_FIELDS = (
    "name",
    "workload",
    "nemesis",
    "nodes",
    "mode",
    "n",
    "r",
    "w",
    "time_limit",
    "seed",
    "concurrency",
)


def analyze(run_dir: Path, expect: Sequence[str] = ()) -> ExitCode:
    """Check the run in ``run_dir`` and write its results and reports; the exit code.

    Raises ``harness.expect.BoundError`` for a malformed bound (before any work) and
    ``FileNotFoundError`` when the directory has no ``history.jsonl``.
    """
    run_dir = Path(run_dir)
    bounds = parse_all(expect)
    with collector_paused():
        with _phase("load"):
            history = load(run_dir / "history.jsonl")
            test = read_test(run_dir)
        with _phase("check"):
            result = for_test(test).check(history, test)
            results = summarize(result, history, test, bounds)
        with _phase("results"):
            write_json(run_dir / "results.json", results)
        with _phase("plots"):
            plots.render(history, run_dir)
        with _phase("reports"):
            report.write(results, run_dir)
    return ExitCode(results["exit_code"])


def read_test(run_dir: Path) -> dict[str, Any]:
    """The run's options, flat: the harness nests them under ``options`` beside the run's
    own facts (name, seed, versions), and either shape is read. No ``test.json``: ``{}``."""
    path = run_dir / "test.json"
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as f:
        test = json.load(f)
    if not isinstance(test, dict):
        return {}
    options = test.get("options")
    if isinstance(options, dict):
        outer = {k: v for k, v in test.items() if k != "options" and v is not None}
        test = {**options, **outer}
    return test


def summarize(
    result: Result,
    history: Sequence[Mapping[str, Any]],
    test: Mapping[str, Any],
    bounds: Sequence[Bound],
) -> dict[str, Any]:
    """The results.json document: verdicts, metrics, bounds and the exit code."""
    checkers = {r.name: r.to_dict() for r in result.results}
    table = metrics(checkers)
    failures = {f.bound.text: f for f in evaluate(bounds, table)}
    expect = [
        {
            "bound": b.text,
            "actual": table.get(b.metric),
            "result": failures[b.text].status if b.text in failures else "held",
        }
        for b in bounds
    ]
    index = calls(history)
    return {
        "test": {k: test[k] for k in TEST_FIELDS if k in test},
        "valid": result.valid,
        "exit_code": int(exit_code(result.valid, [e["result"] for e in expect])),
        "ops": {
            "total": len(history),
            "client_calls": len(index.client),
            "nemesis_calls": len(index.nemesis),
            "convergence_samples": len(index.samples),
        },
        "expect": expect,
        "faults": [w.to_dict() for w in fault_windows(history)],
        "checkers": checkers,
        "metrics": table,
    }


def exit_code(valid: Any, bound_results: Sequence[str]) -> ExitCode:
    """Invalid if a checker found an anomaly or a bound broke; unknown if a checker or
    a bound could not decide; else valid."""
    if valid is False or "broken" in bound_results:
        return ExitCode.INVALID
    if valid != True or "unknown" in bound_results:  # noqa: E712 — "unknown" is truthy
        return ExitCode.UNKNOWN
    return ExitCode.VALID


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` with sorted keys (all made strings, so odd keys that a strange
    history put there cannot break the sort), atomically."""
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_string_keys(document), f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    tmp.replace(path)


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_string_keys(v) for v in value]
    return value


@contextmanager
def _phase(name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    log.debug("analysis %s: %.2f s (%.2f s CPU)", name, wall, cpu)
