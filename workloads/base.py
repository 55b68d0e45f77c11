"""What every workload shares: the protocol, per-worker state, and error classification.

A workload makes invocations (``next_op``) and performs them with a client bound to one
node (``invoke``), returning the completion's fields. The runner stamps index, time,
process and node, and writes both to the history. Workloads call only the abstract
operations of ``systems.base`` and say which they need (``operations``): a system whose
client lacks one cannot run the workload.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from systems.errors import CallError, describe

Op = dict[str, Any]


@dataclass
class WorkerState:
    """What one worker remembers between its ops: the last context it read, per key."""

    contexts: dict[str, tuple[str, list[str]]] = field(default_factory=dict)


class Workload(Protocol):
    name: str
    operations: frozenset[str]

    def next_op(self, rng: random.Random, state: WorkerState) -> Op:
        """The next invocation: ``f``, ``key``, ``value`` and, for writes, ``context``."""

    async def invoke(self, client: Any, op: Op, state: WorkerState) -> Op:
        """Perform ``op``; return ``type`` (ok/fail/info) and the completion's fields."""

    def final_keys(self) -> list[str]:
        """Keys the final-read phase reads from every node."""

    async def read_local(self, client: Any, key: str) -> list[Any]:
        """One node's own copy of ``key``, as a read records it (convergence checks)."""

    def final_read(self, key: str) -> Op:
        """The invocation of one final read."""


def failed(e: BaseException) -> Op:
    """Completion for an exception: ``fail`` only when the request certainly had no effect."""
    definite = isinstance(e, CallError) and e.definite
    return {"type": "fail" if definite else "info", "error": describe(e)}


def zipf_weights(n: int, s: float = 0.99) -> list[float]:
    """Cumulative weights of a zipfian distribution over ``n`` ranks (YCSB's constant)."""
    total, cum = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank**s
        cum.append(total)
    return cum
