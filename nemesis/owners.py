"""Ownership-aware partitions: every owner of a key cut off, so its writes land on fallbacks only.

``start-owners`` asks a node (the system's ``preflist``: after joins the ring is the one the
cluster agreed on, so the harness asks rather than recomputes) for the owners of a probe
key, and isolates each owner from every other node: owners reach no one, not even each
other, while the other nodes still talk among themselves. Every key those nodes own
together (about one in C(n, N) keys) is then writable only through a non-owner coordinator
and only onto fallbacks, with hints; its data comes back to its owners only by hinted
hand-off (or anti-entropy) after the heal.

``owners:flapping`` heals and cuts again every 1 to 2 s (the run's rng chooses) until
``stop-owners``, so hand-off starts while a cut can come back any moment: deliveries time
out halfway and must be retried, not counted done. ``owners:lossy`` flaps the same way but
its "heal" is packet loss aimed at hand-off traffic: the other nodes (the fallbacks) drop
half of what they send to the owners (iptables' ``statistic`` match in ``DH-LOSS``), so
the failure detector sees owners come and go while deliveries time out. ``owners:steady``
holds the cut.

The rules are the partition nemesis's (the ``DH-PARTITION`` chain, so ``owners`` and
``partition`` are not composed); the grudge each cut enforces is recorded in the op.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nemesis import grudges, iptables
from nemesis.base import NemesisError, Op, each
from nemesis.partition import PartitionNemesis
from nemesis.spec import OWNER_MODES as MODES

if TYPE_CHECKING:
    from nemesis.protocol import NemesisContext

log = logging.getLogger("nemesis")

FLAP = (1.0, 2.0)
"""Seconds between a flapping cut's heals and cuts, drawn uniformly."""
LOSS = 0.5
"""What share of the fallbacks' packets to the owners ``lossy`` drops between cuts."""


def owners_grudge(owners: Sequence[str], nodes: Sequence[str]) -> dict[str, list[str]]:
    """Each owner alone: it drops every other node, and every node drops it."""
    components = [[o] for o in owners] + [[n for n in nodes if n not in owners]]
    return grudges.as_value(grudges.complete([c for c in components if c]))


def ask_owners(who: str, system: Any, cluster: Any, key: str, asked: str) -> list[str]:
    """``key``'s owners as node ``asked`` names them (the system's ``preference_list``, so
    joins and ``--partitions`` are the node's own view); ``NemesisError`` if it names none
    or names nodes this cluster does not have. ``who`` names the nemesis in the error."""
    address = system.endpoint(cluster, asked)
    owners: Any = asyncio.run(system.preference_list(address, key))
    if not owners:
        raise NemesisError(f"{who}: {asked} named no owners of {key!r}")
    unknown = [o for o in owners if o not in cluster.nodes]
    if unknown:
        raise NemesisError(f"{who}: {asked} named nodes not in this cluster: {unknown}")
    return list(owners)


class OwnersNemesis(PartitionNemesis):
    name = "owners"
    fs = frozenset({"start-owners", "stop-owners"})
    requires = frozenset({"owners"})

    def __init__(self, modes: Sequence[str] = MODES) -> None:
        super().__init__(())
        self.modes = tuple(modes)
        self.pending: Op | None = None
        self._stop = threading.Event()
        self._flapper: threading.Thread | None = None
        self.flips = 0
        self.lossy_used = False

    def setup(self, ctx: NemesisContext) -> None:
        if not ctx.system.capabilities.owners:
            raise NemesisError(f"owners: {ctx.system.name!r} cannot say who owns a key")
        super().setup(ctx)

    def next_op(self, rng: random.Random) -> Op | None:
        if self.pending is not None:
            op = {"f": "stop-owners", "value": self.pending["value"]}
            self.pending = None
            return op
        if len(self.nodes) < 2:
            return None
        value = {
            "key": f"owners-probe-{rng.getrandbits(32):08x}",
            "asked": rng.choice(self.nodes),
            "mode": rng.choice(self.modes),
            "seed": rng.getrandbits(32),
        }
        self.pending = {"f": "start-owners", "value": value}
        return dict(self.pending)

    def invoke(self, op: Op) -> Op:
        f, value = op["f"], dict(op["value"])
        if f == "start-owners":
            owners = self._owners(value["key"], value["asked"])
            grudge = owners_grudge(owners, self.nodes)
            self._enforce(grudge)
            value.update(nodes=owners, grudge=grudge)
            if value["mode"] in ("flapping", "lossy"):
                lossy = value["mode"] == "lossy"
                self._flap(grudge, owners, random.Random(value["seed"]), lossy=lossy)
            if self.pending is not None:
                self.pending = {"f": f, "value": value}
            return {**op, "value": value}
        if f == "stop-owners":
            self._halt()
            self._enforce({})
            if self.lossy_used:
                each(self.cluster.nodes, lambda node: self._lose(node, []))
            return {**op, "value": {**value, "flips": self.flips}}
        raise NemesisError(f"owners: cannot do {f!r}")

    def heal_ops(self) -> list[Op]:
        if self.pending is None:
            return []
        op = {"f": "stop-owners", "value": self.pending["value"]}
        self.pending = None
        return [op]

    def teardown(self) -> None:
        self._halt()
        if self.ctx is not None and self.lossy_used:
            each(
                self.cluster.nodes,
                lambda node: self.cluster.remote(node).run_shell(
                    iptables.remove(iptables.LOSS), timeout=30
                ),
            )
        super().teardown()

    def _lose(self, node: str, to: Sequence[str]) -> None:
        cluster = self.cluster
        body = iptables.lose_to([cluster.addresses[o] for o in to], LOSS) if to else []
        cluster.remote(node).run_shell(
            iptables.rules(iptables.LOSS, cluster.control_address, body), timeout=30
        )

    def _owners(self, key: str, asked: str) -> list[str]:
        return ask_owners(self.name, self.context.system, self.cluster, key, asked)

    def _flap(
        self, grudge: dict[str, list[str]], owners: list[str], rng: random.Random, *, lossy: bool
    ) -> None:
        self._stop.clear()
        self.flips = 0
        self.lossy_used |= lossy
        others = [n for n in self.nodes if n not in owners]

        def loss(on: bool) -> None:
            each(others, lambda node: self._lose(node, owners if on else []))

        def loop() -> None:
            cut = True
            while not self._stop.wait(rng.uniform(*FLAP)):
                cut = not cut
                try:
                    if lossy and not cut:
                        loss(True)
                    self._enforce(grudge if cut else {})
                    if lossy and cut:
                        loss(False)
                    self.flips += 1
                except Exception as e:  # the next flip or the stop tries again
                    log.error("owners: flip failed: %s", e)

        self._flapper = threading.Thread(target=loop, name="owners-flap", daemon=True)
        self._flapper.start()

    def _halt(self) -> None:
        self._stop.set()
        if self._flapper is not None:
            self._flapper.join(timeout=60)
            self._flapper = None
