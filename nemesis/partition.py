"""Partitions: a grudge per ``start-partition``, enforced by iptables on every node.

Each node drops what arrives from the addresses of the nodes its grudge names (their
cluster addresses: never the control host's). ``stop-partition`` empties every node's
chain; teardown removes the chain and its hook.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from nemesis import grudges, iptables
from nemesis.base import Bound, NemesisError, Op, each
from nemesis.spec import PARTITION_KINDS

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext

GrudgeMaker = Callable[[Sequence[str]], grudges.Grudge]

MAKERS: dict[str, GrudgeMaker] = {
    "one": grudges.isolate,
    "halves": grudges.halves,
    "majority": grudges.majority_minority,
    "ring": grudges.majorities_ring,
    "bridge": grudges.bridge,
}
FEWEST_NODES = {"one": 2, "halves": 2, "majority": 3, "ring": 4, "bridge": 3}


def usable(kinds: Sequence[str], n: int) -> list[str]:
    """The kinds that cut something in a cluster of ``n`` nodes."""
    return [k for k in kinds if n >= FEWEST_NODES[k]]


def plan_grudge(kind: str, nodes: Sequence[str], rng: random.Random) -> dict[str, list[str]]:
    """A ``kind`` partition of ``nodes`` in a random order, as the history records it."""
    order = rng.sample(sorted(nodes), len(nodes))
    return grudges.as_value(MAKERS[kind](order))


class PartitionNemesis(Bound):
    name = "partition"
    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, kinds: Sequence[str] = PARTITION_KINDS) -> None:
        super().__init__()
        self.kinds = tuple(kinds)
        self.active: dict[str, list[str]] | None = None

    def setup(self, ctx: NemesisContext) -> None:
        self.bind(ctx)
        self._enforce({})  # also clears a chain an earlier, killed run left

    def next_op(self, rng: random.Random) -> Op | None:
        if self.active is not None:
            return self._stop()
        kinds = usable(self.kinds, len(self.nodes))
        if not kinds:
            return None
        self.active = plan_grudge(rng.choice(kinds), self.nodes, rng)
        return {"f": "start-partition", "value": self.active}

    def _stop(self) -> Op:
        op = {"f": "stop-partition", "value": self.active}
        self.active = None
        return op

    def invoke(self, op: Op) -> Op:
        if op["f"] == "start-partition":
            self._enforce(op["value"])
        elif op["f"] == "stop-partition":
            self._enforce({})
        else:
            raise NemesisError(f"partition: cannot do {op['f']!r}")
        return op

    def heal_ops(self) -> list[Op]:
        return [] if self.active is None else [self._stop()]

    def teardown(self) -> None:
        if self.ctx is None:
            return
        each(self.cluster.nodes, self._remove)

    def _enforce(self, grudge: Mapping[str, Sequence[str]]) -> None:
        cluster = self.cluster
        addresses = cluster.addresses
        if cluster.control_address is not None and cluster.control_address in {
            addresses[p] for drops in grudge.values() for p in drops
        }:
            raise NemesisError("a grudge must never cut the control host off")

        def one(node: str) -> None:
            body = iptables.drop_from([addresses[p] for p in grudge.get(node, ())])
            cmd = iptables.rules(iptables.PARTITION, cluster.control_address, body)
            cluster.remote(node).run_shell(cmd, timeout=30)

        each(cluster.nodes, one)

    def _remove(self, node: str) -> None:
        self.cluster.remote(node).run_shell(iptables.remove(iptables.PARTITION), timeout=30)
