"""Packet loss: chosen nodes drop each packet they send to another node with probability p.

iptables' ``statistic`` match in our own ``DH-LOSS`` chain on OUTPUT, so it is egress
loss, as ``tc netem loss`` on the node's interface would be (netem, and so delay or
reordering faults, is not available on these machines). A counting rule before each drop
rule measures what was sent; ``stop-loss`` records the packets counted and dropped, so the
history shows the loss that really happened beside the one asked for.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nemesis import iptables
from nemesis import targets as targeting
from nemesis.base import Bound, NemesisError, Op, each
from nemesis.spec import DEFAULT_PROBABILITY
from nemesis.targets import SPECS

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext


class LossNemesis(Bound):
    name = "loss"
    fs = frozenset({"start-loss", "stop-loss"})

    def __init__(
        self, targets: Sequence[str] = SPECS, probability: float = DEFAULT_PROBABILITY
    ) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self.probability = probability
        self.active: list[str] | None = None

    def setup(self, ctx: NemesisContext) -> None:
        self.bind(ctx)
        each(self.nodes, lambda node: self._fill(node, []))

    def next_op(self, rng: random.Random) -> Op | None:
        if self.active is not None:
            return self._stop()
        chosen = targeting.pick(rng.choice(self.targets), self.nodes, rng)
        if not chosen:
            return None
        self.active = chosen
        return {"f": "start-loss", "value": {"nodes": chosen, "probability": self.probability}}

    def _stop(self) -> Op:
        op = {"f": "stop-loss", "value": {"nodes": self.active, "probability": self.probability}}
        self.active = None
        return op

    def invoke(self, op: Op) -> Op:
        f, value = op["f"], op["value"]
        cluster = self.cluster
        if f == "start-loss":
            p = value["probability"]

            def start(node: str) -> None:
                peers = [cluster.addresses[n] for n in cluster.nodes if n != node]
                self._fill(node, iptables.lose_to(peers, p))

            each(value["nodes"], start)
            return op
        if f != "stop-loss":
            raise NemesisError(f"loss: cannot do {f!r}")
        counts = each(value["nodes"], self._drain)
        packets = sum(sent for sent, _ in counts.values())
        dropped = sum(lost for _, lost in counts.values())
        return {**op, "value": {**value, "packets": packets, "dropped": dropped}}

    def heal_ops(self) -> list[Op]:
        return [] if self.active is None else [self._stop()]

    def teardown(self) -> None:
        if self.ctx is None:
            return
        cluster = self.cluster
        each(
            cluster.nodes,
            lambda node: cluster.remote(node).run_shell(iptables.remove(iptables.LOSS), timeout=30),
        )

    def _fill(self, node: str, body: list[str]) -> None:
        cluster = self.cluster
        cmd = iptables.rules(iptables.LOSS, cluster.control_address, body)
        cluster.remote(node).run_shell(cmd, timeout=30)

    def _drain(self, node: str) -> tuple[int, int]:
        """Read the node's counters, then stop its loss: (packets sent to peers, dropped)."""
        remote = self.cluster.remote(node)
        out = remote.run_shell(iptables.counters(iptables.LOSS), timeout=30).stdout
        self._fill(node, [])
        return iptables.parse_loss_counters(out)
