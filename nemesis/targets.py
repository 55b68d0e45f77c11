"""Target specs: which nodes a fault hits (``one``, ``minority``, ``majority``, ``all``)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from nemesis.grudges import majority

SPECS = ("one", "minority", "majority", "all")


def size(spec: str, n: int) -> int:
    """How many of ``n`` nodes ``spec`` names (0 when it names none, e.g. a minority of 2)."""
    sizes = {"one": 1, "minority": (n - 1) // 2, "majority": majority(n), "all": n}
    if spec not in sizes:
        raise ValueError(f"unknown target {spec!r}; choose from {', '.join(SPECS)}")
    return min(n, max(0, sizes[spec]))


def pick(spec: str, nodes: Sequence[str], rng: random.Random) -> list[str]:
    """A random set of nodes of the size ``spec`` names, sorted."""
    return sorted(rng.sample(sorted(nodes), size(spec, len(nodes))))
