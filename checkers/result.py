"""The checker protocol, its result, and composition.

A checker is anything with a ``name`` and ``check(history, test) -> Result``. Verdicts
are ``True``, ``False`` or ``"unknown"``; combined, false beats unknown beats true. A
checker whose ops the history lacks says ``"not measured"``, which a combined verdict
leaves out: never invalid, never a valid it did not earn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from checkers.history import Op, as_history

Validity = bool | Literal["unknown", "not measured"]
UNKNOWN: Literal["unknown"] = "unknown"
NOT_MEASURED: Literal["not measured"] = "not measured"

MAX_LISTED = 1000
"""How many records of one anomaly class a result lists; its ``*_count`` stays exact."""


@dataclass(frozen=True)
class Result:
    """One checker's verdict, what it found (``details``), and any nested results."""

    name: str
    valid: Validity
    details: dict[str, Any] = field(default_factory=dict)
    results: tuple[Result, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "valid": self.valid, **self.details}
        if self.results:
            out["results"] = {r.name: r.to_dict() for r in self.results}
        return out

    def find(self, name: str) -> Result | None:
        """This result or the nested one called ``name``."""
        if self.name == name:
            return self
        for r in self.results:
            if (hit := r.find(name)) is not None:
                return hit
        return None


@runtime_checkable
class Checker(Protocol):
    name: str

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result: ...


def merge_validity(verdicts: Iterable[Validity]) -> Validity:
    """False beats unknown beats true; "not measured" counts for nothing; nothing to
    judge is true."""
    seen = set(verdicts) - {NOT_MEASURED}
    if False in seen:
        return False
    if UNKNOWN in seen:
        return UNKNOWN
    return True


def verdict(anomalies: int, undecided: int = 0) -> Validity:
    """False when any anomaly was found, else unknown when something could not be judged."""
    if anomalies:
        return False
    return UNKNOWN if undecided else True


def not_measured(name: str, missing: str) -> Result:
    """The result of a checker whose ops the history lacks (``missing`` says which)."""
    return Result(name, NOT_MEASURED, {"not_measured": f"no {missing} in the history"})


def listed(name: str, records: Sequence[Any]) -> dict[str, Any]:
    """``{name: first MAX_LISTED records, name_count: how many}``."""
    return {name: list(records[:MAX_LISTED]), f"{name}_count": len(records)}


@dataclass(frozen=True)
class Compose:
    """Several checkers as one: each runs on the same history; one nested result each.

    A checker that raises gives an ``"unknown"`` result naming the error instead of
    losing the verdicts of the others.
    """

    checkers: tuple[Checker, ...]
    name: str = "all"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        shared = as_history(history)
        results = tuple(_check_safely(c, shared, test) for c in self.checkers)
        return Result(self.name, merge_validity(r.valid for r in results), results=results)


def compose(*checkers: Checker, name: str = "all") -> Compose:
    return Compose(tuple(checkers), name)


def _check_safely(checker: Checker, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
    try:
        return checker.check(history, test)
    except Exception as e:  # a broken checker must not hide the others' verdicts
        return Result(checker.name, UNKNOWN, {"error": f"{type(e).__name__}: {e}"})
