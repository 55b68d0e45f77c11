"""``harness test-all``: a matrix of runs, one summary table, and the exit code CI reads.

Every cell is an ordinary ``harness run`` with the same options but its workload, nemesis,
mode, name and any options of its own; its run directory stays in the store like any other.

Each cell carries its expectation. A ``siblings`` cell expects ``valid``; an ``lww`` cell
expects acknowledged writes ``lost`` (last-writer-wins drops concurrent writes by design,
so a run that loses nothing says the harness lost its teeth, not that LWW got better). A
cell is *as expected* when its verdict matches; the exit code is the worst over the cells
with a cell as expected counting as valid: the harness failed (255), a cell not as expected
(1; 2 when that cell's verdict was undecided), everything as expected (0). So exit 0 means
"no regression" and exit 1 "a regression", with LWW cells in the matrix.

Without ``--workloads``, ``--nemeses`` and ``--modes`` it runs ``PRESET``: the cells chosen
to catch each class of bug this harness can make show on a 2-core machine in about ten
minutes (docs/harness.md lists what each cell is for).
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
    "expected",
)
EXPECTATIONS = ("valid", "lost")


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    found = set(codes)
    return next((c for c in SEVERITY if c in found), ExitCode.VALID)


@dataclass(frozen=True)
class Cell:
    workload: str
    nemesis: str
    mode: str
    repeat: int = 0
    expect: str = ""
    """``valid`` or ``lost``; empty: from the mode (``lww`` loses, ``siblings`` is valid)."""
    options: tuple[tuple[str, Any], ...] = ()
    """TestOptions fields this cell sets beyond the base options."""
    purpose: str = ""

    @property
    def name(self) -> str:
        suffix = f"-{self.repeat + 1}" if self.repeat else ""
        return f"{self.workload}-{self.nemesis.replace(',', '+')}-{self.mode}{suffix}"

    @property
    def expectation(self) -> str:
        return self.expect or ("lost" if self.mode == "lww" else "valid")


_AE = (("anti_entropy_bound", 60.0),)
PRESET: tuple[Cell, ...] = (
    # each cell's options are those of the tests/mutants preset it shares a bug class with,
    # so the mutant that proves the class is caught by this very cell
    Cell(
        "set",
        "partition",
        "siblings",
        options=_AE,
        purpose="no lost add across partitions; "
        "anti-entropy alone converges the replicas afterwards",
    ),
    Cell(
        "set",
        "clock",
        "siblings",
        purpose="vector clocks ignore wall clocks: skew loses nothing",
    ),
    Cell(
        "set",
        "all",
        "siblings",
        purpose="every fault at once (partition, kill, pause, clock, loss)",
    ),
    Cell(
        "set",
        "wipe",
        "siblings",
        options=(("keys", 300), ("nemesis_interval", 3.0)),
        purpose="a wiped disk loses no acked add: W durable copies are real "
        "(catches async-replication.patch)",
    ),
    Cell(
        "set",
        "power:replicas",
        "siblings",
        options=(("keys", 100), ("nemesis_interval", 4.0)),
        purpose="every owner of a key loses power at once: acks only after fsync "
        "(catches log-skips-fdatasync.patch; ack-before-fsync.patch with storage=sqlite)",
    ),
    Cell(
        "set",
        "owners:lossy",
        "siblings",
        options=(("keys", 300), ("nemesis_interval", 8.0), ("time_limit", 30.0)),
        purpose="writes on fallbacks only, hand-off through packet loss: every hint "
        "delivered or held (catches drop-failed-hint.patch)",
    ),
    Cell(
        "register",
        "partition-random-halves",
        "siblings",
        options=_AE,
        purpose="siblings, contexts, deletes (resurrection), stale final reads, "
        "availability of both halves",
    ),
    Cell(
        "register",
        "kill:one",
        "siblings",
        options=(
            ("keys", 200),
            ("nemesis_interval", 7.0),
            ("time_limit", 30.0),
            ("anti_entropy_bound", 20.0),
            (
                "system_option",
                ("strict_quorum=true", "tombstone_grace=1", "anti_entropy_interval=0.2"),
            ),
            ("workload_option", ("read=0.5", "blind=0.05", "context_write=0.1")),
        ),
        purpose="deletes while an owner is down, a 1 s tombstone grace: nothing reaped "
        "comes back (catches reap-by-grace-alone.patch)",
    ),
    Cell(
        "register",
        "clock",
        "lww",
        purpose="LWW under skew loses acknowledged writes: "
        "the checkers must see it (a control of their teeth)",
    ),
)


@dataclass
class Row:
    cell: Cell
    code: ExitCode
    seconds: float
    run_dir: Path | None
    results: dict[str, Any] | None

    def metric(self, name: str) -> Any:
        return (self.results or {}).get("metrics", {}).get(name)

    @property
    def as_expected(self) -> bool:
        if self.cell.expectation == "lost":
            lost = self.metric("lost")
            return self.code == ExitCode.INVALID and isinstance(lost, int) and lost > 0
        return self.code == ExitCode.VALID

    @property
    def verdict(self) -> ExitCode:
        """The cell's share of the exit code: valid when as expected."""
        if self.as_expected:
            return ExitCode.VALID
        if self.code in (ExitCode.HARNESS_FAILED, ExitCode.UNKNOWN):
            return self.code
        return ExitCode.INVALID

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
            self.cell.expectation + ("" if self.as_expected else " — NOT MET"),
        ]


def _fmt(value: Any, spec: str) -> Any:
    return spec.format(value) if isinstance(value, (int, float)) else value


def matrix(
    workloads: Sequence[str], nemeses: Sequence[str], modes: Sequence[str], count: int
) -> list[Cell]:
    return [
        Cell(w, n, m, i) for w in workloads for n in nemeses for m in modes for i in range(count)
    ]


def cell_options(base: TestOptions, cell: Cell) -> TestOptions:
    return dataclasses.replace(
        base,
        workload=cell.workload,
        nemesis=cell.nemesis,
        mode=cell.mode,
        name=cell.name,
        **dict(cell.options),
    )


def run_cell(base: TestOptions, cell: Cell) -> Row:
    from harness import run

    options = cell_options(base, cell)
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
    code = worst(r.verdict for r in rows)
    unmet = [r.cell.name for r in rows if not r.as_expected]
    print(
        f"\ntest-all: {len(rows)} runs, {len(rows) - len(unmet)} as expected"
        + (f"; not as expected: {', '.join(unmet)}" if unmet else "")
        + f" (exit {int(code)})"
    )
    if junit_path is not None:
        suites = [junit.suite(r.cell.name, r.results, r.seconds) for r in rows]
        junit.write(suites, junit_path)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(table(rows, "github") + "\n")
    return code


def add_arguments(parser: argparse.ArgumentParser) -> None:
    note = " (any of --workloads/--nemeses/--modes: their matrix instead of the preset)"
    parser.add_argument("--workloads", help="comma-separated; default set,register" + note)
    parser.add_argument(
        "--nemeses",
        help="comma-separated; each is a --nemesis value (use + inside one: partition+kill); "
        "default none,partition,kill,pause,clock,loss,all",
    )
    parser.add_argument("--modes", help="comma-separated; default siblings,lww")
    parser.add_argument("--test-count", type=int, default=1, help="runs of each cell")
    parser.add_argument("--markdown", type=Path, help="write the summary table as Markdown")


def cells_from(ns: argparse.Namespace) -> list[Cell]:
    def items(text: str) -> list[str]:
        return [x.strip().replace("+", ",") for x in text.split(",") if x.strip()]

    if ns.test_count < 1:
        raise ValueError("--test-count must be >= 1")
    if ns.workloads is None and ns.nemeses is None and ns.modes is None:
        return [dataclasses.replace(c, repeat=i) for c in PRESET for i in range(ns.test_count)]
    return matrix(
        items(ns.workloads or "set,register"),
        items(ns.nemeses or "none,partition,kill,pause,clock,loss,all"),
        items(ns.modes or "siblings,lww"),
        ns.test_count,
    )
