"""Checkers: pure functions of a history. History in, verdict out — no I/O, no clock.

Each checker is a small protocol, ``check(history, test) -> Result``, whose verdict is
``True``, ``False`` or ``"unknown"``; ``compose`` runs several as one (false beats
unknown beats true) and ``for_test`` picks them for a workload. The package leans on
nothing but the history (``checkers.history`` reads and validates it); the harness
calls it, never the other way round. Layers, bottom up: ``history`` (ops) → ``calls``
and ``faults`` (invoke/completion pairs, fault windows) → one module per checker.
"""

from collections.abc import Mapping
from typing import Any

from checkers.anti_entropy import AntiEntropyConvergence
from checkers.availability import Availability
from checkers.causal import CausalRegister
from checkers.convergence import Convergence
from checkers.faults import Window, fault_windows
from checkers.history import History, HistoryError, load, validate
from checkers.latency import Latency
from checkers.nodes import Hints, NodeCounters
from checkers.result import (
    NOT_MEASURED,
    UNKNOWN,
    Checker,
    Compose,
    Result,
    Validity,
    compose,
    merge_validity,
)
from checkers.resurrection import Resurrection
from checkers.set_full import SetFull

DURABILITY: dict[str, type[SetFull] | type[CausalRegister]] = {
    "set": SetFull,
    "register": CausalRegister,
}


def for_test(test: Mapping[str, Any]) -> Compose:
    """The checkers for a test's workload: its durability checker (``set``, ``register``;
    none for ``kv``), then availability, latency and convergence, then the checkers of
    ops only some runs record (each says "not measured" in a run without them)."""
    durability = DURABILITY.get(str(test.get("workload", "")))
    measures: tuple[Checker, ...] = (
        Availability(),
        Latency(),
        Convergence(),
        AntiEntropyConvergence(),
        Resurrection(),
        NodeCounters(),
        Hints(),
    )
    return compose(*((durability(),) if durability else ()), *measures)


__all__ = [
    "NOT_MEASURED",
    "UNKNOWN",
    "AntiEntropyConvergence",
    "Availability",
    "CausalRegister",
    "Checker",
    "Compose",
    "Convergence",
    "Hints",
    "History",
    "HistoryError",
    "Latency",
    "NodeCounters",
    "Result",
    "Resurrection",
    "SetFull",
    "Validity",
    "Window",
    "compose",
    "fault_windows",
    "for_test",
    "load",
    "merge_validity",
    "validate",
]
