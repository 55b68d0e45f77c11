"""``harness test-all``: a matrix of runs (workloads by nemeses by modes, repeated), one summary
table, and the worst verdict as the exit code, as Jepsen's test-all does.

Every cell is an ordinary ``harness run`` with the same options but its workload, nemesis,
mode and name; its run directory stays in the store like any other. Worst first: the
harness failed (255), an anomaly or a broken bound (1), undecided (2), valid (0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import junit
from harness.exitcodes import ExitCode
from harness.options import TestOptions

SEVERITY = (ExitCode.HARNESS_FAILED, ExitCode.INVALID, ExitCode.UNKNOWN, ExitCode.VALID)
COLUMNS = (
    "workload",
    "nemesis",
    "mode",
    "ops",
    "lost",
    "availability",
    "p99 (s)",
    "convergence (s)",
    "verdict",
)


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    found = set(codes)
    return next((c for c in SEVERITY if c in found), ExitCode.VALID)


@dataclass(frozen=True)
class Cell:
    workload: str
    nemesis: str
    mode: str
    repeat: int = 0

    @property
    def name(self) -> str:
        suffix = f"-{self.repeat + 1}" if self.repeat else ""
        return f"{self.workload}-{self.nemesis.replace(',', '+')}-{self.mode}{suffix}"


@dataclass
class Row:
    cell: Cell
    code: ExitCode
    seconds: float
    run_dir: Path | None
    results: dict[str, Any] | None

    def metric(self, name: str) -> Any:
        return (self.results or {}).get("metrics", {}).get(name)

    def cells(self) -> list[Any]:
        ops = (self.results or {}).get("ops", {}).get("client_calls")
        lost = self.metric("lost")
        return [
            self.cell.workload,
            self.cell.nemesis,
            self.cell.mode,
            ops,
            lost,
            _fmt(self.metric("availability"), "{:.3f}"),
            _fmt(self.metric("latency.all.p99"), "{:.3f}"),
            _fmt(self.metric("convergence"), "{:.1f}"),
            self.code.name.lower().replace("harness_failed", "crashed"),
        ]


def _fmt(value: Any, spec: str) -> Any:
    return spec.format(value) if isinstance(value, (int, float)) else value


def matrix(
    workloads: Sequence[str], nemeses: Sequence[str], modes: Sequence[str], count: int
) -> list[Cell]:
    return [
        Cell(w, n, m, i) for w in workloads for n in nemeses for m in modes for i in range(count)
    ]


def run_cell(base: TestOptions, cell: Cell) -> Row:
    from harness import run

    options = dataclasses.replace(
        base, workload=cell.workload, nemesis=cell.nemesis, mode=cell.mode, name=cell.name
    )
    started = time.monotonic()
    run_dir: Path | None = None
    try:
        result = run.run(options)
        code, run_dir = result.code, result.run_dir
    except Exception:  # a crashed cell is a verdict of its own; the matrix goes on
        code = ExitCode.HARNESS_FAILED
    seconds = time.monotonic() - started
    results_path = run_dir / "results.json" if run_dir else None
    results = (
        json.loads(results_path.read_text()) if results_path and results_path.exists() else None
    )
    return Row(cell, code, seconds, run_dir, results)


def table(rows: Sequence[Row], fmt: str = "simple") -> str:
    from tabulate import tabulate

    return tabulate([r.cells() for r in rows], headers=COLUMNS, tablefmt=fmt)


def test_all(
    base: TestOptions,
    cells: Sequence[Cell],
    *,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
) -> ExitCode:
    rows: list[Row] = []
    for i, cell in enumerate(cells, 1):
        print(f"== test-all {i}/{len(cells)}: {cell.name}", flush=True)
        rows.append(run_cell(base, cell))
        print(table(rows[-1:]), flush=True)
    print("\n" + table(rows))
    code = worst(r.code for r in rows)
    print(f"\ntest-all: {len(rows)} runs, worst verdict {code.name.lower()} (exit {int(code)})")
    if junit_path is not None:
        suites = [junit.suite(r.cell.name, r.results, r.seconds) for r in rows]
        junit.write(suites, junit_path)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(table(rows, "github") + "\n")
    return code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workloads", default="set,register", help="comma-separated")
    parser.add_argument(
        "--nemeses",
        default="none,partition,kill,pause,clock,loss,all",
        help="comma-separated; each is a --nemesis value (use + inside one: partition+kill)",
    )
    parser.add_argument("--modes", default="siblings,lww", help="comma-separated")
    parser.add_argument("--test-count", type=int, default=1, help="runs of each cell")
    parser.add_argument("--markdown", type=Path, help="write the summary table as Markdown")


def cells_from(ns: argparse.Namespace) -> list[Cell]:
    def items(text: str) -> list[str]:
        return [x.strip().replace("+", ",") for x in text.split(",") if x.strip()]

    if ns.test_count < 1:
        raise ValueError("--test-count must be >= 1")
    return matrix(items(ns.workloads), items(ns.nemeses), items(ns.modes), ns.test_count)
