"""Convergence: how long after the last heal until every replica of every key agreed.

Samples are ops of process ``convergence`` (``f`` ``read-local``): what one node holds
locally for one key, compared as a set of versions; a ``fail`` sample counts as
disagreeing. Only samples from the last heal on count (from the first sample when the
run had no faults). A key's replicas are the nodes sampled for it after the heal. The
replicas converged at the sample after which every replica of every key has been
sampled and each key's latest samples agree; convergence time is that minus the heal.

Verdict: true when the replicas converged or there were no samples (the time is then
None); ``"unknown"`` when the samples end with replicas still disagreeing — convergence
is a liveness property, and a finite history cannot show it will never happen. Bound
it in CI with ``--expect convergence.diverged==0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers.calls import calls
from checkers.faults import fault_windows, final_heal
from checkers.history import Op
from checkers.result import UNKNOWN, Result, listed
from checkers.stats import NS

FAILED = object()


def state(op: Op) -> object:
    """One sample's versions as a comparable set; a failed sample is ``FAILED``."""
    if op["type"] != "ok":
        return FAILED
    value = op.get("value")
    items = value if isinstance(value, list) else [value]
    return frozenset(repr(v) if isinstance(v, list | dict) else v for v in items)


@dataclass(frozen=True)
class Convergence:
    name: str = "convergence"

    def check(self, history: Sequence[Op], test: Mapping[str, Any]) -> Result:
        samples = calls(history).samples
        heal = final_heal(fault_windows(history))
        if heal is None and samples:
            heal = samples[0]["time"]
        used = [op for op in samples if heal is not None and op["time"] >= heal]
        replicas: dict[object, set[object]] = {}
        for op in used:
            replicas.setdefault(op.get("key"), set()).add(op.get("node"))
        held: dict[object, dict[object, object]] = {key: {} for key in replicas}
        disagreeing = set(replicas)
        converged_at: int | None = None
        for op in used:
            key = op.get("key")
            states = held[key]
            states[op.get("node")] = state(op)
            agreed = len(states) == len(replicas[key]) and len(set(states.values())) == 1
            if agreed and FAILED not in states.values():
                disagreeing.discard(key)
            else:
                disagreeing.add(key)
            if disagreeing:
                converged_at = None
            elif converged_at is None:
                converged_at = op["time"]
        details: dict[str, Any] = {
            "samples": len(used),
            "keys": len(held),
            "heal": heal if used else None,
            "converged": (converged_at is not None) if used else "unknown",
            "converged_at": converged_at,
            "time": (converged_at - heal) * NS
            if converged_at is not None and heal is not None
            else None,
            **listed("diverged", sorted(disagreeing, key=str)),
        }
        return Result(self.name, UNKNOWN if disagreeing else True, details)
