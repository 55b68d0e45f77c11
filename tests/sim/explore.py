"""Many seeds, one verdict: run schedules, shrink a failing one, print how to replay it.

``explore(range(1000))`` plays the schedule of each seed and stops at the first that breaks
an invariant; ``shrink`` then removes steps from that schedule while the same invariant
still breaks (a run is a function of its seed and schedule, so each try is exact), and
``Failure.report`` prints the violation, the command that replays the seed and the shrunk
schedule. ``python -m tests.sim`` is the same from the command line.

Seeds are independent, so ``explore`` spreads them over ``DYNAMO_SIM_WORKERS`` processes
(default: one per core); results come back in seed order, so the first failure is the same
seed whatever the number of workers, and its full outcome is replayed in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.sim.run import Outcome, run
from tests.sim.schedule import Schedule, Step, generate

SUMMARY: list[str] = []
"""Lines the simulation tests leave for the end of the pytest session (``conftest``)."""


@dataclass
class Covered:
    """What a batch's tally needs of one run (cheap to send back from a worker process)."""

    seed: int
    ok: bool
    virtual_time: float
    messages: int
    ops: int
    stray_copies: int
    checked: dict[str, int]

    @classmethod
    def of(cls, outcome: Outcome) -> Covered:
        return cls(
            outcome.seed,
            outcome.ok,
            outcome.virtual_time,
            outcome.messages,
            sum(1 for op in outcome.history if op["type"] == "invoke"),
            outcome.stray_copies,
            dict(outcome.checked),
        )


@dataclass
class Tally:
    """What a batch of runs covered."""

    schedules: int = 0
    seconds: float = 0.0
    virtual_seconds: float = 0.0
    messages: int = 0
    ops: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    stray_copies: int = 0

    def add(self, outcome: Outcome | Covered) -> None:
        run = outcome if isinstance(outcome, Covered) else Covered.of(outcome)
        self.schedules += 1
        self.virtual_seconds += run.virtual_time
        self.messages += run.messages
        self.ops += run.ops
        self.stray_copies += run.stray_copies
        for name, n in run.checked.items():
            self.checked[name] = self.checked.get(name, 0) + n

    def summary(self) -> str:
        rate = self.schedules / self.seconds if self.seconds else 0.0
        lines = [
            f"{self.schedules} schedules in {self.seconds:.1f}s ({rate:.1f}/s); "
            f"{self.virtual_seconds:,.0f}s of virtual time, {self.ops:,} client and fault ops, "
            f"{self.messages:,} messages",
            "invariants checked: "
            + ", ".join(f"{name} {n:,}" for name, n in sorted(self.checked.items())),
        ]
        if self.stray_copies:
            lines.append(
                f"stray copies on non-replicas after the final reads (covered by the "
                f"replicas): {self.stray_copies}"
            )
        return "\n".join(lines)


@dataclass
class Failure:
    seed: int
    outcome: Outcome
    shrunk: Schedule | None = None
    mutant: str | None = None

    def command(self) -> str:
        mutant = f" --mutant {self.mutant}" if self.mutant else ""
        return f"python -m tests.sim --seed {self.seed}{mutant}"

    def report(self) -> str:
        lines = [
            f"seed {self.seed} breaks {', '.join(sorted(self.invariants))}:",
            *(f"  {v}" for v in self.outcome.violations[:5]),
            f"replay: {self.command()}",
        ]
        if self.shrunk is not None:
            lines += [
                f"shrunk to {len(self.shrunk.steps)} of {len(self.outcome.schedule.steps)} "
                f"steps (replay: {self.command()} --schedule {shlex.quote(self.shrunk.dumps())}):",
                self.shrunk.describe(),
            ]
        return "\n".join(lines)

    @property
    def invariants(self) -> set[str]:
        return {v.invariant for v in self.outcome.violations}


def workers() -> int:
    """``DYNAMO_SIM_WORKERS``, or one process per core."""
    return max(1, int(os.environ.get("DYNAMO_SIM_WORKERS") or os.cpu_count() or 1))


def _play(job: tuple[int, str | None]) -> Covered:
    """One seed in a worker process; the mutant travels by name."""
    from tests.sim.mutants import MUTANTS

    seed, name = job
    return Covered.of(run(generate(seed), seed, mutant=MUTANTS[name] if name else None))


def explore(
    seeds: Iterable[int],
    *,
    mutant: Any = None,
    tally: Tally | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    processes: int | None = None,
) -> Failure | None:
    """Run each seed's schedule until one fails; the failure (unshrunk) or None. With more
    than one process (``workers()`` by default) and no ``on_outcome``, the seeds run in
    worker processes and the failing seed is replayed here for its full outcome."""
    tally = tally if tally is not None else Tally()
    seeds = list(seeds)
    processes = workers() if processes is None else processes
    started = time.perf_counter()
    try:
        if processes > 1 and on_outcome is None and len(seeds) > 2 * processes:
            return _explore_in_workers(seeds, mutant, tally, processes)
        for seed in seeds:
            outcome = run(generate(seed), seed, mutant=mutant)
            tally.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
            if not outcome.ok:
                return Failure(seed, outcome, mutant=mutant.name if mutant else None)
        return None
    finally:
        tally.seconds += time.perf_counter() - started


def _explore_in_workers(
    seeds: list[int], mutant: Any, tally: Tally, processes: int
) -> Failure | None:
    name = mutant.name if mutant is not None else None
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for covered in pool.imap(_play, [(seed, name) for seed in seeds], chunksize=4):
            tally.add(covered)
            if not covered.ok:
                pool.terminate()
                outcome = run(generate(covered.seed), covered.seed, mutant=mutant)
                return Failure(covered.seed, outcome, mutant=name)
    return None


def shrink(failure: Failure, *, mutant: Any = None, budget: int = 300) -> Schedule:
    """The smallest schedule found (removing chunks of steps, then single steps) on which
    the seed still breaks one of the same invariants; at most ``budget`` runs."""
    target = failure.invariants
    schedule = failure.outcome.schedule
    steps = list(schedule.steps)
    runs = 0

    def still_fails(candidate: list[Step]) -> bool:
        nonlocal runs
        runs += 1
        outcome = run(schedule.with_steps(candidate), failure.seed, mutant=mutant)
        return bool({v.invariant for v in outcome.violations} & target)

    chunk = max(1, len(steps) // 2)
    while chunk >= 1 and runs < budget:
        i = 0
        removed = False
        while i < len(steps) and runs < budget:
            candidate = steps[:i] + steps[i + chunk :]
            if candidate != steps and still_fails(candidate):
                steps = candidate
                removed = True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    return schedule.with_steps(steps)
