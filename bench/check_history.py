"""Time ``harness check`` on a synthetic history of a given size.

    .venv/bin/python bench/check_history.py --ops 1000000 --workload register

Generates a history from the model store of ``checkers.synth`` (with a few injected
lost writes and fault windows of every kind), writes it as a run directory, then runs
``harness.analysis.analyze`` — load, every checker, results.json, plots, reports — in a
fresh child process and prints its wall time, its peak RSS and each phase's time.
Generation is not timed. Budget for 1,000,000 ops: ≤ 15 s and ≤ 1.5 GiB here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from checkers.synth import FAULT_KINDS, SECOND, Spec, generate

CHILD = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.WARNING, format="  %(message)s", stream=sys.stdout)
logging.getLogger("harness.analysis").setLevel(logging.DEBUG)
from harness.analysis import analyze
code = analyze(Path(sys.argv[1]), sys.argv[2:])
print("  exit code", int(code))
"""


def write_run(run_dir: Path, spec: Spec) -> tuple[int, int]:
    """Generate and store the run; returns (ops, injected lost writes)."""
    synthetic = generate(spec)
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as f:
        for op in synthetic.history:
            f.write(json.dumps(op) + "\n")
    (run_dir / "test.json").write_text(json.dumps(synthetic.test), encoding="utf-8")
    return len(synthetic.history), len(synthetic.lost)


def time_check(run_dir: Path, expect: list[str]) -> tuple[float, float, float, int]:
    """One ``harness check`` in a fresh process: (wall s, CPU s, peak RSS GiB, exit code)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir), *expect])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, child.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--workload", choices=("register", "set", "kv"), default="register")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--lose", type=int, default=100, help="acknowledged writes to lose")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="run directory to keep (default: temporary)")
    parser.add_argument("--reuse", action="store_true", help="check --dir's history as it is")
    parser.add_argument("--repeat", type=int, default=1, help="checks to time (best is shown)")
    parser.add_argument("--expect", action="append", default=[])
    args = parser.parse_args()

    spec = Spec(
        workload=args.workload,
        ops=args.ops,
        keys=args.keys,
        concurrency=args.concurrency,
        faults=FAULT_KINDS,
        fault_every=10 * SECOND,
        fault_for=5 * SECOND,
        lose_at=frozenset(range(0, args.lose * 997, 997)),
        seed=args.seed,
    )
    with tempfile.TemporaryDirectory(prefix="check-bench-") as tmp:
        run_dir = args.dir or Path(tmp)
        run_dir.mkdir(parents=True, exist_ok=True)
        if not (args.reuse and (run_dir / "history.jsonl").exists()):
            started = time.perf_counter()
            ops, lost = write_run(run_dir, spec)
            print(f"generated {ops} ops ({lost} lost writes injected)", end=" ")
            print(f"in {time.perf_counter() - started:.1f} s (not part of the figure)")
        size = (run_dir / "history.jsonl").stat().st_size / 2**20
        runs = [time_check(run_dir, args.expect) for _ in range(args.repeat)]
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    for wall, cpu, peak, _ in runs:
        print(f"harness check: {wall:.2f} s wall ({cpu:.2f} s CPU), peak RSS {peak:.2f} GiB")
    wall, cpu, peak, code = min(runs)
    ops = results["ops"]["total"]
    print(f"best of {len(runs)}: {ops} ops ({size:.0f} MiB) checked in {wall:.2f} s", end=" ")
    print(f"({cpu:.2f} s CPU), peak RSS {peak:.2f} GiB, load now {os.getloadavg()[0]:.1f}")
    print(f"  verdict {results['valid']}, lost found {results['metrics'].get('lost')}")
    return code if code not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
