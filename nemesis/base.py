"""What every nemesis shares: per-node work in parallel that tries every node, and its error."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # types only: at run time a nemesis is handed its context
    from harness.cluster import Cluster
    from nemesis.protocol import NemesisContext

log = logging.getLogger("nemesis")

T = TypeVar("T")
Op = dict[str, Any]


class NemesisError(Exception):
    """A fault could not be injected or healed on some nodes (each named, with why)."""


def each(nodes: Sequence[str], fn: Callable[[str], T]) -> dict[str, T]:
    """``fn(node)`` for every node in parallel; all are tried, then every failure is raised.

    Unlike ``harness.remote.on_all`` it keeps connections open on a failure: healing one
    node must not stop because another could not be reached.
    """
    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=len(nodes), thread_name_prefix="nemesis") as pool:
        futures = {n: pool.submit(fn, n) for n in nodes}
    done: dict[str, T] = {}
    failed: list[str] = []
    for n, f in futures.items():
        e = f.exception()
        if e is None:
            done[n] = f.result()
        else:
            failed.append(f"{n}: {e}")
    if failed:
        raise NemesisError("; ".join(failed))
    return done


def heal_all(steps: Sequence[Callable[[], object]]) -> None:
    """Run every step even when earlier ones fail; then raise the failures together."""
    failed = []
    for step in steps:
        try:
            step()
        except Exception as e:
            log.error("heal step failed: %s", e)
            failed.append(str(e))
    if failed:
        raise NemesisError("; ".join(failed))


class Bound:
    """The nodes a nemesis plans over and, once set up, the cluster it acts on."""

    powerfs = False
    """The nodes' data directories must be powerfs mounts (``nemesis.power``)."""
    requires: frozenset[str] = frozenset()
    """The system capabilities this nemesis needs (``nemesis.protocol.Nemesis.requires``)."""

    def __init__(self) -> None:
        self.nodes: list[str] = []
        self.ctx: NemesisContext | None = None

    def plan(self, nodes: Sequence[str]) -> None:
        """Fix the nodes ``next_op`` chooses from (``setup`` does this; tests do it alone)."""
        self.nodes = sorted(nodes)

    def bind(self, ctx: NemesisContext) -> None:
        self.ctx = ctx
        self.plan(ctx.cluster.nodes)

    @property
    def context(self) -> NemesisContext:
        if self.ctx is None:
            raise NemesisError("the nemesis acts only after setup")
        return self.ctx

    @property
    def cluster(self) -> Cluster:
        return self.context.cluster

    def host_env(self, node_dir: str) -> str:
        """Shell printing ``KEY=value`` lines the node must start with; most faults need none."""
        return ""
