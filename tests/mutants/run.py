"""Run one mutant — a small patch that breaks the node the way real stores have been broken —
against the harness preset meant to catch it, on a temporary copy of this tree.

The harness deploys the node's wheel built from the tree it runs from
(``harness.wheels.source_root``), so the copy's harness, started with the copy first on
``PYTHONPATH``, deploys the patched node. ``--control`` runs the same preset on an unpatched
copy. The exit code is the harness's: 1 (invalid) is what a caught mutant gives, 0 (valid)
what the real node must give.

    flock /tmp/dh-cluster.lock .venv/bin/python tests/mutants/run.py async-replication
    flock /tmp/dh-cluster.lock .venv/bin/python tests/mutants/run.py async-replication --control
    flock /tmp/dh-cluster.lock .venv/bin/python tests/mutants/run.py ack-before-fsync --nemesis kill
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@dataclass(frozen=True)
class Mutant:
    bug: str
    preset: tuple[str, ...]
    gap: str | None = None
    """Why the preset does not catch this mutant yet (None: it does)."""


MUTANTS = {
    "async-replication": Mutant(
        "a put is acknowledged once the coordinator's own copy is on disk; replica writes go "
        "out a second later (W durable copies silently become one)",
        (
            "--workload",
            "set",
            "--nemesis",
            "wipe",
            "--time-limit",
            "20",
            "--keys",
            "300",
            "--nemesis-interval",
            "3",
        ),
    ),
    "ack-before-fsync": Mutant(
        "SQLite (--storage sqlite) with synchronous=OFF: a put is acknowledged once its "
        "COMMIT reached the kernel, never fsynced (kill -9 cannot tell: the page cache "
        "survives it; a power loss cannot)",
        (
            "--workload",
            "set",
            "--keys",
            "100",
            "--nemesis",
            "power:replicas",
            "--time-limit",
            "20",
            "--nemesis-interval",
            "4",
            *("--system-option", "storage=sqlite"),  # the engine this patch breaks
        ),
    ),
    "log-skips-fdatasync": Mutant(
        "the log engine (the default) acknowledges a batch once its frame reached the "
        "kernel, never fdatasynced: the same bug as ack-before-fsync, in the other engine",
        (
            *("--workload", "set", "--keys", "100", "--nemesis", "power:replicas"),
            *("--time-limit", "20", "--nemesis-interval", "4"),
            *("--system-option", "storage=log"),  # the default, named: the engine this breaks
        ),
    ),
    "drop-failed-hint": Mutant(
        "a fallback whose hinted hand-off failed drops the hint and its own copy, as if "
        "delivered (writes that landed on fallbacks only are lost)",
        (
            "--workload",
            "set",
            "--keys",
            "300",
            "--nemesis",
            "owners:lossy",
            "--time-limit",
            "30",
            "--nemesis-interval",
            "8",
        ),
    ),
    "reap-by-grace-alone": Mutant(
        "the tombstone reaper reaps once the grace has passed, without asking the owners "
        "for their copies or the members for hints (a down owner's old value comes back)",
        (
            *("--workload", "register", "--keys", "200", "--nemesis", "kill:one"),
            *("--time-limit", "30", "--nemesis-interval", "7", "--anti-entropy-bound", "20"),
            *("--system-option", "strict_quorum=true", "--system-option", "tombstone_grace=1"),
            *("--system-option", "anti_entropy_interval=0.2"),
            # a mix heavy in deletes (35%: what is not read, blind or context-written)
            *("--workload-option", "read=0.5", "--workload-option", "blind=0.05"),
            *("--workload-option", "context_write=0.1"),
        ),
    ),
}


def copy_tree(dest: Path) -> None:
    """Every file git tracks, as it is in the working tree (uncommitted edits included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout
    for name in listed.decode().split("\0"):
        src = REPO / name
        if name and src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def apply(patch: Path, tree: Path) -> None:
    r = subprocess.run(
        ["patch", "-p1", "--batch", "--forward", "-d", str(tree), "-i", str(patch)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"{patch.name} does not apply to this tree:\n{r.stdout}{r.stderr}")


def run(name: str, *, control: bool, harness_args: list[str]) -> int:
    mutant = MUTANTS[name]
    with tempfile.TemporaryDirectory(prefix="dh-mutant-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        if not control:
            apply(HERE / f"{name}.patch", tree)
        env = dict(os.environ, PYTHONPATH=str(tree), CI="1")
        cmd = [sys.executable, "-m", "harness", "run", *mutant.preset, *harness_args]
        print(f"{'control' if control else 'mutant'} {name}: {' '.join(cmd[1:])}", flush=True)
        return subprocess.run(cmd, cwd=tree, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mutant", choices=sorted(MUTANTS))
    parser.add_argument("--control", action="store_true", help="run the unpatched node")
    parser.add_argument("--cluster", default="mut", help="local cluster name (default: mut)")
    parser.add_argument("--subnet", default="10.77.62.0/24")
    parser.add_argument("--store", default=str(REPO / "store"))
    parser.add_argument("--seed", default=None)
    parser.add_argument(
        "--nemesis", default=None, help="another nemesis than the preset's (e.g. kill: a control)"
    )
    args = parser.parse_args(argv)
    extra = ["--cluster", args.cluster, "--subnet", args.subnet, "--store", args.store]
    extra += ["--progress", "none", "--name", f"mutant-{args.mutant}"]
    if args.control:
        extra[-1] = f"control-{args.mutant}"
    if args.seed is not None:
        extra += ["--seed", args.seed]
    if args.nemesis is not None:
        extra += ["--nemesis", args.nemesis]  # after the preset's: the last one counts
    return run(args.mutant, control=args.control, harness_args=extra)


if __name__ == "__main__":
    sys.exit(main())
