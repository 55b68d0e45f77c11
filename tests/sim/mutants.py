"""Broken nodes the simulator must catch: each a small patch applied in the simulation only.

A mutant is a realistic bug of the node, written as a patch around the node's own code
(wrapping or replacing one function, or one setting), never a copy of it, so the mutant
follows the node as it changes. ``tests/sim/test_mutants.py`` runs each through the
simulator and requires it caught; ``docs/simulation.md`` lists the seed that caught it and
how many schedules that took.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Mutant:
    name: str
    bug: str
    patch: Callable[[], AbstractContextManager[None]]
    settings: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _unpatched() -> Iterator[None]:
    yield


def _ack_before_fsync() -> Mutant:
    return Mutant(
        "ack-before-fsync",
        "the storage resolves a put as soon as it is queued, before its fsync "
        "(the node's --buffered write buffer, on by mistake)",
        _unpatched,
        {"buffered": True},
    )


MUTANTS: dict[str, Mutant] = {m.name: m for m in (_ack_before_fsync(),)}
