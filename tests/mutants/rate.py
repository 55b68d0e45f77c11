"""How often each harness mutant is caught: its preset over a fixed list of seeds, the
mutant and (``--control``) the real node, each run taking the cluster lock on its own.

    .venv/bin/python tests/mutants/rate.py --seeds 1-5
    .venv/bin/python tests/mutants/rate.py drop-failed-hint --seeds 1-10 --control

A run is one ``tests/mutants/run.py`` (a copy of the tree, patched unless a control); the
lock (``--lock``, default /tmp/dh-cluster.lock) is taken per run so that other cluster work
can go between them. The table says, for each mutant, on how many seeds the harness said
invalid (exit 1) — caught — and what each run lost; a control should be valid on every seed.
``--markdown FILE`` writes it as a table too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import MUTANTS  # noqa: E402

VERDICTS = {0: "valid", 1: "invalid", 2: "unknown"}


@dataclass(frozen=True)
class Outcome:
    mutant: str
    control: bool
    seed: int
    code: int
    seconds: float
    found: str
    """What the run's checkers reported lost, vanished or resurrected ("-" if nothing)."""

    @property
    def caught(self) -> bool:
        return self.code == 1


def parse_seeds(text: str) -> list[int]:
    """``"1-5"``, ``"3,7,11"`` or a mix (``"1-3,9"``) to a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"not a seed list: {text!r} (e.g. 1-5 or 3,7,11)")
        seeds.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    return seeds


def findings(store: Path) -> str:
    """The figures that make a run invalid, from its ``results.json``."""
    found = sorted(store.glob("*/*/results.json"))
    if not found:
        return "no results"
    results = json.loads(found[-1].read_text())
    metrics = results.get("metrics", {})
    parts = [f"lost {metrics.get('lost', 0)}"]
    for name, checked in sorted(results.get("checkers", {}).items()):
        if isinstance(checked, dict) and checked.get("valid") is False:
            parts.append(f"{name} invalid")
    return ", ".join(parts)


def run_one(mutant: str, seed: int, *, control: bool, lock: str | None) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="dh-rate-") as tmp:
        cmd = [sys.executable, str(HERE / "run.py"), mutant, "--seed", str(seed)]
        cmd += ["--store", tmp]
        if control:
            cmd.append("--control")
        if lock:
            cmd = ["flock", lock, *cmd]
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.monotonic() - started
        return Outcome(mutant, control, seed, done.returncode, seconds, findings(Path(tmp)))


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| mutant | node | seeds | invalid (caught) | per seed |",
        "|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((o.mutant, o.control) for o in outcomes)
    for mutant, control in keys:
        mine = [o for o in outcomes if o.mutant == mutant and o.control == control]
        caught = sum(o.caught for o in mine)
        per = "; ".join(f"{o.seed}: exit {o.code} ({o.found})" for o in mine)
        node = "control" if control else "mutant"
        lines.append(f"| {mutant} | {node} | {len(mine)} | {caught} of {len(mine)} | {per} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutants", nargs="*", help=f"default: all of {', '.join(sorted(MUTANTS))}")
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("1-5"))
    parser.add_argument("--control", action="store_true", help="run the real node too")
    parser.add_argument("--lock", default="/tmp/dh-cluster.lock", help="'' for none")
    parser.add_argument("--markdown", type=Path, default=None)
    args = parser.parse_args(argv)
    names = args.mutants or sorted(MUTANTS)
    unknown = [m for m in names if m not in MUTANTS]
    if unknown:
        parser.error(f"no mutant {', '.join(unknown)} (there are {', '.join(sorted(MUTANTS))})")
    runs = [(m, s, c) for m in names for c in ([False, True] if args.control else [False])
            for s in args.seeds]  # fmt: skip
    outcomes: list[Outcome] = []
    for i, (mutant, seed, control) in enumerate(runs, 1):
        o = run_one(mutant, seed, control=control, lock=args.lock or None)
        outcomes.append(o)
        node = "control" if control else "mutant"
        verdict = VERDICTS.get(o.code, "harness failed")
        print(
            f"[{i}/{len(runs)}] {mutant} {node} seed {seed}: exit {o.code} ({verdict}), "
            f"{o.found}, {o.seconds:.0f} s",
            flush=True,
        )
    text = table(outcomes)
    print(text, end="")
    if args.markdown is not None:
        args.markdown.write_text(text)
    return 1 if any(o.code not in (0, 1) for o in outcomes) else 0  # a run that broke


if __name__ == "__main__":
    sys.exit(main())
