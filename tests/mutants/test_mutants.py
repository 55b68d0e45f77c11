"""Every mutant is caught by its preset (harness exit 1) and the real node passes it (exit 0).

Each case is two real runs on a namespace cluster (about two minutes each on two cores), so
the suite is ``slow``: ``flock /tmp/dh-cluster.lock .venv/bin/pytest -m "netns and slow"
tests/mutants``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mutants.run import MUTANTS, main

pytestmark = [pytest.mark.netns, pytest.mark.slow]


CASES = [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=m.gap) if m.gap else ())
    for name, m in sorted(MUTANTS.items())
]


@pytest.mark.parametrize("name", CASES)
def test_the_mutant_is_caught_and_the_real_node_passes(name: str, tmp_path: Path) -> None:
    common = [name, "--cluster", "mut", "--store", str(tmp_path)]
    assert main(common) == 1, f"{name} was not caught: {MUTANTS[name].bug}"
    assert main([*common, "--control"]) == 0
