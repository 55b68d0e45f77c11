"""Workloads: what clients do, as ops, and the adapter that turns an op into client calls.

Leans on ``systems.base`` (the abstract operations) and ``systems.errors`` only.
"""

from __future__ import annotations

from workloads.base import Op, WorkerState, Workload, failed
from workloads.kv import KvWorkload
from workloads.register import RegisterWorkload
from workloads.sets import SetWorkload

__all__ = [
    "KvWorkload",
    "Op",
    "RegisterWorkload",
    "SetWorkload",
    "WorkerState",
    "Workload",
    "build",
    "failed",
]


def build(name: str, keys: int | None = None) -> Workload:
    """The workload called ``name`` with ``keys`` keys (or its default)."""
    kinds: dict[str, type] = {"set": SetWorkload, "register": RegisterWorkload, "kv": KvWorkload}
    if name not in kinds:
        raise ValueError(f"unknown workload {name!r}; choose from {', '.join(kinds)}")
    return kinds[name]() if keys is None else kinds[name](keys)
