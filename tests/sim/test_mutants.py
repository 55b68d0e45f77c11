"""The simulator's teeth: every mutant of ``tests.sim.mutants`` is caught, by the invariant it
names, within a bounded search from seed 0 — and the correct node passes the same seeds.

A mutant that needs more than ``BOUND`` schedules would make this slow; such a mutant is
listed in ``KNOWN`` with a seed that catches it, and only that seed is played (against the
mutant and the correct node). ``docs/simulation.md`` has the table of seeds and counts.
"""

from __future__ import annotations

import pytest

from tests.sim.explore import SUMMARY, explore
from tests.sim.invariants import NAMES
from tests.sim.mutants import MUTANTS

BOUND = 30
"""Seeds searched, from 0, for each mutant not in ``KNOWN``."""
KNOWN: dict[str, int] = {"stray-copy-kept": 388}
"""Mutants caught only past ``BOUND``: a seed known to catch each (388: the regression seed
of the stray copy a join left, ``docs/simulation.md``)."""


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_simulator_catches_the_mutant_by_its_invariant(name: str) -> None:
    mutant = MUTANTS[name]
    seeds = [KNOWN[name]] if name in KNOWN else range(BOUND)
    failure = explore(seeds, mutant=mutant)
    assert failure is not None, f"{name} held every invariant on seeds {seeds}"
    assert mutant.caught_by in failure.invariants, failure.report()
    passed = [failure.seed] if name in KNOWN else range(failure.seed + 1)
    correct = explore(passed)
    assert correct is None, correct.report()
    SUMMARY.append(
        f"mutant {name}: caught by {mutant.caught_by} on seed {failure.seed}"
        + ("" if name in KNOWN else f" ({failure.seed + 1} schedules from seed 0)")
    )


def test_every_mutant_names_an_invariant_and_a_bug() -> None:
    for mutant in MUTANTS.values():
        assert mutant.caught_by in NAMES, mutant.name
        assert mutant.bug


def test_a_mutant_patch_is_undone_when_its_run_ends() -> None:
    from dynamo import coordinator, entropy, handoff, merkle, node, tombstones

    modules = (coordinator, entropy, handoff, merkle, node, tombstones)
    before = [dict(vars(m)) for m in modules]
    for mutant in MUTANTS.values():
        with mutant.patch():
            pass
    assert [dict(vars(m)) for m in modules] == before
